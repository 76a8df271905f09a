package server_test

import (
	"context"
	"database/sql"
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
	n, err := off.VerifyAuditLog(ctx)
	if err != nil || n < 3 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	var got []server.AuditEntry
	if err := off.ExportAuditLog(ctx, time.Time{}, func(e server.AuditEntry) error { got = append(got, e); return nil }); err != nil || int64(len(got)) != n {
		t.Fatalf("export: %d entries, %v; want %d", len(got), err, n)
	}
	var none int
	if err := off.ExportAuditLog(ctx, time.Now().Add(time.Hour), func(server.AuditEntry) error { none++; return nil }); err != nil || none != 0 {
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
	if _, err := off.VerifyAuditLog(ctx); !errors.Is(err, audit.ErrBroken) {
		t.Errorf("verify after a one-byte edit: %v, want audit.ErrBroken", err)
	}
}
