package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/store/storetest"
	"parley.dev/internal/unlock"
)

// TestSweepDestroysUnprovenLastGuess: once a key has used its last guess
// and the grace for proving it has passed, the sweep destroys the key even
// if no request ever comes again.
func TestSweepDestroysUnprovenLastGuess(t *testing.T) {
	dir := t.TempDir()
	conf, err := DevTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &Server{DataDir: dir, TLSConfig: conf, Now: clk.Now, UnlockMaxFailures: 3, SweepInterval: time.Hour}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	r := s.r
	ctx := context.Background()
	if err := r.store.CreateUser(ctx, store.User{ID: "alice", Identity: []byte("id")}); err != nil {
		t.Fatal(err)
	}
	dev, err := r.store.AddDevice(ctx, store.Device{Address: addr.Address{User: "alice"}, Key: []byte("k"), Cert: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	a := addr.Address{User: "alice", Device: dev}
	for i, failures := range []uint32{3, 2} {
		c := store.UnlockCredential{byte(i + 1)}
		if err := r.store.EnrolUnlock(ctx, store.UnlockKey{Credential: c, Device: a, OPRFKey: bytes.Repeat([]byte{1}, 32)}); err != nil {
			t.Fatal(err)
		}
		if err := r.store.ActivateUnlock(ctx, a, c, bytes.Repeat([]byte{2}, 32)); err != nil {
			t.Fatal(err)
		}
		st := store.UnlockState{Failures: failures, LastEval: clk.Now()}
		if ok, err := r.store.SetUnlockState(ctx, c, store.UnlockState{}, st); err != nil || !ok {
			t.Fatalf("set state: %v %v", ok, err)
		}
	}
	destroyed := func(b byte) bool {
		k, err := r.store.UnlockKey(ctx, store.UnlockCredential{b})
		if err != nil {
			t.Fatal(err)
		}
		return k.Destroyed()
	}
	clk.Advance(unlock.DefaultGrace - time.Second)
	r.sweep()
	if destroyed(1) {
		t.Fatal("destroyed within the grace")
	}
	clk.Advance(time.Second)
	r.sweep()
	if !destroyed(1) || destroyed(2) {
		t.Fatalf("after the grace: exhausted key destroyed %v, key with a guess left destroyed %v", destroyed(1), destroyed(2))
	}
}
