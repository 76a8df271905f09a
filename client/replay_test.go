package client_test

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/wire"
)

// logRecorder is an slog handler keeping every record's message, for
// tests that check what a client reported.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, b.String())
	return nil
}

// count returns how many records so far contain s, and forgets them.
func (l *logRecorder) take(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	l.msgs = nil
	return n
}

// logged makes a Client log to rec.
func logged(rec *logRecorder) func(*client.Client) {
	return func(c *client.Client) { c.Logger = slog.New(rec) }
}

// TestAttack02ReplayedFirstMessageChangesNothing: the relay keeps a
// session's first message and delivers it again once that session has
// left the recipient's list (after 5 newer sessions from the same device),
// and again after a restart. The first message used neither one-time
// prekey, so the recipient still holds every key it needs to start the
// session again. Nothing is stored or evicted; the replay is acknowledged
// and reported as a duplicate.
func TestAttack02ReplayedFirstMessageChangesNothing(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	logs := &logRecorder{}
	alice := register(t, r, "alice")
	bob := register(t, r, "bob", logged(logs))
	bobAddr, _ := bob.Address()
	// Use up bob's one-time prekeys: the first message then rests on the
	// signed and last-resort prekeys alone, which stay.
	if err := client.TakeBundles(ctx, alice, bobAddr, testOneTimePreKeys); err != nil {
		t.Fatal(err)
	}
	rec := record(t, alice)
	send(t, alice, "bob", "first (a prekey message)")
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first (a prekey message)")
	first := rec.all()[0]

	for i := range 5 {
		if err := client.ForgetSessions(alice, "bob"); err != nil {
			t.Fatal(err)
		}
		s := "newer session " + string(rune('a'+i))
		send(t, alice, "bob", s)
		wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), s)
	}
	sessions := client.SessionBaseKeys(bob, "alice")
	aliceAddr, _ := alice.Address()
	if l := sessions[aliceAddr.String()]; len(l) != 4 {
		t.Fatalf("bob has no sessions with alice: %v", sessions)
	}
	history := historyTexts(t, bob, "alice")

	check := func(when string) {
		t.Helper()
		logs.take("")
		replay(t, alice, []*wire.Submit{first})
		evs := syncNow(t, bob)
		if len(evs) != 0 {
			t.Fatalf("%s: the replay produced events %+v", when, evs)
		}
		if n := logs.take("duplicate dropped"); n != 1 {
			t.Fatalf("%s: %d duplicates reported, want 1", when, n)
		}
		if got := client.SessionBaseKeys(bob, "alice"); !maps.EqualFunc(got, sessions, slices.Equal) {
			t.Fatalf("%s: bob's sessions changed:\n got %v\nwant %v", when, got, sessions)
		}
		wantTexts(t, when+": bob's history", historyTexts(t, bob, "alice"), history...)
		// Acknowledged: the relay does not deliver it again.
		syncNow(t, bob)
		if n := logs.take("duplicate dropped"); n != 0 {
			t.Fatalf("%s: the replay was delivered again (%d), so it was not acknowledged", when, n)
		}
	}
	check("before a restart")
	bob = reopenLogged(t, bob, logs)
	check("after a restart")

	// The newest sessions still work both ways.
	send(t, alice, "bob", "still here")
	wantTexts(t, "after the replays", texts(syncNow(t, bob), client.EventMessage), "still here")
	send(t, bob, "alice", "and a reply")
	wantTexts(t, "alice", texts(syncNow(t, alice), client.EventMessage), "and a reply")
}

// reopenLogged is reopen for a Client whose logs go to rec.
func reopenLogged(t *testing.T, c *client.Client, rec *logRecorder) *client.Client {
	t.Helper()
	c.Close()
	c2 := &client.Client{Home: c.Home, Logger: slog.New(rec)}
	if err := c2.Unlock(context.Background(), testPIN); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	t.Cleanup(func() { c2.Close() })
	return c2
}

// TestReplayedFirstMessageAfterItsLifetime: the record of a first message
// lives as long as the signed prekey it named. Once that prekey is
// deleted (rotated out, then kept preKeyGrace longer), the record is
// pruned and a replay still starts nothing: the prekey's secret is gone.
// Its message ID is stored, so it is dropped as a duplicate.
func TestReplayedFirstMessageAfterItsLifetime(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	clock := &testClock{now: time.Now()}
	bob := register(t, r, "bob", clocked(clock))
	bobAddr, _ := bob.Address()
	alice := register(t, r, "alice")
	aliceAddr, _ := alice.Address()
	if err := client.TakeBundles(ctx, alice, bobAddr, testOneTimePreKeys); err != nil {
		t.Fatal(err)
	}
	rec := record(t, alice)
	send(t, alice, "bob", "first")
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first")
	if n := client.AcceptedFirstMessages(bob, aliceAddr); n != 1 {
		t.Fatalf("bob remembers %d first messages from alice, want 1", n)
	}
	sessions := client.SessionBaseKeys(bob, "alice")

	clock.Advance(8 * 24 * time.Hour) // signed prekey 1 retired
	syncNow(t, bob)
	clock.Advance(40 * 24 * time.Hour) // and deleted
	syncNow(t, bob)
	if ids := client.SignedPreKeyIDs(bob); slices.Contains(ids, 1) {
		t.Fatalf("signed prekey 1 still kept: %v", ids)
	}
	if n := client.AcceptedFirstMessages(bob, aliceAddr); n != 0 {
		t.Fatalf("bob still remembers %d first messages under a deleted signed prekey", n)
	}
	if err := client.ForgetSessions(bob, "alice"); err != nil { // even with its session gone
		t.Fatal(err)
	}
	replay(t, alice, rec.all()[:1])
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("replay after its lifetime: events %+v, want none (its ID is stored: a duplicate)", evs)
	}
	if got := client.SessionBaseKeys(bob, "alice"); len(got) != 0 {
		t.Fatalf("the replay started a session: %v (before: %v)", got, sessions)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "first")
}
