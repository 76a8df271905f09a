package store_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// TestMigrateRekeysEnvelopes builds a version-10 SQLite database by hand
// (the first ten migrations' SQL) holding one envelope, opens it, and
// checks that migration 11's rebuild kept the envelope and its
// idempotency (resubmitting it is a duplicate with the same Seq), and that
// deleting what a user sent, as every account deletion does, now uses an
// index rather than reading every mailbox.
func TestMigrateRekeysEnvelopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v10.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/00*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, f := range files {
		if filepath.Base(f) > "0011" {
			break
		}
		ddl, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, string(ddl))
	}
	id := addr.MessageID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	qs = append(qs,
		`CREATE TABLE schema_version (version BIGINT NOT NULL)`,
		`INSERT INTO schema_version VALUES (10)`,
		`INSERT INTO users (user_id, identity, created, last_device) VALUES ('bob', x'01', 0, 1)`,
		`INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued) VALUES ('bob', 1, x'02', x'03', 0, 7, 1)`,
		`INSERT INTO envelopes VALUES ('bob', 1, 7, 'alice', 1, x'0102030405060708090a0b0c0d0e0f10', 1, 0, 253402300799000000, x'cafe', 0)`,
	)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()
	ctx := t.Context()
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bob := addr.Address{User: "bob", Device: 1}
	got, err := s.Pending(ctx, bob, 0, 10)
	if err != nil || len(got) != 1 || got[0].Seq != 7 || string(got[0].Payload) != "\xca\xfe" {
		t.Fatalf("after migrating: %v, %+v", err, got)
	}
	again := []store.Envelope{{From: addr.Address{User: "alice", Device: 1}, To: bob, ID: id, Kind: store.KindMessage, Payload: []byte{0xca, 0xfe}}}
	res, err := s.Submit(ctx, again)
	if err != nil || res[0].Err != nil || !res[0].Duplicate || res[0].Seq != 7 {
		t.Fatalf("resubmitting after migrating: %v, %+v", err, res)
	}
	var plan strings.Builder
	after, err := sql.Open("sqlite3", path) // a connection that reads the migrated schema
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	rows, err := after.Query(`EXPLAIN QUERY PLAN DELETE FROM envelopes WHERE from_user = 'alice'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var detail string
		rows.Scan(&a, &b, &c, &detail)
		plan.WriteString(detail + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "USING INDEX") {
		t.Errorf("deleting a user's sent envelopes reads every mailbox:\n%s", plan.String())
	}
}
