package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"parley.dev/internal/addr"
	"parley.dev/internal/migrate"
	"parley.dev/internal/pgtest"
)

// TestMigrateGroupEntries builds a database at the version before the
// group_entries migration (10) holding group copies as envelopes rows, shared (migration 5) and
// not, between ordinary envelopes, and opens it: every copy reads back in
// Seq order with its payload, a resubmission of the migrated message is a
// duplicate, and acking every copy deletes its record. On SQLite and
// PostgreSQL.
func TestMigrateGroupEntries(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "before.db")
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testMigrateGroupEntries(t, path, db, sqliteDialect)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, db := pgtest.Schema(t)
		testMigrateGroupEntries(t, dsn, db, postgresDialect)
	})
}

// migrationsBefore is the store's migration set up to (not including)
// the one that adds group_entries (found by name, whatever its number).
func migrationsBefore(t *testing.T) migrate.Set {
	files := fstest.MapFS{}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names { // sorted
		if strings.HasSuffix(name, "_group_entries.sql") {
			break
		}
		body, _ := fs.ReadFile(migrationFS, name)
		files[name] = &fstest.MapFile{Data: body}
	}
	set := migrations
	set.Files = files
	return set
}

func testMigrateGroupEntries(t *testing.T, dsn string, db *sql.DB, d dialect) {
	ctx := context.Background()
	if _, to, err := migrationsBefore(t).Migrate(ctx, db, d.migrateDialect()); err != nil || to >= SchemaVersion() {
		t.Fatal(to, err)
	}
	alice := addr.Address{User: "alice", Device: 1}
	bob, carol := addr.Address{User: "bob", Device: 1}, addr.Address{User: "carol", Device: 1}
	group, shared, hello, old := addr.NewMessageID(), addr.NewMessageID(), addr.NewMessageID(), addr.NewMessageID()
	ciphertext := []byte("group ciphertext")
	hash := sha256.Sum256(ciphertext)
	const far = int64(253402300799000000)
	insertEnvelope := `INSERT INTO envelopes (to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared)
VALUES ($1, 1, $2, 'alice', 1, $3, $4, 0, $5, $6, $7)`
	for _, q := range [][]any{
		{`INSERT INTO users (user_id, identity, created, last_device) VALUES ($1, $2, 0, 1)`, "alice", []byte{1}},
		{`INSERT INTO users (user_id, identity, created, last_device) VALUES ($1, $2, 0, 1)`, "bob", []byte{1}},
		{`INSERT INTO users (user_id, identity, created, last_device) VALUES ($1, $2, 0, 1)`, "carol", []byte{1}},
		{`INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued) VALUES ($1, 1, $2, $2, 0, 0, 0)`, "alice", []byte{2}},
		{`INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued) VALUES ($1, 1, $2, $2, 0, 4, 4)`, "bob", []byte{2}},
		{`INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued) VALUES ($1, 1, $2, $2, 0, 2, 2)`, "carol", []byte{2}},
		{insertEnvelope, "bob", 1, hello[:], int64(KindMessage), far, []byte("hello"), 0},
		{insertEnvelope, "bob", 2, shared[:], int64(KindGroup), far, hash[:], 1},
		{insertEnvelope, "bob", 3, group[:], int64(KindGroup), far, []byte("unshared"), 0},
		{insertEnvelope, "bob", 4, old[:], int64(KindGroup), int64(1), []byte("expired"), 0},
		{insertEnvelope, "carol", 1, shared[:], int64(KindGroup), far, hash[:], 1},
		{insertEnvelope, "carol", 2, group[:], int64(KindGroup), far, []byte("unshared"), 0},
		{`INSERT INTO shared_payloads (hash, payload, refs) VALUES ($1, $2, 2)`, hash[:], ciphertext},
	} {
		if _, err := db.Exec(q[0].(string), q[1:]...); err != nil {
			t.Fatalf("%.50s: %v", q[0], err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT COUNT(*) FROM envelopes`); n != 1 {
		t.Fatalf("%d envelopes rows after migrating, want the one ordinary message", n)
	}
	if n := count(`SELECT COUNT(*) FROM shared_payloads`); n != 0 {
		t.Fatalf("%d shared payloads after migrating", n)
	}
	got, err := s.Pending(ctx, bob, 0, 10)
	if err != nil || len(got) != 3 || got[0].ID != hello || got[0].Kind != KindMessage ||
		got[1].Seq != 2 || got[1].ID != shared || got[1].Kind != KindGroup || !bytes.Equal(got[1].Payload, ciphertext) ||
		got[2].Seq != 3 || got[2].ID != group || string(got[2].Payload) != "unshared" || got[2].From != alice {
		t.Fatalf("bob reads %v, %+v", err, got)
	}
	res, err := s.Submit(ctx, []Envelope{{From: alice, To: carol, ID: shared, Kind: KindGroup, Payload: ciphertext}})
	if err != nil || !res[0].Duplicate || res[0].Seq != 1 {
		t.Fatalf("resubmitting a migrated group message: %v, %+v", err, res)
	}
	for _, a := range []struct {
		to   addr.Address
		seqs []int64
	}{{bob, []int64{2, 3, 4}}, {carol, []int64{1, 2}}} {
		if n, err := s.Ack(ctx, a.to, a.seqs); err != nil || n != len(a.seqs) {
			t.Fatalf("ack %s: %d, %v", a.to, n, err)
		}
	}
	if n := count(`SELECT COUNT(*) FROM group_messages`); n != 0 {
		t.Fatalf("%d group messages left once every copy is acked", n)
	}
}

// TestSnapshotKeepsGroupMessages: a SQLite snapshot (the backup) of a
// store holding a group message opens as a store whose mailboxes read it
// back, and an ack in the copy releases it there.
func TestSnapshotKeepsGroupMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var to []addr.Address
	for _, u := range []addr.UserID{"alice", "bob", "carol"} {
		if err := s.CreateUser(ctx, User{ID: u, Identity: []byte("id")}); err != nil {
			t.Fatal(err)
		}
		d, err := s.AddDevice(ctx, Device{Address: addr.Address{User: u}, Key: []byte("k"), Cert: []byte("c")})
		if err != nil {
			t.Fatal(err)
		}
		to = append(to, addr.Address{User: u, Device: d})
	}
	id := addr.NewMessageID()
	envs := []Envelope{{From: to[0], To: to[1], ID: id, Kind: KindGroup, Payload: []byte("g")},
		{From: to[0], To: to[2], ID: id, Kind: KindGroup, Payload: []byte("g")}}
	if res, err := s.Submit(ctx, envs); err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := SnapshotSQLite(ctx, filepath.Join(dir, "live.db"), copyPath); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, copyPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, a := range to[1:] {
		got, err := c.Pending(ctx, a, 0, 10)
		if err != nil || len(got) != 1 || got[0].ID != id || got[0].Kind != KindGroup || string(got[0].Payload) != "g" {
			t.Fatalf("%s in the snapshot: %v, %+v", a, err, got)
		}
		if n, err := c.Ack(ctx, a, []int64{got[0].Seq}); err != nil || n != 1 {
			t.Fatalf("ack in the snapshot: %d, %v", n, err)
		}
	}
	if got, err := s.Pending(ctx, to[1], 0, 10); err != nil || len(got) != 1 {
		t.Fatalf("the live store after acks in its snapshot: %v, %+v", err, got)
	}
	db, err := sql.Open("sqlite3", copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM group_messages`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d group messages left in the snapshot once acked (%v)", n, err)
	}
}
