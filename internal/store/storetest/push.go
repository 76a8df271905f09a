package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// Push tokens and the shared wake-up window (store.PushStore).

func (e *env) push(dev addr.Address) (store.PushToken, error) { return e.s.Push(e.ctx, dev) }

func (e *env) setPush(dev addr.Address, platform, token string) {
	e.t.Helper()
	if err := e.s.SetPush(e.ctx, dev, store.PushToken{Platform: platform, Token: token}); err != nil {
		e.t.Fatalf("SetPush: %v", err)
	}
}

func (e *env) claim(dev addr.Address, window time.Duration) bool {
	e.t.Helper()
	p, ok, err := e.s.ClaimPush(e.ctx, dev, e.clock.Now(), window)
	if err != nil {
		e.t.Fatalf("ClaimPush: %v", err)
	}
	if ok && (p.Token == "" || !p.LastPush.Equal(e.clock.Now())) {
		e.t.Fatalf("ClaimPush claimed %+v", p)
	}
	return ok
}

func testPushTokens(t *testing.T, e *env) {
	ctx := e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	wantErr(t, "no token yet", func() error { _, err := e.push(alice); return err }(), store.ErrNotFound)
	e.setPush(alice, "fcm", "tok-1")
	p, err := e.push(alice)
	if err != nil || p.Platform != "fcm" || p.Token != "tok-1" || !p.Updated.Equal(Epoch) || !p.LastPush.IsZero() {
		t.Fatalf("Push = %+v, %v", p, err)
	}
	e.clock.Advance(time.Second)
	e.setPush(alice, "apns", "tok-2")
	if p, _ := e.push(alice); p.Platform != "apns" || p.Token != "tok-2" || !p.Updated.Equal(Epoch.Add(time.Second)) {
		t.Fatalf("replaced token = %+v", p)
	}
	wantErr(t, "unknown device", e.s.SetPush(ctx, addr.Address{User: "alice", Device: 9}, store.PushToken{Platform: "fcm", Token: "t"}), store.ErrNotFound)
	for name, bad := range map[string]store.PushToken{
		"empty token":    {Platform: "fcm"},
		"empty platform": {Token: "t"},
		"long token":     {Platform: "fcm", Token: strings.Repeat("t", store.MaxPushTokenLen+1)},
		"long platform":  {Platform: strings.Repeat("p", store.MaxPushPlatformLen+1), Token: "t"},
	} {
		wantErr(t, name, e.s.SetPush(ctx, bob, bad), store.ErrInvalid)
	}
	if _, err := e.push(bob); err == nil {
		t.Fatal("a refused token was stored")
	}
	if had, err := e.s.ClearPush(ctx, alice); err != nil || !had {
		t.Fatalf("ClearPush = %v, %v", had, err)
	}
	if had, err := e.s.ClearPush(ctx, alice); err != nil || had {
		t.Fatalf("second ClearPush = %v, %v", had, err)
	}
	wantErr(t, "cleared", func() error { _, err := e.push(alice); return err }(), store.ErrNotFound)
}

func testPushWindow(t *testing.T, e *env) {
	const window = 30 * time.Second
	alice, bob := e.user("alice"), e.user("bob")
	if e.claim(bob, window) {
		t.Fatal("claimed a wake-up of a device without a token")
	}
	e.setPush(alice, "fcm", "tok")
	if !e.claim(alice, window) {
		t.Fatal("first claim refused")
	}
	e.clock.Advance(window - time.Microsecond)
	if e.claim(alice, window) {
		t.Fatal("claimed twice within the window")
	}
	e.clock.Advance(time.Microsecond)
	if !e.claim(alice, window) {
		t.Fatal("claim refused once the window passed")
	}
	if err := e.s.ResetPush(e.ctx, alice); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.push(alice); !p.LastPush.IsZero() {
		t.Fatalf("after ResetPush, LastPush = %v", p.LastPush)
	}
	if !e.claim(alice, window) {
		t.Fatal("claim refused after a reset")
	}
	e.setPush(alice, "fcm", "tok-new")
	if !e.claim(alice, window) {
		t.Fatal("claim refused after a new token")
	}
	if err := e.s.ResetPush(e.ctx, bob); err != nil {
		t.Fatalf("ResetPush of a device without a token: %v", err)
	}
}

// testPushClaimConcurrent: claims racing (as on several relay nodes)
// win one wake-up between them.
func testPushClaimConcurrent(t *testing.T, e *env) {
	alice := e.user("alice")
	e.setPush(alice, "apns", "abcd")
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, ok, err := e.s.ClaimPush(e.ctx, alice, e.clock.Now(), 30*time.Second)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d concurrent claims won, want 1", won.Load())
	}
}

func testPushGoesWithDevice(t *testing.T, e *env) {
	ctx := e.ctx
	alice, alice2 := e.user("alice"), e.device("alice")
	e.setPush(alice, "fcm", "a1")
	e.setPush(alice2, "fcm", "a2")
	if err := e.s.RevokeDevice(ctx, alice2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.push(alice2); err == nil {
		t.Fatal("a revoked device's push token survived")
	}
	if e.claim(alice2, time.Second) {
		t.Fatal("claimed a wake-up of a revoked device")
	}
	if _, err := e.s.ReplaceIdentity(ctx, store.User{ID: "alice", Identity: []byte("new identity")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.push(alice); err == nil {
		t.Fatal("a push token survived its user's identity replacement")
	}
}
