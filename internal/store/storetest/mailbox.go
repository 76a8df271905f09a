package storetest

import (
	"fmt"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

func testSubmit(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	in := []store.Envelope{
		msg(alice, bob, "first"),
		{From: alice, To: bob, ID: addr.NewMessageID(), Kind: store.KindMessage, Payload: []byte{0, 1, 2, 255},
			Created: Epoch.Add(-time.Minute), Expires: Epoch.Add(time.Hour)},
		msg(bob, alice, "to alice"),
	}
	seqs := e.stored(in...)
	if seqs[1] <= seqs[0] {
		t.Fatalf("seqs %v not increasing within a mailbox", seqs)
	}
	got := e.pending(bob)
	if len(got) != 2 {
		t.Fatalf("bob has %d envelopes, want 2", len(got))
	}
	// Defaults: Kind message, Created now, Expires Created + TTL.
	want0 := in[0]
	want0.Kind, want0.Created, want0.Expires = store.KindMessage, Epoch, Epoch.Add(store.DefaultTTL)
	sameEnvelope(t, got[0], want0)
	sameEnvelope(t, got[1], in[1])
	for i := range got {
		if got[i].Seq != seqs[i] {
			t.Fatalf("envelope %d has Seq %d, Submit said %d", i, got[i].Seq, seqs[i])
		}
	}
	if n := e.mailboxLen(bob); n != 2 {
		t.Fatalf("MailboxLen(bob) = %d, want 2", n)
	}
	if res, err := e.s.Submit(e.ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("Submit(nil) = %v, %v", res, err)
	}
	// A custom TTL option applies to envelopes without Expires.
	e.withOptions(func(o *store.Options) { o.TTL = time.Hour })
	e.stored(msg(alice, bob, "short-lived"))
	if got := e.pending(bob); !got[2].Expires.Equal(Epoch.Add(time.Hour)) {
		t.Fatalf("Expires with TTL option = %v", got[2].Expires)
	}
}

func testSubmitIdempotent(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	alice2 := e.device("alice")
	m := msg(alice, bob, "once")
	seq := e.stored(m)[0]
	// Resubmitted alone, and twice within one call with a new envelope.
	res := e.submit(m)
	if !res[0].Duplicate || res[0].Seq != seq || res[0].Err != nil {
		t.Fatalf("resubmission: %+v, want duplicate of seq %d", res[0], seq)
	}
	fresh := msg(alice, bob, "new")
	res = e.submit(m, fresh, fresh)
	if !res[0].Duplicate || res[0].Seq != seq || res[1].Duplicate || res[1].Err != nil ||
		!res[2].Duplicate || res[2].Seq != res[1].Seq {
		t.Fatalf("mixed resubmission: %+v", res)
	}
	if res[1].Seq != seq+1 {
		t.Fatalf("new envelope after a duplicate got seq %d, want %d: the duplicate used up a seq", res[1].Seq, seq+1)
	}
	// The same ID from another device, or to another mailbox, is distinct.
	other := m
	other.From = alice2
	toAlice := m
	toAlice.To, toAlice.From = alice, bob
	e.stored(other, toAlice)
	if n := e.mailboxLen(bob); n != 3 {
		t.Fatalf("MailboxLen(bob) = %d, want 3", n)
	}
	if got := e.pending(bob); string(got[0].Payload) != "once" || len(got) != 3 {
		t.Fatalf("pending after duplicates: %d envelopes", len(got))
	}
}

func testSubmitUnknownDevice(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	ghost := addr.Address{User: "bob", Device: 7}
	nobody := addr.Address{User: "nobody", Device: 1}
	res := e.submit(msg(alice, ghost, "x"), msg(alice, bob, "ok"), msg(alice, nobody, "y"))
	wantErr(t, "Submit to unknown device", res[0].Err, store.ErrNotFound)
	wantErr(t, "Submit to unknown user", res[2].Err, store.ErrNotFound)
	if res[1].Err != nil || res[1].Seq <= 0 {
		t.Fatalf("envelope beside unknown ones: %+v", res[1])
	}
	if got := e.pending(ghost); len(got) != 0 {
		t.Fatalf("unknown mailbox has %d envelopes", len(got))
	}
	_, err := e.s.MailboxLen(e.ctx, ghost)
	wantErr(t, "MailboxLen(unknown)", err, store.ErrNotFound)
}

func testSubmitBadInput(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	good := msg(alice, bob, "fine")
	mods := map[string]func(*store.Envelope){
		"invalid recipient":  func(m *store.Envelope) { m.To = addr.Address{User: "Bob", Device: 1} },
		"device 0":           func(m *store.Envelope) { m.To.Device = 0 },
		"invalid sender":     func(m *store.Envelope) { m.From = addr.Address{User: "", Device: 1} },
		"zero ID":            func(m *store.Envelope) { m.ID = addr.MessageID{} },
		"empty payload":      func(m *store.Envelope) { m.Payload = nil },
		"oversized payload":  func(m *store.Envelope) { m.Payload = make([]byte, store.MaxPayloadLen+1) },
		"relay notice kind":  func(m *store.Envelope) { m.Kind = store.KindExpired },
		"unknown kind":       func(m *store.Envelope) { m.Kind = 77 },
		"expires at created": func(m *store.Envelope) { m.Created, m.Expires = Epoch, Epoch },
		"year 10000":         func(m *store.Envelope) { m.Expires = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, mod := range mods {
		bad := msg(alice, bob, "bad")
		mod(&bad)
		_, err := e.s.Submit(e.ctx, []store.Envelope{good, bad})
		wantErr(t, "Submit("+name+")", err, store.ErrInvalid)
	}
	tooMany := make([]store.Envelope, store.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = msg(alice, bob, "many")
	}
	_, err := e.s.Submit(e.ctx, tooMany)
	wantErr(t, "Submit(too many)", err, store.ErrInvalid)
	if n := e.mailboxLen(bob); n != 0 {
		t.Fatalf("refused submissions stored %d envelopes", n)
	}
	// The largest payload is accepted.
	big := msg(alice, bob, "")
	big.Payload = make([]byte, store.MaxPayloadLen)
	e.stored(big)
}

func testMailboxCap(t *testing.T, e *env) {
	const cap = 5
	e.withOptions(func(o *store.Options) { o.MailboxCap = cap })
	alice, bob := e.user("alice"), e.user("bob")
	var envs []store.Envelope
	for i := range cap + 2 {
		envs = append(envs, msg(alice, bob, fmt.Sprint("m", i)))
	}
	res := e.submit(append(envs, msg(bob, alice, "other mailbox"))...)
	for i, r := range res[:cap] {
		if r.Err != nil {
			t.Fatalf("envelope %d below the cap: %v", i, r.Err)
		}
	}
	for _, r := range res[cap : cap+2] {
		wantErr(t, "Submit over the cap", r.Err, store.ErrMailboxFull)
	}
	if res[cap+2].Err != nil {
		t.Fatalf("other mailbox refused: %v", res[cap+2].Err)
	}
	// A full mailbox still recognizes a resubmission as a duplicate.
	if r := e.submit(envs[0])[0]; !r.Duplicate || r.Seq != res[0].Seq {
		t.Fatalf("duplicate into a full mailbox: %+v", r)
	}
	if n, err := e.s.Ack(e.ctx, bob, []int64{res[0].Seq}); err != nil || n != 1 {
		t.Fatalf("Ack = %d, %v", n, err)
	}
	if r := e.submit(envs[cap])[0]; r.Err != nil {
		t.Fatalf("Submit after an ack made room: %v", r.Err)
	}
	if n := e.mailboxLen(bob); n != cap {
		t.Fatalf("MailboxLen = %d, want %d", n, cap)
	}
}

func testPending(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	alice, bob := e.user("alice"), e.user("bob")
	var envs []store.Envelope
	for i := range 10 {
		m := msg(alice, bob, fmt.Sprint("m", i))
		if i == 3 || i == 7 { // these expire in a minute
			m.Expires = Epoch.Add(time.Minute)
		}
		envs = append(envs, m)
	}
	seqs := e.stored(envs...)
	page, err := s.Pending(ctx, bob, 0, 4)
	if err != nil || len(page) != 4 || page[0].Seq != seqs[0] || page[3].Seq != seqs[3] {
		t.Fatalf("first page: %d envelopes, %v", len(page), err)
	}
	rest, err := s.Pending(ctx, bob, page[3].Seq, 100)
	if err != nil || len(rest) != 6 || rest[0].Seq != seqs[4] {
		t.Fatalf("after %d: %d envelopes, %v", page[3].Seq, len(rest), err)
	}
	for i := 1; i < len(rest); i++ {
		if rest[i].Seq <= rest[i-1].Seq {
			t.Fatal("Pending not in Seq order")
		}
	}
	// Once their Expires passes, envelopes are skipped even before Expire.
	e.clock.Advance(time.Minute)
	all := e.pending(bob)
	if len(all) != 8 {
		t.Fatalf("after expiry: %d envelopes, want 8", len(all))
	}
	for _, m := range all {
		if m.Seq == seqs[3] || m.Seq == seqs[7] {
			t.Fatalf("expired envelope %d returned", m.Seq)
		}
	}
	if got, err := s.Pending(ctx, bob, seqs[9], 10); err != nil || len(got) != 0 {
		t.Fatalf("Pending past the end = %d, %v", len(got), err)
	}
	if got, err := s.Pending(ctx, addr.Address{User: "nobody", Device: 1}, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Pending(unknown) = %d, %v", len(got), err)
	}
	_, err = s.Pending(ctx, bob, 0, 0)
	wantErr(t, "Pending(limit 0)", err, store.ErrInvalid)
	_, err = s.Pending(ctx, addr.Address{User: "bob"}, 0, 1)
	wantErr(t, "Pending(invalid)", err, store.ErrInvalid)
}

func testAck(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	alice, bob := e.user("alice"), e.user("bob")
	bobSeqs := e.stored(msg(alice, bob, "1"), msg(alice, bob, "2"), msg(alice, bob, "3"))
	aliceSeq := e.stored(msg(bob, alice, "to alice"))[0]

	// Alice acks one of hers plus bob's seqs: only hers go.
	n, err := s.Ack(ctx, alice, append([]int64{aliceSeq}, bobSeqs...))
	if err != nil || n != 1 {
		t.Fatalf("Ack(alice) = %d, %v; want 1", n, err)
	}
	n, err = s.Ack(ctx, bob, []int64{bobSeqs[0], bobSeqs[2], bobSeqs[2], 999999})
	if err != nil || n != 2 {
		t.Fatalf("Ack(bob) = %d, %v; want 2", n, err)
	}
	got := e.pending(bob)
	if len(got) != 1 || got[0].Seq != bobSeqs[1] {
		t.Fatalf("after acks bob has %v", got)
	}
	if n := e.mailboxLen(bob); n != 1 {
		t.Fatalf("MailboxLen(bob) = %d, want 1", n)
	}
	if n, err := s.Ack(ctx, bob, nil); err != nil || n != 0 {
		t.Fatalf("Ack(nil) = %d, %v", n, err)
	}
	if n, err := s.Ack(ctx, addr.Address{User: "nobody", Device: 3}, []int64{1}); err != nil || n != 0 {
		t.Fatalf("Ack(unknown) = %d, %v", n, err)
	}
	_, err = s.Ack(ctx, addr.Address{}, []int64{1})
	wantErr(t, "Ack(invalid)", err, store.ErrInvalid)

	// More seqs than one batch.
	var many []store.Envelope
	for i := range store.MaxBatch + 5 {
		many = append(many, msg(alice, bob, fmt.Sprint(i)))
	}
	seqs := append(e.stored(many[:store.MaxBatch]...), e.stored(many[store.MaxBatch:]...)...)
	if n, err := s.Ack(ctx, bob, seqs); err != nil || n != len(seqs) {
		t.Fatalf("large Ack = %d, %v; want %d", n, err, len(seqs))
	}
	if n := e.mailboxLen(bob); n != 1 {
		t.Fatalf("MailboxLen after large ack = %d, want 1", n)
	}
}

// testSeqNeverReused acks the newest envelope and submits again: a client
// reading with after = the acked seq must still see the new one.
func testSeqNeverReused(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	first := e.stored(msg(alice, bob, "a"))[0]
	if _, err := e.s.Ack(e.ctx, bob, []int64{first}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	second := e.stored(msg(alice, bob, "b"))[0]
	if second <= first {
		t.Fatalf("seq %d after acked seq %d", second, first)
	}
	if got, _ := e.s.Pending(e.ctx, bob, first, 10); len(got) != 1 {
		t.Fatalf("Pending after the acked seq: %d envelopes", len(got))
	}
}
