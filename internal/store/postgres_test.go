package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
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

// TestPostgresConnectionDrop kills the store's PostgreSQL connections
// (pg_terminate_backend, as a server restart or a network cut would)
// while 16 callers submit: every submission that was acknowledged is
// stored, the failed ones report an error (never a false success), and
// the store reconnects by itself.
func TestPostgresConnectionDrop(t *testing.T) {
	base := cmpOr(os.Getenv("PARLEY_TEST_POSTGRES"), defaultPostgres)
	admin := postgresAdmin(t, base)
	schema := "drop_" + addr.NewMessageID().String()[:12]
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, _ := url.Parse(withSearchPath(t, base, schema))
	q := u.Query()
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	ctx := t.Context()
	s, err := store.Open(ctx, u.String(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")

	const callers, kills, perKill = 16, 3, 200
	var mu sync.Mutex
	acked := map[addr.MessageID]int64{}
	failed := 0
	var done atomic.Int64
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := store.Envelope{From: alice, To: bob, ID: addr.NewMessageID(), Payload: []byte("payload")}
				res, err := s.Submit(ctx, []store.Envelope{e})
				mu.Lock()
				if err == nil && res[0].Err == nil {
					acked[e.ID] = res[0].Seq
				} else {
					failed++
				}
				mu.Unlock()
				if done.Add(1)%perKill == 0 {
					select {
					case progress <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	waitDone := func(n int) {
		for done.Load() < int64(n) {
			select {
			case <-progress:
			case <-time.After(time.Minute):
				t.Fatalf("stuck at %d of %d submissions", done.Load(), n)
			}
		}
	}
	for k := range kills {
		waitDone((k + 1) * perKill) // let some commit first
		var n int
		if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&n); err != nil || n == 0 {
			t.Fatalf("terminate backends: %d, %v", n, err)
		}
	}
	waitDone((kills + 1) * perKill) // and the store recovers
	close(stop)
	wg.Wait()

	stored := map[addr.MessageID]int64{}
	var after int64
	for {
		page, err := s.Pending(ctx, bob, after, store.MaxBatch)
		if err != nil {
			t.Fatalf("Pending after the drops: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			stored[e.ID] = e.Seq
		}
		after = page[len(page)-1].Seq
	}
	for id, seq := range acked {
		if got, ok := stored[id]; !ok || got != seq {
			t.Errorf("acknowledged envelope %v (seq %d) not stored (got %d, %v)", id, seq, got, ok)
		}
	}
	t.Logf("%d acknowledged, %d failed, %d stored (a failed one may have committed)", len(acked), failed, len(stored))
	if res, err := s.Submit(ctx, []store.Envelope{{From: alice, To: bob, ID: addr.NewMessageID(), Payload: []byte("after")}}); err != nil || res[0].Err != nil {
		t.Fatalf("the store did not recover: %v %v", err, res)
	}
}

// TestPostgresDuplicateCounters checks the mailbox counters PostgreSQL
// holds after resubmissions. There a batch's insert also saves the
// counters (bulkInsertSave), before it knows whether every envelope went
// in; a resubmission makes it undo its insert, and the counters it saved
// must be put back too: a last_seq too high shows as a gap in Seqs
// (SubmitIdempotent), a queued too high only as needless recounts, which
// no behaviour shows, hence this test.
func TestPostgresDuplicateCounters(t *testing.T) {
	base := cmpOr(os.Getenv("PARLEY_TEST_POSTGRES"), defaultPostgres)
	admin := postgresAdmin(t, base)
	schema := "dup_" + addr.NewMessageID().String()[:12]
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	ctx := t.Context()
	s, err := store.Open(ctx, withSearchPath(t, base, schema), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	env := func() store.Envelope {
		return store.Envelope{From: alice, To: bob, ID: addr.NewMessageID(), Payload: []byte("payload")}
	}
	old := env()
	submit := func(envs ...store.Envelope) {
		t.Helper()
		res, err := s.Submit(ctx, envs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("envelope %d: %v", i, r.Err)
			}
		}
	}
	submit(old)
	submit(old)             // a resubmission alone,
	submit(old, old)        // twice,
	submit(env(), old)      // after a new envelope,
	submit(old, env(), old) // and around one
	var lastSeq, queued int64
	err = admin.QueryRow(`SELECT last_seq, queued FROM `+schema+`.devices WHERE user_id = 'bob'`).Scan(&lastSeq, &queued)
	if err != nil {
		t.Fatal(err)
	}
	if lastSeq != 3 || queued != 3 {
		t.Fatalf("bob's counters after 3 envelopes and 5 resubmissions: last_seq %d, queued %d; want 3, 3", lastSeq, queued)
	}
}
