package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/store/storetest"
)

// defaultPostgres is the local test server: trust auth, database "test".
// PARLEY_TEST_POSTGRES overrides it.
const defaultPostgres = "postgres://127.0.0.1:5432/test"

// TestPostgres runs the conformance suite on PostgreSQL, one fresh schema
// per store key, dropped at the end. It skips when the server is
// unreachable, except under CI=true, where it fails.
func TestPostgres(t *testing.T) {
	base := cmpOr(os.Getenv("PARLEY_TEST_POSTGRES"), defaultPostgres)
	admin := postgresAdmin(t, base)
	var mu sync.Mutex
	var schemas []string
	t.Cleanup(func() {
		for _, s := range schemas {
			if _, err := admin.Exec(`DROP SCHEMA IF EXISTS ` + s + ` CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", s, err)
			}
		}
	})
	storetest.Run(t, func(t *testing.T, key string, opt store.Options) store.Store {
		t.Helper()
		// key is [a-z0-9_], so it is safe as an identifier.
		if _, err := admin.Exec(`CREATE SCHEMA IF NOT EXISTS ` + key); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		mu.Lock()
		schemas = append(schemas, key)
		mu.Unlock()
		s, err := store.Open(t.Context(), withSearchPath(t, base, key), opt)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// postgresAdmin connects to base or skips (fails under CI=true).
func postgresAdmin(t *testing.T, base string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
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
	return db
}

func withSearchPath(t *testing.T, base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestPostgresConcurrentMigrations starts several "nodes" on one fresh
// schema at once, half through Open and half through Migrate: the
// advisory lock lets one migrate, and every one of them succeeds on the
// finished schema.
func TestPostgresConcurrentMigrations(t *testing.T) {
	base := cmpOr(os.Getenv("PARLEY_TEST_POSTGRES"), defaultPostgres)
	admin := postgresAdmin(t, base)
	schema := "migrate_" + addr.NewMessageID().String()[:12]
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	dsn := withSearchPath(t, base, schema)
	const nodes = 8
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	migrated := make(chan int, nodes)
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				from, _, err := store.Migrate(t.Context(), dsn)
				migrated <- from
				errs <- err
				return
			}
			s, err := store.Open(t.Context(), dsn, store.Options{})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(migrated)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent start: %v", err)
		}
	}
	var v int
	if err := admin.QueryRow(`SELECT version FROM ` + schema + `.schema_version`).Scan(&v); err != nil || v != store.SchemaVersion() {
		t.Fatalf("schema_version = %d, %v; want %d", v, err, store.SchemaVersion())
	}
	var rows int
	admin.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.schema_version`).Scan(&rows)
	if rows != 1 {
		t.Errorf("schema_version has %d rows", rows)
	}
	for from := range migrated {
		if from != 0 && from != store.SchemaVersion() {
			t.Errorf("a Migrate started from version %d: saw a half-migrated schema", from)
		}
	}
	s, err := store.Open(t.Context(), dsn, store.Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("Open with NoMigrate after migrating: %v", err)
	}
	s.Close()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
