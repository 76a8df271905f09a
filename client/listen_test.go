package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/server"
)

// waitTimeout bounds how long a test waits for an event before it fails;
// it never decides an outcome.
const waitTimeout = 20 * time.Second

// listen runs c.Listen until the test ends and returns its events.
func listen(t *testing.T, c *client.Client) (<-chan client.Event, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan client.Event, 100)
	done := make(chan error, 1)
	go func() { done <- c.Listen(ctx, func(e client.Event) { events <- e }) }()
	var once sync.Once
	var err error
	stop := func() error { once.Do(func() { cancel(); err = <-done }); return err }
	t.Cleanup(func() { stop() })
	return events, stop
}

// next waits for the next event of kind k, skipping others.
func next(t *testing.T, events <-chan client.Event, k client.EventKind) client.Event {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case e := <-events:
			if e.Kind == k {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v event within %v", k, waitTimeout)
		}
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	client.SetBackoff(bob, 10*time.Millisecond)
	send(t, alice, "bob", "waiting before bob listens")
	events, stop := listen(t, bob)
	if e := next(t, events, client.EventMessage); e.Message.Text != "waiting before bob listens" {
		t.Fatalf("first message = %q", e.Message.Text)
	}
	next(t, events, client.EventSynced)

	send(t, alice, "bob", "live")
	if e := next(t, events, client.EventMessage); e.Message.Text != "live" {
		t.Fatalf("live message = %q", e.Message.Text)
	}
	send(t, bob, "alice", "sent over Listen's connection")
	wantTexts(t, "alice's messages", texts(syncNow(t, alice), client.EventMessage), "sent over Listen's connection")
	if _, err := bob.Sync(context.Background()); !errors.Is(err, client.ErrListening) {
		t.Fatalf("Sync during Listen: %v, want ErrListening", err)
	}

	// The relay restarts: Listen reports the loss and reconnects.
	r.Restart(t)
	if e := next(t, events, client.EventError); !errors.Is(e.Err, client.ErrUnreachable) {
		t.Fatalf("error event = %v, want ErrUnreachable", e.Err)
	}
	next(t, events, client.EventSynced)
	send(t, alice, "bob", "after the restart")
	if e := next(t, events, client.EventMessage); e.Message.Text != "after the restart" {
		t.Fatalf("message after restart = %q", e.Message.Text)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Listen returned %v, want context.Canceled", err)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"),
		"waiting before bob listens", "live", "sent over Listen's connection", "after the restart")
}

// TestPreKeyReplenishment: when a sender takes one-time prekeys and the
// relay signals they run low, the device uploads more, on Sync and live
// on Listen.
func TestPreKeyReplenishment(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(s *server.Server) { s.PreKeyLowWater = 100 })
	ctx := context.Background()
	alice, carol := register(t, r, "alice"), register(t, r, "carol")
	bob := newClient(t, r, "bob")
	client.SetOneTimePreKeys(bob, 0) // the production default, 100
	if _, err := bob.Register(ctx, "bob", client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := client.PreKeyStatus(ctx, bob)
	if err != nil || st.OneTimeEC != 100 || st.OneTimeKEM != 100 {
		t.Fatalf("after Register: %+v, %v; want 100 of each", st, err)
	}
	send(t, alice, "bob", "takes a one-time key of each kind")
	if st, _ := client.PreKeyStatus(ctx, bob); st.OneTimeEC != 99 || st.OneTimeKEM != 99 {
		t.Fatalf("after a bundle was taken: %+v", st)
	}
	syncNow(t, bob)
	if st, _ := client.PreKeyStatus(ctx, bob); st.OneTimeEC != 100 || st.OneTimeKEM != 100 {
		t.Fatalf("after bob's Sync: %+v, want 100 of each", st)
	}

	events, _ := listen(t, bob)
	next(t, events, client.EventSynced)
	send(t, carol, "bob", "takes another")
	next(t, events, client.EventMessage)
	deadline := time.Now().Add(waitTimeout)
	for {
		st, err := client.PreKeyStatus(ctx, bob)
		if err == nil && st.OneTimeEC == 100 && st.OneTimeKEM == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while listening: %+v, %v; want 100 of each", st, err)
		}
		time.Sleep(10 * time.Millisecond) // polls the relay; decides nothing
	}
}
