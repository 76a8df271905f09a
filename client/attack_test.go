package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
)

// recorder captures the envelopes a client submits.
type recorder struct {
	mu   sync.Mutex
	subs []*wire.Submit
}

func (r *recorder) add(subs []*wire.Submit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		r.subs = append(r.subs, &wire.Submit{To: s.To, ID: s.ID, Payload: bytes.Clone(s.Payload)})
	}
}

func (r *recorder) all() []*wire.Submit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.subs)
}

// record makes c's submissions go to the relay as usual, keeping a copy.
func record(t *testing.T, c *client.Client) *recorder {
	rec := &recorder{}
	client.InterceptSubmits(c, func(subs []*wire.Submit) []*wire.SubmitResult {
		rec.add(subs)
		res, err := client.SubmitRaw(context.Background(), c, subs)
		if err != nil {
			t.Errorf("submit: %v", err)
		}
		return res
	})
	return rec
}

// hold makes c's submissions go nowhere (the "relay" keeps them), while
// c believes them stored.
func hold(c *client.Client) *recorder {
	rec := &recorder{}
	client.InterceptSubmits(c, func(subs []*wire.Submit) []*wire.SubmitResult {
		rec.add(subs)
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs {
			res[i] = &wire.SubmitResult{To: s.To, ID: s.ID, Code: wire.CodeOK}
		}
		return res
	})
	return rec
}

// replay submits captured envelopes again, as the relay (or anyone with
// a copy and the sender's connection) could.
func replay(t *testing.T, as *client.Client, subs []*wire.Submit) {
	t.Helper()
	res, err := client.SubmitRaw(context.Background(), as, subs)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	for _, r := range res {
		if r.Code != wire.CodeOK {
			t.Fatalf("replay refused: %v", r.Err())
		}
	}
}

func kinds(evs []client.Event, k client.EventKind) []client.Event {
	var out []client.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// TestAttack02ReplayEnvelope: the same envelopes, the session's first
// message included, delivered again before and after a restart of the
// recipient, are shown once.
func TestAttack02ReplayEnvelope(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	rec := record(t, alice)
	send(t, alice, "bob", "first (a prekey message)")
	send(t, alice, "bob", "second")
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first (a prekey message)", "second")

	replay(t, alice, rec.all())
	evs := syncNow(t, bob)
	if len(kinds(evs, client.EventMessage)) != 0 || len(kinds(evs, client.EventError)) != 0 {
		t.Fatalf("replay before restart produced events: %+v", evs)
	}

	bob = reopen(t, bob)
	replay(t, alice, rec.all())
	evs = syncNow(t, bob)
	if len(kinds(evs, client.EventMessage)) != 0 || len(kinds(evs, client.EventError)) != 0 {
		t.Fatalf("replay after restart produced events: %+v", evs)
	}

	// After the conversation moved on (a reply, a new ratchet step), the
	// old envelopes are still duplicates.
	send(t, bob, "alice", "reply")
	syncNow(t, alice)
	send(t, alice, "bob", "third")
	replay(t, alice, rec.all())
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "third")
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "first (a prekey message)", "second", "reply", "third")
}

// TestAttack03RelayReordersDropsDuplicates drives alice's envelopes to bob
// through a relay that reorders, duplicates and drops them, across a
// ratchet step: every surviving message is shown exactly once.
func TestAttack03RelayReordersDropsDuplicates(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	evil := hold(alice)
	rng := rand.New(rand.NewPCG(3, 3))
	shown := map[string]int{}
	deliver := func(subs []*wire.Submit) {
		rng.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
		replay(t, alice, subs)
		evs := syncNow(t, bob)
		for _, s := range texts(evs, client.EventMessage) {
			shown[s]++
		}
		if errs := kinds(evs, client.EventError); len(errs) > 0 {
			t.Fatalf("errors: %v", errs[0].Err)
		}
	}

	var want []string
	for i := range 6 {
		s := "phase 1 message " + string(rune('a'+i))
		send(t, alice, "bob", s)
		want = append(want, s)
	}
	phase1 := evil.all()
	deliver([]*wire.Submit{phase1[4], phase1[1], phase1[4]}) // out of order, duplicated
	send(t, bob, "alice", "a reply, so alice's next messages start a new chain")
	syncNow(t, alice)
	for i := range 6 {
		s := "phase 2 message " + string(rune('a'+i))
		send(t, alice, "bob", s)
		want = append(want, s)
	}
	all := evil.all()
	dropped := map[int]bool{2: true, 9: true}
	var survivors []*wire.Submit
	for i, s := range all {
		if !dropped[i] {
			survivors = append(survivors, s)
		}
	}
	for range 4 { // random subsets, again and again
		var subset []*wire.Submit
		for _, s := range survivors {
			if rng.IntN(2) == 0 {
				subset = append(subset, s)
			}
		}
		deliver(subset)
	}
	deliver(slices.Clone(survivors)) // the relay finally delivers the rest (and repeats)
	deliver(slices.Clone(survivors))

	for i, s := range want {
		switch {
		case dropped[i] && shown[s] != 0:
			t.Errorf("dropped %q was shown", s)
		case !dropped[i] && shown[s] != 1:
			t.Errorf("%q shown %d times, want once", s, shown[s])
		}
	}
	h := historyTexts(t, bob, "alice")
	if len(h) != len(want)-len(dropped)+1 {
		t.Errorf("bob's history has %d messages, want %d", len(h), len(want)-len(dropped)+1)
	}
}

