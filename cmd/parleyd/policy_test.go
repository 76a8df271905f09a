package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/internal/policy"
	"parley.dev/server"
)

// TestPolicyCommands: policy-key, sign, show and publish; an older
// version is refused, and a tampered file does not verify.
func TestPolicyCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "pk")
	if err := run(ctx, []string{"policy-key", "--out", prefix}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "policy.json")
	write := func(version string) {
		os.Remove(in)
		os.WriteFile(in, []byte(`{"version":`+version+`,"min_pin_digits":8,"default_timer_seconds":86400,
			"max_timer_seconds":86400,"attachments":true,"linking":false,"screenshots":false,"backups":false}`), 0o600)
	}
	write("3")
	signed := filepath.Join(dir, "v3.signed")
	if err := run(ctx, []string{"policy", "sign", "--key", prefix + ".key", "--in", in, "--out", signed}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"policy", "show", "--pub", prefix + ".pub", signed}, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "version 3") || !strings.Contains(out.String(), "signature verified") {
		t.Fatalf("show: %v\n%s", err, out.String())
	}
	doc, _ := os.ReadFile(signed)
	doc[len(doc)-1] ^= 1
	tampered := filepath.Join(dir, "tampered")
	os.WriteFile(tampered, doc, 0o600)
	if err := run(ctx, []string{"policy", "show", "--pub", prefix + ".pub", tampered}, io.Discard, io.Discard); !errors.Is(err, policy.ErrSignature) {
		t.Fatalf("tampered policy: %v", err)
	}
	data := filepath.Join(dir, "data")
	out.Reset()
	if err := run(ctx, []string{"policy", "publish", "--data", data, "--in", signed}, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "version 3") {
		t.Fatalf("publish: %v %s", err, out.String())
	}
	write("2")
	older := filepath.Join(dir, "v2.signed")
	if err := run(ctx, []string{"policy", "sign", "--key", prefix + ".key", "--in", in, "--out", older}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"policy", "publish", "--data", data, "--in", older}, io.Discard, io.Discard); !errors.Is(err, server.ErrPolicyStale) {
		t.Fatalf("publishing an older version: %v", err)
	}
	for _, args := range [][]string{{"policy"}, {"policy", "nope"}, {"policy", "sign", "--in", in}, {"policy-key", "x"}} {
		if err := run(ctx, args, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
