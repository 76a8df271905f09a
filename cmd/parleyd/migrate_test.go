package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/internal/store"
	"parley.dev/server"
)

// TestMigrateCommand: "parleyd migrate" migrates once and then reports
// nothing to do; a relay started with --migrate=false refuses a database
// that was not migrated and runs on one that was.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "fresh")
	err := run(ctx, []string{"--dev", "--data", fresh, "--listen", "127.0.0.1:0", "--migrate=false"}, io.Discard, io.Discard)
	if !errors.Is(err, store.ErrSchemaBehind) {
		t.Fatalf("relay with --migrate=false on a fresh database: %v, want ErrSchemaBehind", err)
	}

	dir := filepath.Join(t.TempDir(), "pd")
	t.Setenv("PARLEY_DATA", dir) // the environment twin works for migrate too
	want := []string{
		fmt.Sprintf("parleyd: schema migrated from version 0 to %d\n", store.SchemaVersion()),
		fmt.Sprintf("parleyd: schema already at version %d\n", store.SchemaVersion()),
	}
	for _, w := range want {
		var out bytes.Buffer
		if err := run(ctx, []string{"migrate"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if out.String() != w {
			t.Errorf("migrate said %q, want %q", out.String(), w)
		}
	}
	p := startRun(t, "--dev", "--listen", "127.0.0.1:0", "--migrate=false")
	if code, _ := get(t, trusting(t, filepath.Join(dir, server.DevCAFile), 0), p.url+"/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}

	if err := run(ctx, []string{"migrate", "extra"}, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("migrate with an argument: %v, want a usage error", err)
	}
}

func TestNATSNeedsPostgres(t *testing.T) {
	_, err := parseFlags([]string{"--dev", "--nats", "nats://127.0.0.1:4222"}, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("--nats on SQLite: %v, want a usage error", err)
	}
}