// TestCrashBetweenStoreAndAck: a message stored but not acknowledged is
// delivered again after a restart and not shown twice; a message whose
// store did not commit is delivered again and shown once.
func TestCrashBetweenStoreAndAck(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	for _, s := range []string{"one", "two", "three"} {
		send(t, alice, "bob", s)
	}
	client.DropAcks(bob, true)
	wantTexts(t, "before the crash", texts(syncNow(t, bob), client.EventMessage), "one", "two", "three")
	bob = reopen(t, bob)
	evs := syncNow(t, bob)
	if len(kinds(evs, client.EventMessage)) != 0 || len(kinds(evs, client.EventError)) != 0 {
		t.Fatalf("redelivery after the crash produced %+v", evs)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "one", "two", "three")

	send(t, alice, "bob", "four")
	client.FailStores(bob, 1)
	if _, err := bob.Sync(context.Background()); err == nil {
		t.Fatal("Sync with a failing store succeeded")
	}
	wantTexts(t, "history after the failed store", historyTexts(t, bob, "alice"), "one", "two", "three")
	bob = reopen(t, bob)
	wantTexts(t, "after the restart", texts(syncNow(t, bob), client.EventMessage), "four")
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "one", "two", "three", "four")
}

// TestUnannouncedMessageIsReported: bob's app dies right after a message
// is stored, before anything reported it. The relay delivers it again,
// which is now a duplicate; still the next Sync (or Listen) reports it,
// once, from its unread marker, and nothing after that reports it again.
func TestUnannouncedMessageIsReported(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "stored, then the app died")
	client.CrashAfterStore(bob, 1)
	if evs, err := bob.Sync(context.Background()); err == nil || len(evs) != 0 {
		t.Fatalf("Sync that crashed after the store: %+v, %v", evs, err)
	}
	bob = reopen(t, bob)
	wantTexts(t, "the next Sync", texts(syncNow(t, bob), client.EventMessage), "stored, then the app died")
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("reported again: %+v", evs)
	}

	send(t, alice, "bob", "again, then Listen")
	client.CrashAfterStore(bob, 1)
	bob.Sync(context.Background())
	bob = reopen(t, bob)
	events, stop := listen(t, bob)
	if e := next(t, events, client.EventMessage); e.Message.Text != "again, then Listen" {
		t.Fatalf("Listen reported %q", e.Message.Text)
	}
	next(t, events, client.EventSynced)
	stop()
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("reported again after Listen: %+v", evs)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "stored, then the app died", "again, then Listen")
}

