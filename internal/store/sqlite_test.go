package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/store/storetest"
)

// sqliteOpener opens each key as a file in one directory per suite run.
func sqliteOpener(dir string) storetest.Opener {
	return func(t *testing.T, key string, opt store.Options) store.Store {
		t.Helper()
		s, err := store.Open(t.Context(), filepath.Join(dir, key+".db"), opt)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, sqliteOpener(t.TempDir()))
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.db")); err != nil {
		t.Fatalf("sqlite: prefix not stripped: %v", err)
	}
	for _, dsn := range []string{"", "sqlite:", ":memory:", "file:x?mode=memory"} {
		if s, err := store.Open(ctx, dsn, store.Options{}); !errors.Is(err, store.ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrInvalid", dsn, err)
		}
	}
	if _, err := store.Open(ctx, filepath.Join(dir, "missing", "dir", "p.db"), store.Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// TestMigrations reopens a database (a no-op migration) and refuses one
// whose schema is newer than the code.
func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	for range 2 {
		s, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v < 1 {
		t.Fatalf("schema_version = %d, %v", v, err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = store.Open(ctx, path, store.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema = %v, want refusal", err)
	}
}

func mustUser(t testing.TB, s store.Store, id addr.UserID) addr.Address {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, store.User{ID: id, Identity: []byte("identity")}); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AddDevice(ctx, store.Device{Address: addr.Address{User: id}, Key: []byte("key"), Cert: []byte("cert")})
	if err != nil {
		t.Fatal(err)
	}
	return addr.Address{User: id, Device: dev}
}

// FuzzSubmit throws arbitrary envelopes at a store: each is refused with
// ErrInvalid (storing nothing), refused per envelope with ErrNotFound, or
// stored and read back byte for byte.
func FuzzSubmit(f *testing.F) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), store.Options{MailboxCap: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	bob, alice := mustUser(f, s, "bob"), mustUser(f, s, "alice")
	f.Add("bob", uint32(1), "alice", uint32(1), []byte("0123456789abcdef"), uint8(1), int64(3600), []byte("payload"))
	f.Add("bob", uint32(2), "alice", uint32(1), []byte("0123456789abcdef"), uint8(0), int64(0), []byte("x"))
	f.Add("Bob", uint32(1), "", uint32(0), []byte{}, uint8(2), int64(-1), []byte{})
	created := time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC) // never expired by the real clock
	f.Fuzz(func(t *testing.T, toUser string, toDev uint32, fromUser string, fromDev uint32, id []byte, kind uint8, ttl int64, payload []byte) {
		e := store.Envelope{
			To:   addr.Address{User: addr.UserID(toUser), Device: addr.DeviceID(toDev)},
			From: addr.Address{User: addr.UserID(fromUser), Device: addr.DeviceID(fromDev)},
			Kind: store.Kind(kind), Payload: payload,
		}
		copy(e.ID[:], id)
		if ttl != 0 {
			e.Created, e.Expires = created, created.Add(time.Duration(ttl)*time.Second)
		}
		before := mailboxLens(t, s, bob, alice)
		res, err := s.Submit(ctx, []store.Envelope{e})
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Submit error %v is not ErrInvalid", err)
			}
			if after := mailboxLens(t, s, bob, alice); after != before {
				t.Fatalf("refused Submit changed mailboxes: %v -> %v", before, after)
			}
			return
		}
		r := res[0]
		known := e.To == bob || e.To == alice
		if !known {
			if !errors.Is(r.Err, store.ErrNotFound) {
				t.Fatalf("Submit to unknown %v: %+v", e.To, r)
			}
			return
		}
		if r.Err != nil || r.Seq <= 0 {
			t.Fatalf("Submit to %v: %+v", e.To, r)
		}
		// A duplicate (an earlier input with the same key) keeps the
		// payload first stored.
		got, err := s.Pending(ctx, e.To, r.Seq-1, 1)
		if err != nil || len(got) != 1 || got[0].Seq != r.Seq || got[0].ID != e.ID || got[0].From != e.From ||
			!r.Duplicate && !bytes.Equal(got[0].Payload, e.Payload) {
			t.Fatalf("stored envelope %d not read back: %v, %d envelopes", r.Seq, err, len(got))
		}
	})
}

func mailboxLens(t *testing.T, s store.Store, as ...addr.Address) [2]int {
	t.Helper()
	var n [2]int
	for i, a := range as[:2] {
		var err error
		if n[i], err = s.MailboxLen(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestNoMigrate: with Options.NoMigrate, Open refuses a schema that is
// behind (ErrSchemaBehind) and changes nothing; Migrate brings it up to
// date once.
func TestNoMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	if s, err := store.Open(ctx, path, store.Options{NoMigrate: true}); !errors.Is(err, store.ErrSchemaBehind) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open(NoMigrate) of a fresh database = %v, want ErrSchemaBehind", err)
	}
	want := store.SchemaVersion()
	for i, from := range []int{0, want} {
		f, to, err := store.Migrate(ctx, "sqlite:"+path)
		if err != nil || f != from || to != want {
			t.Fatalf("Migrate #%d = %d -> %d, %v; want %d -> %d", i+1, f, to, err, from, want)
		}
	}
	s, err := store.Open(ctx, path, store.Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestMigrateKeepsEnvelopes builds a version-1 database by hand (the
// first migration's SQL, one queued envelope), opens it, and checks that
// the envelope survived the rebuild of migration 2 and that revoking the
// device still deletes it.
func TestMigrateKeepsEnvelopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	ddl, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(ddl),
		`CREATE TABLE schema_version (version BIGINT NOT NULL)`,
		`INSERT INTO schema_version VALUES (1)`,
		`INSERT INTO users VALUES ('bob', x'01', 0, 1)`,
		`INSERT INTO devices VALUES ('bob', 1, x'02', x'03', 0, 7, 1)`,
		`INSERT INTO envelopes VALUES ('bob', 1, 7, 'alice', 1, x'0102030405060708090a0b0c0d0e0f10', 1, 0, 253402300799000000, x'cafe')`,
	} {
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
	if err := s.RevokeDevice(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Pending(ctx, bob, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("revoked mailbox after migrating: %v, %d envelopes", err, len(got))
	}
}
