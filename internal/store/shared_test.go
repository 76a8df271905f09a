package store

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/pgtest"
)

// TestSharedPayloads: a group message (its ciphertext) is stored once
// however many mailboxes it goes to, each mailbox holding a lean entry
// (migration 10), every copy reads it back, and it is deleted when the
// last copy is acked, expired or deleted with its device, or its sender
// is erased. On SQLite and PostgreSQL.
func TestSharedPayloads(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testSharedPayloads(t, path, db)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, db := pgtest.Schema(t)
		testSharedPayloads(t, dsn, db)
	})
}

func testSharedPayloads(t *testing.T, dsn string, db *sql.DB) {
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mk := func(u addr.UserID) addr.Address {
		if err := s.CreateUser(ctx, User{ID: u, Identity: []byte("identity-" + u)}); err != nil && u != "bob" {
			t.Fatal(err)
		}
		d, err := s.AddDevice(ctx, Device{Address: addr.Address{User: u}, Key: []byte("key"), Cert: []byte("cert")})
		if err != nil {
			t.Fatal(err)
		}
		return addr.Address{User: u, Device: d}
	}
	alice, bob, bob2, carol := mk("alice"), mk("bob"), mk("bob"), mk("carol")
	members := []addr.Address{bob, bob2, carol}
	now := time.Now()
	group := func(payload []byte, expires time.Time) addr.MessageID {
		id := addr.NewMessageID()
		var envs []Envelope
		for _, to := range members {
			envs = append(envs, Envelope{From: alice, To: to, ID: id, Kind: KindGroup,
				Created: now, Expires: expires, Payload: payload})
		}
		res, err := s.Submit(ctx, envs)
		if err != nil || res[0].Err != nil || res[2].Err != nil {
			t.Fatal(err, res)
		}
		return id
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ciphertext := bytes.Repeat([]byte("group ciphertext "), 20)
	other := bytes.Repeat([]byte("another ciphertext "), 20)
	later := now.Add(time.Hour)
	group(ciphertext, later)
	group(other, now.Add(time.Minute))
	if n := count(`SELECT COUNT(*) FROM group_messages`); n != 2 {
		t.Fatalf("%d group messages for two group messages, want 2", n)
	}
	if n := count(`SELECT COUNT(*) FROM envelopes`); n != 0 {
		t.Fatalf("%d envelope rows for group messages", n)
	}
	if n := count(`SELECT COUNT(*) FROM group_entries`); n != 6 {
		t.Fatalf("%d group entries for two messages to three devices, want 6", n)
	}
	if n := count(`SELECT refs FROM group_messages WHERE payload = $1`, ciphertext); n != 3 {
		t.Fatalf("the first payload has %d references, want 3", n)
	}
	for _, to := range members {
		got, err := s.Pending(ctx, to, 0, 10)
		if err != nil || len(got) != 2 || !bytes.Equal(got[0].Payload, ciphertext) || !bytes.Equal(got[1].Payload, other) {
			t.Fatalf("%s reads %v, %+v", to, err, got)
		}
	}
	// The second message expires for everyone: its payload goes with it.
	if _, err := s.Expire(ctx, now.Add(2*time.Minute), MaxBatch); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM group_messages WHERE payload = $1`, other); n != 0 {
		t.Fatal("an expired group message's payload stays")
	}
	// bob acks, bob2 is revoked: the payload stays for carol.
	got, _ := s.Pending(ctx, bob, 0, 10)
	if n, err := s.Ack(ctx, bob, []int64{got[0].Seq}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if err := s.RevokeDevice(ctx, bob2); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT refs FROM group_messages WHERE payload = $1`, ciphertext); n != 1 {
		t.Fatalf("after an ack and a revocation: %d references, want 1", n)
	}
	got, _ = s.Pending(ctx, carol, 0, 10)
	if len(got) != 1 || !bytes.Equal(got[0].Payload, ciphertext) {
		t.Fatalf("carol reads %+v", got)
	}
	if n, err := s.Ack(ctx, carol, []int64{got[0].Seq}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if n := count(`SELECT COUNT(*) FROM group_messages`); n != 0 {
		t.Fatalf("%d group messages left once every copy is acked", n)
	}
	// Erasing the sender takes its group messages still waiting, and
	// their one stored ciphertext with them.
	group(ciphertext, later)
	if _, err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM group_entries`); n != 0 {
		t.Fatalf("%d group entries of an erased sender left", n)
	}
	if n := count(`SELECT COUNT(*) FROM group_messages`); n != 0 {
		t.Fatalf("%d group messages of an erased sender left", n)
	}
}
