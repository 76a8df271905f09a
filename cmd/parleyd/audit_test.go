package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestAuditCommand: "parleyd audit verify" checks a store offline (and refuses a directory with none) and
// "audit export" refuses a --since that is not RFC 3339.
func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "--data", dir}, &out, &out); err == nil {
		t.Fatal("verify of a directory with no store: no error")
	}
	if err := run(ctx, []string{"migrate", "--data", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--data", dir}, &out, &out); err != nil || !strings.Contains(out.String(), "0 entries, chain intact") {
		t.Fatalf("verify: %v, %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "export", "--data", dir, "--since", "2026-01-01T00:00:00Z"}, &out, &out); err != nil || out.Len() != 0 {
		t.Errorf("export of an empty log: %v, %q", err, out.String())
	}
	if err := run(ctx, []string{"audit", "export", "--data", dir, "--since", "yesterday"}, &out, &out); err == nil {
		t.Error("export --since yesterday: no error")
	}
	if err := run(ctx, []string{"audit"}, &out, &out); err == nil {
		t.Error("audit without a command: no error")
	}
}
