package storetest

import (
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/store"
)

// testSharedKey: a key is created once and then the same for every
// caller, concurrent first callers included, and after a restart; names
// are separate; bad names are refused.
func testSharedKey(t *testing.T, e *env) {
	const callers = 8
	keys := make([][32]byte, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { keys[i], errs[i] = e.s.SharedKey(e.ctx, "challenge-mac") })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("SharedKey caller %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("concurrent first callers got different keys")
		}
	}
	if keys[0] == ([32]byte{}) {
		t.Fatal("SharedKey is all zeros")
	}
	other, err := e.s.SharedKey(e.ctx, "other")
	if err != nil || other == keys[0] {
		t.Fatalf("a second name: %v, same key %v", err, other == keys[0])
	}
	e.reopen()
	again, err := e.s.SharedKey(e.ctx, "challenge-mac")
	if err != nil || again != keys[0] {
		t.Fatalf("after a restart: %v, same key %v", err, again == keys[0])
	}
	for _, name := range []string{"", strings.Repeat("k", 65), "with space", "tab\t", "ünï"} {
		_, err := e.s.SharedKey(e.ctx, name)
		wantErr(t, "SharedKey("+name+")", err, store.ErrInvalid)
	}
}

// testUseChallenge: each challenge is accepted once, also after a restart
// (the record is durable), until PurgeChallenges forgets it past its
// expiry, within its limit.
func testUseChallenge(t *testing.T, e *env) {
	ctx := e.ctx
	c1, c2 := sha256.Sum256([]byte("challenge 1")), sha256.Sum256([]byte("challenge 2"))
	exp := Epoch.Add(time.Minute)
	if err := e.s.UseChallenge(ctx, c1, exp); err != nil {
		t.Fatal(err)
	}
	err := e.s.UseChallenge(ctx, c1, exp)
	wantErr(t, "UseChallenge twice", err, store.ErrChallengeUsed)
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("ErrChallengeUsed does not wrap ErrExists")
	}
	if err := e.s.UseChallenge(ctx, c2, exp.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	wantErr(t, "UseChallenge after a restart", e.s.UseChallenge(ctx, c1, exp), store.ErrChallengeUsed)

	// Before c1's expiry nothing is forgotten; at it, c1 only.
	if n, err := e.s.PurgeChallenges(ctx, exp.Add(-time.Microsecond), store.MaxBatch); err != nil || n != 0 {
		t.Fatalf("purge before expiry: %d, %v", n, err)
	}
	if n, err := e.s.PurgeChallenges(ctx, exp, store.MaxBatch); err != nil || n != 1 {
		t.Fatalf("purge at c1's expiry: %d, %v", n, err)
	}
	wantErr(t, "c2 after c1 was purged", e.s.UseChallenge(ctx, c2, exp), store.ErrChallengeUsed)
	if err := e.s.UseChallenge(ctx, c1, exp); err != nil {
		t.Fatalf("c1 after it was purged: %v", err)
	}

	// The limit bounds one purge.
	for i := range 5 {
		if err := e.s.UseChallenge(ctx, sha256.Sum256([]byte{byte(i)}), Epoch); err != nil {
			t.Fatal(err)
		}
	}
	later := Epoch.Add(time.Hour)
	if n, err := e.s.PurgeChallenges(ctx, later, 3); err != nil || n != 3 {
		t.Fatalf("purge with limit 3: %d, %v", n, err)
	}
	if n, err := e.s.PurgeChallenges(ctx, later, store.MaxBatch+1); err != nil || n != 4 {
		t.Fatalf("purge of the rest: %d, %v (want the 2 left and c1, c2)", n, err)
	}
	_, err = e.s.PurgeChallenges(ctx, later, 0)
	wantErr(t, "PurgeChallenges(limit 0)", err, store.ErrInvalid)
	wantErr(t, "UseChallenge(bad expiry)", e.s.UseChallenge(ctx, c1, time.Time{}), store.ErrInvalid)
}