// TestAttack05IdentitySwap: bob's identity is replaced (a re-registration
// with a token, which a malicious relay could also fake). Alice, who
// verified bob, gets an identity-change event and her sending is held
// until she accepts; carol, who did not verify him, is told and goes on.
func TestAttack05IdentitySwap(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	r := startRelay(t, func(s *server.Server) { s.Registration = server.RegisterToken; s.TokenKey = pub })
	ctx := context.Background()
	tokenFor := func(user string) client.RegisterOptions {
		tok, err := server.NewRegistrationToken(priv, addr.UserID(user), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return client.RegisterOptions{Token: tok}
	}
	reg := func(name string) *client.Client {
		c := newClient(t, r, name)
		if _, err := c.Register(ctx, name, tokenFor(name)); err != nil {
			t.Fatalf("Register(%s): %v", name, err)
		}
		return c
	}
	if _, err := newClient(t, r, "tokenless").Register(ctx, "tokenless", client.RegisterOptions{}); !errors.Is(err, client.ErrToken) {
		t.Fatalf("Register without a token: %v, want ErrToken", err)
	}
	alice, bob, carol := reg("alice"), reg("bob"), reg("carol")
	send(t, alice, "bob", "hello bob")
	send(t, carol, "bob", "hello bob, carol here")
	syncNow(t, bob)
	send(t, bob, "alice", "hi alice")
	syncNow(t, alice)

	nb, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Verify(ctx, "bob", nb.String()); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// Bob's identity is replaced; his old device is revoked.
	bob2 := newClient(t, r, "bob2")
	if _, err := bob2.Register(ctx, "bob", tokenFor("bob")); err != nil {
		t.Fatalf("re-registering bob: %v", err)
	}
	if _, err := bob.Sync(ctx); !errors.Is(err, client.ErrRevoked) {
		t.Errorf("the old device's Sync: %v, want ErrRevoked", err)
	}

	id, err := alice.Send(ctx, "bob", "are you still you?")
	wantErr(t, "Send to a verified contact whose identity changed", err, client.ErrIdentityChanged)
	if id == (client.MessageID{}) {
		t.Fatal("the held message was not kept")
	}
	evs := syncNow(t, alice)
	if ch := kinds(evs, client.EventIdentityChanged); len(ch) != 1 || ch[0].Identity.User != "bob" || !ch[0].Identity.Held {
		t.Fatalf("alice's events = %+v, want one held identity change for bob", evs)
	}
	if _, err := alice.Send(ctx, "bob", "again"); !errors.Is(err, client.ErrIdentityChanged) {
		t.Fatalf("second Send: %v, want ErrIdentityChanged", err)
	}
	cs, _ := alice.Contacts(ctx)
	if len(cs) != 1 || !cs[0].Held || !cs[0].Verified {
		t.Fatalf("alice's contacts = %+v", cs)
	}
	if got := texts(syncNow(t, bob2), client.EventMessage); len(got) != 0 {
		t.Fatalf("held messages reached the new identity: %q", got)
	}

	// A message from the new identity is shown, marked.
	send(t, bob2, "alice", "it's me, new phone")
	evs = syncNow(t, alice)
	if ms := kinds(evs, client.EventMessage); len(ms) != 1 || !ms[0].Message.NewIdentity {
		t.Fatalf("alice's events = %+v, want one message marked NewIdentity", evs)
	}

	// A burst, now that alice has a session under the new identity: still
	// held, and nothing is stored.
	if _, err := alice.SendMany(ctx, "bob", []string{"burst while held"}); !errors.Is(err, client.ErrIdentityChanged) {
		t.Fatalf("SendMany while held: %v, want ErrIdentityChanged", err)
	}

	// Carol never verified bob: she is told, and her message (a burst, which
	// cannot take the sealed path under a changed identity) goes out.
	if res, err := carol.SendMany(ctx, "bob", []string{"carol again"}); err != nil || res[0].Err != nil {
		t.Fatalf("carol's SendMany: %v, %+v", err, res)
	}
	if ch := kinds(syncNow(t, carol), client.EventIdentityChanged); len(ch) != 1 || ch[0].Identity.Held {
		t.Fatalf("carol's identity events = %+v, want one, not held", ch)
	}

	// Alice compares again: the old number no longer verifies.
	if err := alice.Verify(ctx, "bob", nb.String()); !errors.Is(err, client.ErrSafetyMismatch) {
		t.Fatalf("Verify with the old number: %v, want ErrSafetyMismatch", err)
	}
	if err := alice.AcceptIdentity(ctx, "bob"); err != nil {
		t.Fatalf("AcceptIdentity: %v", err)
	}
	got := texts(syncNow(t, bob2), client.EventMessage)
	sort.Strings(got)
	wantTexts(t, "bob2's messages", got, "are you still you?", "carol again")
	cs, _ = alice.Contacts(ctx)
	if cs[0].Held || cs[0].Verified {
		t.Fatalf("after accepting: %+v", cs[0])
	}
	send(t, alice, "bob", "welcome back")
	h, _ := alice.History(ctx, "bob")
	for _, m := range h {
		if m.Outgoing && m.Status != client.StatusSent {
			t.Errorf("%q is %v", m.Text, m.Status)
		}
	}
}
