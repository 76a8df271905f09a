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
