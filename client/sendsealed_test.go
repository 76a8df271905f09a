package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/wire"
	"parley.dev/server/servertest"
)

// TestSendManySealed: into a conversation with sessions, a burst (and a
// Send) is sealed before it is stored (the sealed path) and arrives in
// order; a burst the relay does not answer waits sealed in the outbox
// and is delivered once by the next flush; a burst behind an older queued
// message takes the queued path, so it never overtakes it.
func TestSendManySealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "first") // bob's identity stored, a session started
	sealed := client.SealedBursts(alice)

	wantSent(t, alice, []string{"a", "b", "c"})
	send(t, alice, "bob", "single") // Send takes the sealed path too
	if n := client.SealedBursts(alice); n != sealed+2 {
		t.Fatalf("%d sends took the sealed path, want 2", n-sealed)
	}
	sealed += 2
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first", "a", "b", "c", "single")

	// The relay stores nothing and answers nothing: the sealed burst waits.
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		return make([]*wire.SubmitResult, len(subs))
	})
	res, err := alice.SendMany(ctx, "bob", []string{"d", "e"})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if !errors.Is(x.Err, client.ErrQueued) {
			t.Fatalf("unanswered, result %d: %v, want ErrQueued", i, x.Err)
		}
	}
	if n := client.SealedBursts(alice); n != sealed+1 {
		t.Fatalf("%d bursts took the sealed path, want 1", n-sealed)
	}
	client.InterceptSubmits(alice, nil)
	syncNow(t, alice)
	syncNow(t, alice) // a second flush finds nothing left to send
	wantTexts(t, "bob's messages after the flush", texts(syncNow(t, bob), client.EventMessage), "d", "e")

	// The relay answers half a burst (its answers stand in for the relay,
	// which gets nothing): the answered half leaves the burst's record, the
	// rest is resubmitted by the next flush, once.
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs {
			if i%2 == 0 {
				res[i] = &wire.SubmitResult{To: s.To, ID: s.ID}
			}
		}
		return res
	})
	res, err = alice.SendMany(ctx, "bob", []string{"p0", "p1", "p2", "p3"})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if queued := errors.Is(x.Err, client.ErrQueued); (x.Err == nil) != (i%2 == 0) || (x.Err != nil && !queued) {
			t.Fatalf("half answered, result %d: %v", i, x.Err)
		}
	}
	client.InterceptSubmits(alice, nil)
	syncNow(t, alice)
	syncNow(t, alice)
	wantTexts(t, "bob's messages after half a burst", texts(syncNow(t, bob), client.EventMessage), "p1", "p3")

	// An older message waits in the outbox: the burst queues behind it.
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs {
			res[i] = &wire.SubmitResult{To: s.To, ID: s.ID, Code: wire.CodeUnavailable}
		}
		return res
	})
	if _, err := alice.Send(ctx, "bob", "older"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("Send while the relay refuses: %v, want ErrQueued", err)
	}
	client.InterceptSubmits(alice, nil)
	before := client.SealedBursts(alice) // Send took the sealed path too
	wantSent(t, alice, []string{"g", "h"})
	if client.SealedBursts(alice) != before {
		t.Fatalf("a burst behind a queued message took the sealed path")
	}
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "older", "g", "h")
	for _, m := range history(t, alice, "bob") {
		if m.Status != client.StatusSent {
			t.Fatalf("alice's %q is %v, want sent", m.Text, m.Status)
		}
	}
}

// wantSent sends texts from c to bob in one burst and fails unless each
// is sent.
func wantSent(t *testing.T, c *client.Client, burst []string) {
	t.Helper()
	res, err := c.SendMany(context.Background(), "bob", burst)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if x.Err != nil {
			t.Fatalf("result %d: %v, want sent", i, x.Err)
		}
	}
}

