package storetest

import (
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// testGroupEnvelopes: a group message is stored once per recipient
// mailbox with kind KindGroup, in Seq order with the other envelopes,
// idempotently, and expires without a notice to its sender.
func testGroupEnvelopes(t *testing.T, e *env) {
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	bob2 := e.device("bob")
	id := addr.NewMessageID()
	var envs []store.Envelope
	for _, to := range []addr.Address{bob, bob2, carol} {
		envs = append(envs, store.Envelope{From: alice, To: to, ID: id, Kind: store.KindGroup, Payload: []byte("group"),
			Expires: Epoch.Add(time.Minute)})
	}
	before := e.stored(msg(alice, bob, "before"))
	e.stored(envs...)
	for _, to := range []addr.Address{bob, bob2, carol} {
		got := e.pending(to)
		g := got[len(got)-1]
		if g.Kind != store.KindGroup || g.ID != id || string(g.Payload) != "group" || g.From != alice {
			t.Fatalf("%s: %+v", to, g)
		}
		if to == bob && (len(got) != 2 || got[0].Seq != before[0] || got[1].Seq <= before[0]) {
			t.Fatalf("bob's mailbox out of order: %+v", got)
		}
	}
	if res := e.submit(envs...); !res[0].Duplicate || !res[2].Duplicate {
		t.Fatalf("resubmitted group message: %+v", res)
	}
	if got := e.expired(Epoch.Add(2*time.Minute), store.MaxBatch); len(got) != 0 {
		t.Fatalf("expired group copies reported for notices: %v", got)
	}
	if n := e.notices(alice); len(n) != 0 {
		t.Fatalf("alice got %d expiry notices for a group message", len(n))
	}
	if n := e.mailboxLen(carol); n != 0 {
		t.Fatalf("carol keeps %d envelopes after expiry", n)
	}
}

// testGroupMailboxCap: group copies count toward a mailbox's cap like
// envelopes, a full mailbox still recognizes a resubmitted group message
// as a duplicate, an ack of a group copy makes room, and a group message
// submitted in two batches (as the relay splits a large group) reaches
// the second batch's devices too, with the first batch's still
// duplicates.
func testGroupMailboxCap(t *testing.T, e *env) {
	const cap = 3
	e.withOptions(func(o *store.Options) { o.MailboxCap = cap })
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	dave := e.user("dave")
	group := func(id addr.MessageID, to ...addr.Address) []store.Envelope {
		var envs []store.Envelope
		for _, a := range to {
			envs = append(envs, store.Envelope{From: alice, To: a, ID: id, Kind: store.KindGroup, Payload: []byte("g")})
		}
		return envs
	}
	e.stored(msg(alice, bob, "m1"), msg(alice, bob, "m2"))
	first, second := addr.NewMessageID(), addr.NewMessageID()
	seqs := e.stored(group(first, bob, carol)...)
	res := e.submit(group(second, bob, carol)...)
	wantErr(t, "group copy over the cap", res[0].Err, store.ErrMailboxFull)
	if res[1].Err != nil || res[1].Duplicate {
		t.Fatalf("carol's copy: %+v", res[1])
	}
	if r := e.submit(group(first, bob)...)[0]; !r.Duplicate || r.Seq != seqs[0] {
		t.Fatalf("group duplicate into a full mailbox: %+v", r)
	}
	if n, err := e.s.Ack(e.ctx, bob, []int64{seqs[0]}); err != nil || n != 1 {
		t.Fatalf("Ack of a group copy = %d, %v", n, err)
	}
	res = e.submit(group(second, bob, dave)...)
	if res[0].Err != nil || res[0].Duplicate || res[1].Err != nil || res[1].Duplicate {
		t.Fatalf("second batch after an ack made room: %+v", res)
	}
	if r := e.submit(group(second, carol)...)[0]; !r.Duplicate {
		t.Fatalf("first batch's copy resubmitted: %+v", r)
	}
	if n := e.mailboxLen(bob); n != cap {
		t.Fatalf("MailboxLen = %d, want %d", n, cap)
	}
	for _, a := range []addr.Address{bob, carol, dave} {
		got := e.pending(a)
		if g := got[len(got)-1]; g.ID != second || g.Kind != store.KindGroup || string(g.Payload) != "g" {
			t.Fatalf("%s reads %+v", a, got)
		}
	}
}

// testGroupExpireLimit: Expire deletes an expired group message with
// every copy at once, and stops once it has deleted limit copies: the
// next call goes on with the next message.
func testGroupExpireLimit(t *testing.T, e *env) {
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	for range 2 {
		id := addr.NewMessageID()
		var envs []store.Envelope
		for _, to := range []addr.Address{bob, carol} {
			envs = append(envs, store.Envelope{From: alice, To: to, ID: id, Kind: store.KindGroup, Payload: []byte("g"),
				Expires: Epoch.Add(time.Minute)})
		}
		e.stored(envs...)
	}
	for i, want := range []int{1, 0} {
		e.expired(Epoch.Add(2*time.Minute), 2) // one message's two copies fill it
		if n, m := e.mailboxLen(bob), e.mailboxLen(carol); n != want || m != want {
			t.Fatalf("after Expire %d with limit 2: bob %d, carol %d copies, want %d each", i+1, n, m, want)
		}
	}
}
