package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/internal/blob"
	"parley.dev/internal/store"
	"parley.dev/server"
)

// TestMigrateCommand: "parleyd migrate" migrates the store and the blob
// store once and then reports nothing to do; a relay started with
// --migrate=false refuses a store or a blob store that was not migrated
// and runs on ones that were.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "fresh")
	err := run(ctx, []string{"--dev", "--data", fresh, "--listen", "127.0.0.1:0", "--migrate=false"}, io.Discard, io.Discard)
	if !errors.Is(err, store.ErrSchemaBehind) {
		t.Fatalf("relay with --migrate=false on a fresh database: %v, want ErrSchemaBehind", err)
	}

	dir := filepath.Join(t.TempDir(), "pd")
	t.Setenv("PARLEY_DATA", dir) // the environment twin works for migrate too
	// a relay's blob store is checked too: a store migrated alone is not enough
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Migrate(ctx, filepath.Join(dir, server.DatabaseFile)); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"--dev", "--listen", "127.0.0.1:0", "--migrate=false"}, io.Discard, io.Discard)
	if !errors.Is(err, blob.ErrSchemaBehind) || !strings.Contains(err.Error(), "blob") {
		t.Fatalf("relay with --migrate=false and an unmigrated blob store: %v, want the blob store's ErrSchemaBehind", err)
	}
	want := []string{
		fmt.Sprintf("parleyd: store schema already at version %d\nparleyd: blobs schema migrated from version 0 to %d\n", store.SchemaVersion(), blob.SchemaVersion()),
		fmt.Sprintf("parleyd: store schema already at version %d\nparleyd: blobs schema already at version %d\n", store.SchemaVersion(), blob.SchemaVersion()),
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