// TestSealedBurstExpiresWhileSending: messages of a burst that the sweep
// deletes (their timer ran out) while the relay is answering stay deleted:
// recording the relay's answers writes nothing back.
func TestSealedBurstExpiresWhileSending(t *testing.T) {
	t.Parallel()
	clock, alice, _ := timedPair(t, time.Minute)
	send(t, alice, "bob", "first") // the contact and a session
	sealed := client.SealedBursts(alice)
	swept := false
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		if !swept { // the first burst's timer runs out while it is sent
			swept = true
			clock.Advance(2 * time.Minute)
			if err := client.SweepNow(alice); err != nil {
				t.Error(err)
			}
		}
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs {
			res[i] = &wire.SubmitResult{To: s.To, ID: s.ID}
		}
		return res
	})
	gone, err := alice.SendMany(context.Background(), "bob", []string{"gone 1", "gone 2"})
	if err != nil {
		t.Fatal(err)
	}
	if client.SealedBursts(alice) != sealed+1 {
		t.Fatal("the burst did not take the sealed path")
	}
	if h, err := alice.History(context.Background(), "bob"); err != nil || len(h) != 0 {
		t.Fatalf("alice's history after the timer ran out: %d messages, %v; want none", len(h), err)
	}
	// No event reports the deleted messages as sent: the events held for
	// Listen end with the next message's.
	events, _ := listen(t, alice)
	last := send(t, alice, "bob", "after")
	for e := next(t, events, client.EventSent); e.Message.ID != last; e = next(t, events, client.EventSent) {
		for _, g := range gone {
			if e.Message.ID == g.ID {
				t.Fatalf("an event reports the deleted message %v as sent", g.ID)
			}
		}
	}
}

// TestStatusesAsShown: a message the relay stored shows as sent (in
// SendMany's results, in History, after a restart), though recording the
// relay's answer leaves its history record as stored; one the relay has
// not answered for shows as queued until a flush sends it; one the relay
// refused for every device shows as failed.
func TestStatusesAsShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "first")
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs { // one device each: a submit per message
			switch i {
			case 0, 3:
				res[i] = &wire.SubmitResult{To: s.To, ID: s.ID}
			case 2:
				res[i] = &wire.SubmitResult{To: s.To, ID: s.ID, Code: wire.CodeTooLarge}
			}
		}
		return res
	})
	burst := []string{"stored", "unanswered", "refused", "stored too"}
	res, err := alice.SendMany(ctx, "bob", burst)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, client.ErrQueued) || !errors.Is(res[2].Err, client.ErrUnknownUser) || res[3].Err != nil {
		t.Fatalf("results: %v, %v, %v, %v; want sent, queued, failed, sent", res[0].Err, res[1].Err, res[2].Err, res[3].Err)
	}
	want := map[string]client.Status{"first": client.StatusSent, "stored": client.StatusSent,
		"unanswered": client.StatusQueued, "refused": client.StatusFailed, "stored too": client.StatusSent}
	wantStatuses(t, "after the burst", alice, want)
	alice = reopen(t, alice)
	wantStatuses(t, "after a restart", alice, want)
	syncNow(t, alice) // the relay itself now: the unanswered message goes out
	want["unanswered"] = client.StatusSent
	wantStatuses(t, "after the flush", alice, want)
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first", "unanswered")
}

func wantStatuses(t *testing.T, when string, c *client.Client, want map[string]client.Status) {
	t.Helper()
	h := history(t, c, "bob")
	if len(h) != len(want) {
		t.Fatalf("%s: %d messages, want %d", when, len(h), len(want))
	}
	for _, m := range h {
		if m.Status != want[m.Text] {
			t.Errorf("%s: %q is %v, want %v", when, m.Text, m.Status, want[m.Text])
		}
	}
}

