package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"
)

// DefaultPostgres is the local test server: trust authentication,
// database "test". PARLEY_TEST_POSTGRES overrides it.
const DefaultPostgres = "postgres://127.0.0.1:5432/test"

// PostgresSchema returns the URL of a fresh, empty schema of the test
// PostgreSQL database, for store.Open (several stores may open it at once,
// as relay nodes do), and a connection to it for the test's own
// statements. The schema is dropped when the test ends. Without a
// reachable server the test is skipped, except under CI=true, where it
// fails.
func PostgresSchema(t testing.TB) (dsn string, admin *sql.DB) {
	t.Helper()
	base := os.Getenv("PARLEY_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
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
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	admin, err = sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() }) // before the schema is dropped
	return u.String(), admin
}
