package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

func token(s string) *store.Token {
	return &store.Token{Hash: sha256.Sum256([]byte(s)), Expires: Epoch.Add(time.Hour)}
}

func registration(user addr.UserID, identity string, current []byte, tok *store.Token) store.Registration {
	return store.Registration{
		User:    store.User{ID: user, Identity: []byte(identity)},
		Current: current,
		Device:  store.Device{Key: []byte("key of a device of " + user), Cert: []byte("cert")},
		Token:   tok,
	}
}

// tokenUnused fails unless tok can still be used (and uses it).
func (e *env) tokenUnused(what string, tok *store.Token) {
	e.t.Helper()
	if err := e.s.UseToken(e.ctx, tok.Hash, tok.Expires); err != nil {
		e.t.Fatalf("%s: the token was burned: %v", what, err)
	}
}

// testRegister: a registration creates the user, uses the token and adds
// the device together; another device of the same identity, and a
// replaced identity, likewise.
func testRegister(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	got, err := s.Register(ctx, registration("alice", "id-1", nil, token("t1")))
	if err != nil || got.Device != 1 || !got.NewUser || len(got.Revoked) != 0 {
		t.Fatalf("Register(new user) = %+v, %v", got, err)
	}
	u, err := s.User(ctx, "alice")
	if err != nil || string(u.Identity) != "id-1" || !u.Created.Equal(Epoch) {
		t.Fatalf("user after Register: %+v, %v", u, err)
	}
	d, err := s.Device(ctx, addr.Address{User: "alice", Device: 1})
	if err != nil || !bytes.Equal(d.Key, []byte("key of a device of alice")) {
		t.Fatalf("device after Register: %+v, %v", d, err)
	}
	wantErr(t, "token after Register", s.UseToken(ctx, token("t1").Hash, Epoch.Add(time.Hour)), store.ErrTokenUsed)

	// Another device of the same identity, without a token.
	got, err = s.Register(ctx, registration("alice", "ignored", []byte("id-1"), nil))
	if err != nil || got.Device != 2 || got.NewUser {
		t.Fatalf("Register(second device) = %+v, %v", got, err)
	}
	bob := e.user("bob")
	e.stored(msg(bob, addr.Address{User: "alice", Device: 1}, "queued for the old identity"))

	// A new identity replaces the old: its devices and mailboxes go, and
	// device IDs are not reused.
	r := registration("alice", "id-2", []byte("id-1"), token("t2"))
	r.Replace = true
	got, err = s.Register(ctx, r)
	if err != nil || got.Device != 3 || got.NewUser || fmt.Sprint(got.Revoked) != "[1 2]" {
		t.Fatalf("Register(replace) = %+v, %v", got, err)
	}
	if u, _ := s.User(ctx, "alice"); string(u.Identity) != "id-2" {
		t.Errorf("identity after replacement: %q", u.Identity)
	}
	if devs, _ := s.Devices(ctx, "alice"); len(devs) != 1 || devs[0].Address.Device != 3 {
		t.Errorf("devices after replacement: %v", devs)
	}
	if _, err := s.MailboxLen(ctx, addr.Address{User: "alice", Device: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked device's mailbox: %v", err)
	}
	e.reopen() // durable
	if devs, _ := e.s.Devices(ctx, "alice"); len(devs) != 1 {
		t.Errorf("after a restart: %v", devs)
	}
}

// testRegisterChangesNothingOnFailure: every refused registration leaves
// the user, its devices and the token as they were. The last case is the
// one that used to burn a token: the user was created by a concurrent
// registration between the caller's read and its write.
func testRegisterChangesNothingOnFailure(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	if _, err := s.Register(ctx, registration("alice", "id-1", nil, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseToken(ctx, token("used").Hash, Epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	limited := registration("alice", "", []byte("id-1"), token("t-limit"))
	limited.MaxDevices = 1
	replaceGone := registration("nobody", "id-x", []byte("id-0"), token("t-gone"))
	replaceGone.Replace = true
	for _, tc := range []struct {
		name string
		r    store.Registration
		want error
	}{
		{"used token", registration("carol", "id-c", nil, token("used")), store.ErrTokenUsed},
		{"device limit", limited, store.ErrLimit},
		{"identity not as read", registration("alice", "", []byte("id-other"), token("t-stale")), store.ErrConflict},
		{"user gone", replaceGone, store.ErrConflict},
		{"user created meanwhile", registration("alice", "id-9", nil, token("t-race")), store.ErrConflict},
	} {
		_, err := s.Register(ctx, tc.r)
		wantErr(t, tc.name, err, tc.want)
		if _, err := s.User(ctx, tc.r.User.ID); tc.r.User.ID != "alice" && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: user %s exists: %v", tc.name, tc.r.User.ID, err)
		}
		if tc.r.Token != nil && tc.want != store.ErrTokenUsed {
			e.tokenUnused(tc.name, tc.r.Token)
		}
	}
	if u, _ := s.User(ctx, "alice"); string(u.Identity) != "id-1" {
		t.Errorf("alice's identity: %q", u.Identity)
	}
	if devs, _ := s.Devices(ctx, "alice"); len(devs) != 1 {
		t.Errorf("alice has %d devices, want 1", len(devs))
	}
	bad := registration("alice", "", []byte("id-1"), nil)
	bad.Device.Key = nil
	_, err := s.Register(ctx, bad)
	wantErr(t, "no device key", err, store.ErrInvalid)
	bad = registration("Alice!", "id", nil, nil)
	_, err = s.Register(ctx, bad)
	wantErr(t, "invalid user", err, store.ErrInvalid)
	bad = registration("dave", "id", nil, nil)
	bad.Replace = true
	_, err = s.Register(ctx, bad)
	wantErr(t, "replace without current", err, store.ErrInvalid)
}

// testRegisterConcurrent: many registrations of one new user at once,
// each with its own token: exactly one creates it; every other fails with
// ErrConflict and keeps its token.
func testRegisterConcurrent(t *testing.T, e *env) {
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.s.Register(e.ctx, registration("alice", fmt.Sprint("id-", i), nil, token(fmt.Sprint("t", i))))
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict):
			e.tokenUnused(fmt.Sprint("loser ", i), token(fmt.Sprint("t", i)))
		default:
			t.Errorf("registration %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations created the user, want 1", won)
	}
	if devs, _ := e.s.Devices(e.ctx, "alice"); len(devs) != 1 {
		t.Errorf("alice has %d devices, want 1", len(devs))
	}
}
