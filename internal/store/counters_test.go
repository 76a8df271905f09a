package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"parley.dev/internal/addr"
)

// TestKeptCounters: the SQLite writer keeps the counters its hot path
// leaves (submissions and acks) and drops them as soon as a transaction
// does anything else; a device revoked, or a user deleted, after its
// counters were kept takes no more envelopes.
func TestKeptCounters(t *testing.T) {
	ctx := context.Background()
	st, w := newSQLiteForTest(t)
	bob, alice := testDevice(t, st, "bob"), testDevice(t, st, "alice")
	submit := func(to addr.Address) SubmitResult {
		t.Helper()
		res, err := st.Submit(ctx, []Envelope{{To: to, From: alice, ID: addr.NewMessageID(), Payload: []byte("ciphertext")}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	kept := func(a addr.Address) (counters, bool) {
		t.Helper()
		var c counters
		var ok bool
		if err := w.do(ctx, false, 1, func(*txn) error { c, ok = w.kept[mailboxKey{a.User, a.Device}]; return nil }); err != nil {
			t.Fatal(err)
		}
		return c, ok
	}

	for i := range 3 {
		if r := submit(bob); r.Err != nil || r.Seq != int64(i+1) {
			t.Fatalf("submission %d: %+v", i, r)
		}
	}
	if n, err := st.Ack(ctx, bob, []int64{1}); err != nil || n != 1 {
		t.Fatalf("Ack = %d, %v", n, err)
	}
	if c, ok := kept(bob); !ok || c.lastSeq != 3 || c.queued != 3 {
		t.Fatalf("after submissions and an ack: kept %+v, %v; want last Seq 3, queued bound 3", c, ok)
	}

	if err := st.RevokeDevice(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if _, ok := kept(bob); ok {
		t.Fatal("the counters of a revoked device are still kept")
	}
	if r := submit(bob); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("submission to the revoked device: %+v, want ErrNotFound", r)
	}

	carol := testDevice(t, st, "carol")
	submit(carol)
	if _, ok := kept(carol); !ok {
		t.Fatal("carol's counters are not kept")
	}
	if _, err := st.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if r := submit(carol); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("submission to a deleted user: %+v, want ErrNotFound", r)
	}
}

// TestKeptCountersAfterFailure: a transaction that fails after advancing
// counters leaves the kept ones as the table has them.
func TestKeptCountersAfterFailure(t *testing.T) {
	st, w := newSQLiteForTest(t)
	bob, alice := testDevice(t, st, "bob"), testDevice(t, st, "alice")
	wantNextSeq(t, st, alice, bob, 1)
	failed := errors.New("failed after storing")
	res := make([]SubmitResult, 1)
	err := w.do(context.Background(), true, 1, func(tx *txn) error {
		tx.submit(testEnvelopes(t, alice, bob), res)
		if err := tx.settle(); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) || res[0].Seq != 2 {
		t.Fatalf("failing batch: %v, %+v", err, res[0])
	}
	wantNextSeq(t, st, alice, bob, 2)
}

// TestKeptCountersBesideAnotherWriter: a second store on the same SQLite
// file (a second relay process by mistake, or an operator's tool) that
// commits makes the first forget its kept counters: the next submission
// takes the Seq after the other store's, instead of one already used.
func TestKeptCountersBesideAnotherWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores [2]Store
	for i := range stores {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	first, second := stores[0], stores[1]
	bob, alice := testDevice(t, first, "bob"), testDevice(t, first, "alice")
	wantNextSeq(t, first, alice, bob, 1)
	wantNextSeq(t, second, alice, bob, 2)
	wantNextSeq(t, first, alice, bob, 3)
}
