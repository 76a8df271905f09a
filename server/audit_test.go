package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestAuditLogRecordsAndDetectsTampering: registrations, a device link, a
// revocation and a policy change land in the audit log with no content;
// the log verifies and exports as JSON lines; one byte edited in the
// database, or one entry deleted, makes verification fail.
func TestAuditLogRecordsAndDetectsTampering(t *testing.T) {
	ctx := context.Background()
	r := servertest.Start(t)
	alice := register(t, r, "alice")
	phone := sibling(t, r, alice)
	register(t, r, "bob")
	if _, err := alice.Do("DELETE", fmt.Sprintf("/v1/users/alice/devices/%d", phone.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}
	off := &server.Server{DataDir: r.Dir}
	n, err := off.VerifyAudit(ctx)
	if err != nil || n != 4 {
		t.Fatalf("VerifyAudit = %d, %v; want 4 entries", n, err)
	}
	var out bytes.Buffer
	if _, err := off.ExportAudit(ctx, time.Time{}, &out); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		kinds = append(kinds, string(e.Kind)+" "+e.Subject)
	}
	want := []string{"register alice", "device.link alice/2", "register bob", "device.revoke alice/2"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("audit log %q, want %q", kinds, want)
	}
	if m, _ := off.ExportAudit(ctx, time.Now().Add(time.Hour), &bytes.Buffer{}); m != 0 {
		t.Fatalf("--since in the future exported %d", m)
	}
	r.Stop(t)

	db, err := sql.Open("sqlite3", filepath.Join(r.Dir, server.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tamper := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		if _, err := off.VerifyAudit(ctx); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("after %q: VerifyAudit = %v, want a break", q, err)
		}
	}
	tamper("UPDATE audit_log SET subject = 'alicf' WHERE seq = 1") // one byte
	if _, err := db.Exec("UPDATE audit_log SET subject = 'alice' WHERE seq = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := off.VerifyAudit(ctx); err != nil {
		t.Fatalf("restored entry: %v", err)
	}
	tamper("DELETE FROM audit_log WHERE seq = 2")
}
