package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// The relay PIN factor's keys and counters (store.UnlockStore).

func cred(b byte) store.UnlockCredential {
	var c store.UnlockCredential
	for i := range c {
		c[i] = b
	}
	return c
}

func value(b byte) []byte { return bytes.Repeat([]byte{b}, store.UnlockValueLen) }

// enrol stores an active unlock key of dev and returns it as stored.
func (e *env) enrol(dev addr.Address, c store.UnlockCredential) store.UnlockKey {
	e.t.Helper()
	if err := e.s.EnrolUnlock(e.ctx, store.UnlockKey{Credential: c, Device: dev, OPRFKey: value(c[0])}); err != nil {
		e.t.Fatalf("EnrolUnlock: %v", err)
	}
	if err := e.s.ActivateUnlock(e.ctx, dev, c, value(c[0]+1)); err != nil {
		e.t.Fatalf("ActivateUnlock: %v", err)
	}
	return e.unlockKey(c)
}

func (e *env) unlockKey(c store.UnlockCredential) store.UnlockKey {
	e.t.Helper()
	k, err := e.s.UnlockKey(e.ctx, c)
	if err != nil {
		e.t.Fatalf("UnlockKey: %v", err)
	}
	return k
}

func testUnlockEnrol(t *testing.T, e *env) {
	ctx := e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	pending := store.UnlockKey{Credential: cred(1), Device: alice, OPRFKey: value(1)}
	if err := e.s.EnrolUnlock(ctx, pending); err != nil {
		t.Fatal(err)
	}
	k := e.unlockKey(cred(1))
	if !k.Pending() || k.Destroyed() || k.Device != alice || !bytes.Equal(k.OPRFKey, value(1)) || !k.Created.Equal(Epoch) ||
		k.State != (store.UnlockState{}) {
		t.Fatalf("pending key = %+v", k)
	}
	wantErr(t, "activate by another device", e.s.ActivateUnlock(ctx, bob, cred(1), value(9)), store.ErrNotFound)
	wantErr(t, "enrol the same credential", e.s.EnrolUnlock(ctx, store.UnlockKey{Credential: cred(1), Device: bob, OPRFKey: value(1)}), store.ErrExists)
	wantErr(t, "unknown device", e.s.EnrolUnlock(ctx, store.UnlockKey{Credential: cred(2), Device: addr.Address{User: "alice", Device: 9}, OPRFKey: value(2)}), store.ErrNotFound)
	for name, bad := range map[string]store.UnlockKey{
		"no key":       {Credential: cred(3), Device: alice},
		"short key":    {Credential: cred(3), Device: alice, OPRFKey: value(3)[:31]},
		"verifier set": {Credential: cred(3), Device: alice, OPRFKey: value(3), Verifier: value(4)},
		"bad address":  {Credential: cred(3), OPRFKey: value(3)},
	} {
		wantErr(t, name, e.s.EnrolUnlock(ctx, bad), store.ErrInvalid)
	}
	wantErr(t, "short verifier", e.s.ActivateUnlock(ctx, alice, cred(1), value(9)[:16]), store.ErrInvalid)
	if err := e.s.ActivateUnlock(ctx, alice, cred(1), value(9)); err != nil {
		t.Fatal(err)
	}
	if k := e.unlockKey(cred(1)); k.Pending() || !bytes.Equal(k.Verifier, value(9)) {
		t.Fatalf("active key = %+v", k)
	}
	wantErr(t, "activate twice", e.s.ActivateUnlock(ctx, alice, cred(1), value(8)), store.ErrNotFound)
	// A new enrolment replaces a pending one, never an active one.
	for _, c := range []byte{5, 6} {
		if err := e.s.EnrolUnlock(ctx, store.UnlockKey{Credential: cred(c), Device: alice, OPRFKey: value(c)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.s.UnlockKey(ctx, cred(5))
	wantErr(t, "the replaced pending key", err, store.ErrNotFound)
	e.unlockKey(cred(1))
	e.unlockKey(cred(6))
	_, err = e.s.UnlockKey(ctx, cred(7))
	wantErr(t, "unknown credential", err, store.ErrNotFound)
}

func testUnlockLimit(t *testing.T, e *env) {
	alice := e.user("alice")
	for i := range store.MaxUnlockKeys {
		e.enrol(alice, cred(byte(10*i+1)))
	}
	err := e.s.EnrolUnlock(e.ctx, store.UnlockKey{Credential: cred(99), Device: alice, OPRFKey: value(99)})
	wantErr(t, "one key too many", err, store.ErrLimit)
	if _, err := e.s.UnlockKey(e.ctx, cred(99)); err == nil {
		t.Fatal("the refused key was stored")
	}
}

// testUnlockCounter: the counter is a compare-and-swap, exact to the
// microsecond, durable across a restart, and dead once destroyed.
func testUnlockCounter(t *testing.T, e *env) {
	ctx := e.ctx
	alice := e.user("alice")
	k := e.enrol(alice, cred(1))
	s1 := store.UnlockState{Failures: 1, LastEval: Epoch.Add(1234567 * time.Microsecond)}
	if ok, err := e.s.SetUnlockState(ctx, cred(1), s1, s1); err != nil || ok {
		t.Fatalf("swap from a state that is not stored = %v, %v", ok, err)
	}
	if ok, err := e.s.SetUnlockState(ctx, cred(1), k.State, s1); err != nil || !ok {
		t.Fatalf("swap = %v, %v", ok, err)
	}
	e.reopen()
	if got := e.unlockKey(cred(1)).State; got.Failures != 1 || !got.LastEval.Equal(s1.LastEval) || !got.LastSuccess.IsZero() {
		t.Fatalf("state after restart = %+v, want %+v", got, s1)
	}
	if ok, _ := e.s.SetUnlockState(ctx, cred(1), k.State, s1); ok {
		t.Fatal("a stale swap succeeded")
	}
	s2 := store.UnlockState{Failures: 0, LastEval: s1.LastEval, LastSuccess: Epoch.Add(time.Hour)}
	if ok, err := e.s.SetUnlockState(ctx, cred(1), s1, s2); err != nil || !ok {
		t.Fatalf("reset = %v, %v", ok, err)
	}
	if ok, _ := e.s.SetUnlockState(ctx, cred(9), store.UnlockState{}, s1); ok {
		t.Fatal("swap on an unknown credential succeeded")
	}
	if err := e.s.DestroyUnlock(ctx, cred(1)); err != nil {
		t.Fatal(err)
	}
	d := e.unlockKey(cred(1))
	if !d.Destroyed() || d.Pending() || len(d.Verifier) != 0 || d.State.Failures != 0 || !d.State.LastSuccess.Equal(s2.LastSuccess) {
		t.Fatalf("destroyed key = %+v", d)
	}
	if ok, _ := e.s.SetUnlockState(ctx, cred(1), s2, s1); ok {
		t.Fatal("a destroyed key's counter moved")
	}
	wantErr(t, "destroy unknown", e.s.DestroyUnlock(ctx, cred(9)), store.ErrNotFound)
}

// testUnlockConcurrentCount: many relay goroutines count guesses of one
// credential at once, each reading and then swapping; no count is lost
// and no two swaps from one state both succeed.
func testUnlockConcurrentCount(t *testing.T, e *env) {
	alice := e.user("alice")
	e.enrol(alice, cred(1))
	const workers, each = 8, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[uint32]int{}
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					k, err := e.s.UnlockKey(e.ctx, cred(1))
					if err != nil {
						t.Error(err)
						return
					}
					next := k.State
					next.Failures++
					next.LastEval = Epoch.Add(time.Duration(next.Failures) * time.Microsecond)
					ok, err := e.s.SetUnlockState(e.ctx, cred(1), k.State, next)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						won[next.Failures]++
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if got := e.unlockKey(cred(1)).State.Failures; got != workers*each {
		t.Fatalf("failures = %d, want %d", got, workers*each)
	}
	for n, c := range won {
		if c != 1 {
			t.Fatalf("count %d was reached by %d swaps", n, c)
		}
	}
}

func testUnlockRetireAndSweep(t *testing.T, e *env) {
	ctx := e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	e.enrol(alice, cred(1))
	e.enrol(alice, cred(2))
	e.enrol(bob, cred(3))
	keep := cred(2)
	if n, err := e.s.RetireUnlocks(ctx, alice, &keep); err != nil || n != 1 {
		t.Fatalf("RetireUnlocks = %d, %v", n, err)
	}
	if _, err := e.s.UnlockKey(ctx, cred(1)); err == nil {
		t.Fatal("retired key still there")
	}
	e.unlockKey(cred(2))
	e.unlockKey(cred(3))

	// Sweep: keys at the limit whose last guess is old enough go.
	exhausted := store.UnlockState{Failures: 10, LastEval: Epoch}
	recent := store.UnlockState{Failures: 10, LastEval: Epoch.Add(time.Minute)}
	for c, s := range map[store.UnlockCredential]store.UnlockState{cred(2): exhausted, cred(3): recent} {
		if ok, err := e.s.SetUnlockState(ctx, c, store.UnlockState{}, s); err != nil || !ok {
			t.Fatalf("set state: %v %v", ok, err)
		}
	}
	if n, err := e.s.DestroyExhaustedUnlocks(ctx, 11, Epoch.Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("sweep below the limit = %d, %v", n, err)
	}
	if n, err := e.s.DestroyExhaustedUnlocks(ctx, 10, Epoch.Add(30*time.Second), 10); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if !e.unlockKey(cred(2)).Destroyed() || e.unlockKey(cred(3)).Destroyed() {
		t.Fatal("the sweep destroyed the wrong key")
	}
	if n, _ := e.s.DestroyExhaustedUnlocks(ctx, 10, Epoch.Add(time.Hour), 10); n != 1 {
		t.Fatalf("second sweep destroyed %d, want 1 (a destroyed key is not counted twice)", n)
	}
	if n, err := e.s.RetireUnlocks(ctx, bob, nil); err != nil || n != 1 {
		t.Fatalf("retire all = %d, %v", n, err)
	}
}

// testUnlockGoesWithDevice: revoking a device, or replacing its user's
// identity, deletes its unlock keys.
func testUnlockGoesWithDevice(t *testing.T, e *env) {
	ctx := e.ctx
	alice := e.user("alice")
	alice2 := e.device("alice")
	bob := e.user("bob")
	e.enrol(alice, cred(1))
	e.enrol(alice2, cred(2))
	e.enrol(bob, cred(3))
	if err := e.s.RevokeDevice(ctx, alice2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UnlockKey(ctx, cred(2)); err == nil {
		t.Fatal("a revoked device's unlock key survived")
	}
	if _, err := e.s.ReplaceIdentity(ctx, store.User{ID: "alice", Identity: []byte("new identity")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UnlockKey(ctx, cred(1)); err == nil {
		t.Fatal("an unlock key survived its user's identity replacement")
	}
	e.unlockKey(cred(3))
}
