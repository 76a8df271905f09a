package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/push"
	"parley.dev/server"
)

// TestRegisterPush: a device's token reaches the relay through the SDK;
// a message for it while it is away wakes it through the gateway with
// only the token and platform; UnregisterPush stops that.
func TestRegisterPush(t *testing.T) {
	secret := []byte(strings.Repeat("s", push.MinSecret))
	v, err := push.NewVerifier(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bodies []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body); err != nil {
			t.Errorf("gateway: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
	}))
	defer gw.Close()
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
	r := startRelay(t, func(s *server.Server) { s.PushGateway, s.PushSecret, s.PushWindow = gw.URL, secret, time.Nanosecond })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	ctx := context.Background()

	for _, bad := range [][2]string{{"gcm", "t"}, {"fcm", ""}, {"apns", "a b"}, {"fcm", strings.Repeat("t", client.MaxPushToken+1)}} {
		if err := bob.RegisterPush(ctx, bad[0], bad[1]); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("RegisterPush(%q, %.10q) = %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
	if err := bob.RegisterPush(ctx, client.PushAPNs, "00ff00ff"); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "hello")
	deadline := time.Now().Add(10 * time.Second)
	for len(received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := received(); len(got) != 1 || got[0] != `{"platform":"apns","token":"00ff00ff"}` {
		t.Fatalf("gateway got %q", got)
	}
	if got := texts(syncNow(t, bob), client.EventMessage); len(got) != 1 || got[0] != "hello" {
		t.Fatalf("bob received %q", got)
	}

	if err := bob.UnregisterPush(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "again")
	if got := texts(syncNow(t, bob), client.EventMessage); len(got) != 1 {
		t.Fatalf("bob received %q", got)
	}
	if n := len(received()); n != 1 {
		t.Fatalf("gateway got %d wake-ups after UnregisterPush, want still 1", n)
	}

	plain := startRelay(t)
	carol := register(t, plain, "carol")
	if err := carol.RegisterPush(ctx, client.PushFCM, "t"); !errors.Is(err, client.ErrPushDisabled) {
		t.Fatalf("RegisterPush on a relay without a gateway = %v, want ErrPushDisabled", err)
	}
}
