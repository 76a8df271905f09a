package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/server"
)

// TestAuditLogOfflineDetectsEdit: the audit log verifies offline on the
// relay's SQLite file, exports from a time on, and one byte edited in one
// entry makes verify fail.
func TestAuditLogOfflineDetectsEdit(t *testing.T) {
	r := startRelay(t)
	register(t, r, "alice")
	register(t, r, "bob")
	adm, err := r.Server.Admin()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range []func(context.Context, string) error{adm.Suspend, adm.Resume, adm.Suspend} {
		if err := f(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	r.Stop(t)

	off := &server.Server{DataDir: r.Dir}
	n, err := off.VerifyAudit(ctx)
	if err != nil || n < 3 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	var out bytes.Buffer
	if m, err := off.ExportAudit(ctx, time.Time{}, &out); err != nil || int64(m) != n {
		t.Fatalf("export: %d entries, %v; want %d", m, err, n)
	}
	var got []server.AuditEntry
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var e server.AuditEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if none, err := off.ExportAudit(ctx, time.Now().Add(time.Hour), &bytes.Buffer{}); err != nil || none != 0 {
		t.Errorf("export since the future: %d entries, %v", none, err)
	}

	db, err := sql.Open("sqlite3", filepath.Join(r.Dir, "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	// one byte: "user.suspend" becomes "user.suspenD" in the middle entry
	if _, err := db.Exec(`UPDATE audit_log SET kind = 'user.suspenD' WHERE seq = ?`, got[len(got)-3].Seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := off.VerifyAudit(ctx); !errors.Is(err, audit.ErrBroken) {
		t.Errorf("verify after a one-byte edit: %v, want audit.ErrBroken", err)
	}
}
