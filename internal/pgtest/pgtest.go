// Package pgtest gives tests the local PostgreSQL server: a connection to
// the test database, and fresh schemas in it that are dropped when the
// test ends. The server is PARLEY_TEST_POSTGRES, else DefaultURL. Without
// a reachable server a test is skipped, except under CI=true, where it
// fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// DefaultURL is the local test server: trust authentication, database
// "test".
const DefaultURL = "postgres://127.0.0.1:5432/test"

// Admin connects to the test database and returns the connection (closed
// when the test ends) and the database's URL.
func Admin(t testing.TB) (*sql.DB, string) {
	t.Helper()
	base := os.Getenv("PARLEY_TEST_POSTGRES")
	if base == "" {
		base = DefaultURL
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", base, err)
		}
		t.Skipf("PostgreSQL at %s unreachable: %v", base, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, base
}

// WithSearchPath returns base with its search_path set to schema.
func WithSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Schema creates a fresh, empty schema and returns its URL (for a store
// to open, several at once if need be, as relay nodes do) and a
// connection to it for the test's own statements. The schema is dropped
// when the test ends.
func Schema(t testing.TB) (string, *sql.DB) {
	t.Helper()
	admin, base := Admin(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	dsn := WithSearchPath(t, base, schema)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // before the schema is dropped
	return dsn, db
}
