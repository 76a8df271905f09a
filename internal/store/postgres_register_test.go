package store_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/pgtest"
	"parley.dev/internal/store"
)

// TestPostgresRegisterAcrossNodes: two stores on one PostgreSQL schema (two
// relay nodes) register the same new user at once, each with its own
// token. Both pass their checks before either commits, so the loser finds
// the user taken only when it writes; its transaction is rolled back, the
// checks run again and refuse it: exactly one user, and every losing
// token still unused.
func TestPostgresRegisterAcrossNodes(t *testing.T) {
	dsn, admin := pgtest.Schema(t)
	var nodes [2]store.Store
	for i := range nodes {
		s, err := store.Open(t.Context(), dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	tok := func(i int) store.Token {
		return store.Token{Hash: sha256.Sum256(fmt.Append(nil, "token ", i)), Expires: time.Now().Add(time.Hour)}
	}
	for round := range 20 {
		user := fmt.Sprint("user", round)
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tk := tok(round*n + i)
				_, errs[i] = nodes[i%2].Register(t.Context(), store.Registration{
					User:   store.User{ID: addr.UserID(user), Identity: fmt.Append(nil, "identity ", i)},
					Device: store.Device{Key: []byte("key"), Cert: []byte("cert")},
					Token:  &tk,
				})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrConflict):
				tk := tok(round*n + i)
				if err := nodes[0].UseToken(t.Context(), tk.Hash, tk.Expires); err != nil {
					t.Fatalf("round %d: a losing registration burned its token: %v", round, err)
				}
			default:
				t.Fatalf("round %d, registration %d: %v", round, i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d registrations won", round, won)
		}
		if devs, err := nodes[1].Devices(t.Context(), addr.UserID(user)); err != nil || len(devs) != 1 {
			t.Fatalf("round %d: %d devices, %v", round, len(devs), err)
		}
	}

	// The race made certain: another node's transaction has created the
	// user but not committed when this registration runs its checks.
	tx, err := admin.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO users (user_id, identity, created, last_device) VALUES ('late', 'other', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	tk := tok(1 << 20)
	done := make(chan error, 1)
	go func() {
		_, err := nodes[0].Register(t.Context(), store.Registration{
			User:   store.User{ID: "late", Identity: []byte("mine")},
			Device: store.Device{Key: []byte("key"), Cert: []byte("cert")},
			Token:  &tk,
		})
		done <- err
	}()
	waitBlocked(t, admin)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("registration that lost the race: %v, want ErrConflict", err)
	}
	if err := nodes[1].UseToken(t.Context(), tk.Hash, tk.Expires); err != nil {
		t.Fatalf("the registration that lost the race burned its token: %v", err)
	}
}

// waitBlocked waits until a session is waiting on a lock, as the
// registration's insert of the user waits for the uncommitted one.
func waitBlocked(t *testing.T, admin *sql.DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		err := admin.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO users%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("the registration never waited for the other transaction")
}