// TestSweptMessagesStayUnsent: messages the sweep deletes (their timer ran
// out) while the relay is answering, which it has not stored, leave the
// outbox for good. Recording the relay's answers rewrites the outbox
// records the flush read before the sweep; written back as read, they
// would hold the deleted messages again and the next flush would send
// them. Both kinds of record: a sealed burst's, and one message's, queued
// behind it.
func TestSweptMessagesStayUnsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock, alice, _ := timedPair(t, time.Minute)
	send(t, alice, "bob", "first") // the contact and a session
	unanswered := func(subs []*wire.Submit) []*wire.SubmitResult { return make([]*wire.SubmitResult, len(subs)) }
	client.InterceptSubmits(alice, unanswered)
	if _, err := alice.SendMany(ctx, "bob", []string{"burst 1", "burst 2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "queued behind"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("Send behind unanswered messages: %v, want ErrQueued", err)
	}
	swept := false
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		if !swept { // their timers run out while the flush submits them
			swept = true
			clock.Advance(2 * time.Minute)
			if err := client.SweepNow(alice); err != nil {
				t.Error(err)
			}
		}
		return unanswered(subs)
	})
	syncNow(t, alice)
	if !swept {
		t.Fatal("the flush submitted nothing")
	}
	var resent int
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		resent += len(subs)
		return unanswered(subs)
	})
	syncNow(t, alice)
	if resent != 0 {
		t.Fatalf("the next flush submitted %d envelopes of deleted messages", resent)
	}
}

// TestSweptMessagesAreNotSubmitted: messages the sweep deletes while a
// flush is busy with another recipient's are not submitted by that flush,
// though it read them, already sealed, before the sweep.
func TestSweptMessagesAreNotSubmitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, clock, alice := carolThenTimedBob(t)
	unanswered := func(subs []*wire.Submit) []*wire.SubmitResult { return make([]*wire.SubmitResult, len(subs)) }
	client.InterceptSubmits(alice, unanswered)
	if _, err := alice.Send(ctx, "carol", "first in the outbox"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("Send unanswered: %v, want ErrQueued", err)
	}
	clock.Advance(time.Millisecond) // bob's messages after carol's, in the outbox's order
	if _, err := alice.SendMany(ctx, "bob", []string{"timed 1", "timed 2"}); err != nil {
		t.Fatal(err)
	}
	wantNoneToBob(t, clock, alice)
}

// TestSweptMessagesAreNotSealed: messages still waiting to be encrypted
// that the sweep deletes while a flush is busy with another recipient's
// are neither encrypted (which would advance the sessions past them) nor
// stored back, nor submitted.
func TestSweptMessagesAreNotSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, clock, alice := carolThenTimedBob(t)
	r.Stop(t) // what alice sends now waits unencrypted
	if _, err := alice.Send(ctx, "carol", "first in the outbox"); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("Send while the relay is down: %v, want ErrUnreachable", err)
	}
	clock.Advance(time.Millisecond) // bob's messages after carol's, in the outbox's order
	if _, err := alice.SendMany(ctx, "bob", []string{"timed 1", "timed 2"}); err != nil {
		t.Fatal(err)
	}
	r.Restart(t)
	wantNoneToBob(t, clock, alice)
}

// carolThenTimedBob registers alice, bob and carol on a clock, gives
// alice's conversation with bob a one-minute timer, and sessions with
// both.
func carolThenTimedBob(t *testing.T) (*servertest.Relay, *testClock, *client.Client) {
	t.Helper()
	r := startRelay(t)
	clock := &testClock{now: time.Now()}
	alice := register(t, r, "alice", clocked(clock))
	register(t, r, "bob", clocked(clock))
	register(t, r, "carol", clocked(clock))
	if err := alice.SetTimer(context.Background(), "bob", time.Minute); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "carol", "hello carol")
	send(t, alice, "bob", "hello bob")
	return r, clock, alice
}

// wantNoneToBob flushes alice's outbox twice, the relay answering nothing,
// with bob's timers running out (and the sweep running) at the first
// submission, carol's; it fails if any envelope to bob is submitted.
func wantNoneToBob(t *testing.T, clock *testClock, alice *client.Client) {
	t.Helper()
	swept, toBob := false, 0
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		for _, s := range subs {
			if s.To.User == "bob" {
				toBob++
			}
		}
		if !swept {
			swept = true
			clock.Advance(2 * time.Minute)
			if err := client.SweepNow(alice); err != nil {
				t.Error(err)
			}
		}
		return make([]*wire.SubmitResult, len(subs))
	})
	syncNow(t, alice)
	syncNow(t, alice)
	if !swept {
		t.Fatal("the flush submitted nothing")
	}
	if toBob != 0 {
		t.Fatalf("%d envelopes of deleted messages were submitted", toBob)
	}
}
