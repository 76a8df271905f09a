package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// expiring returns a message that expires d after Epoch.
func expiring(from, to addr.Address, d time.Duration) store.Envelope {
	m := msg(from, to, "expiring")
	m.Expires = Epoch.Add(d)
	return m
}

// expired runs Expire and indexes the result by (From, To).
func (e *env) expired(now time.Time, limit int) map[[2]addr.Address][]addr.MessageID {
	e.t.Helper()
	out, err := e.s.Expire(e.ctx, now, limit)
	if err != nil {
		e.t.Fatalf("Expire: %v", err)
	}
	m := map[[2]addr.Address][]addr.MessageID{}
	for _, x := range out {
		k := [2]addr.Address{x.From, x.To}
		if _, dup := m[k]; dup {
			e.t.Fatalf("Expire returned pair %v twice", k)
		}
		m[k] = x.IDs
	}
	return m
}

// notices returns the KindExpired envelopes of a mailbox.
func (e *env) notices(a addr.Address) []store.Envelope {
	var out []store.Envelope
	for _, m := range e.pending(a) {
		if m.Kind == store.KindExpired {
			out = append(out, m)
		}
	}
	return out
}

func sameIDs(got, want []addr.MessageID) bool {
	cmp := func(a, b addr.MessageID) int { return bytes.Compare(a[:], b[:]) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	return slices.Equal(got, want)
}

// noticeIDs splits a notice payload into message IDs.
func noticeIDs(t *testing.T, n store.Envelope) []addr.MessageID {
	t.Helper()
	if len(n.Payload)%addr.MessageIDLen != 0 {
		t.Fatalf("notice payload is %d bytes", len(n.Payload))
	}
	var ids []addr.MessageID
	for p := n.Payload; len(p) > 0; p = p[addr.MessageIDLen:] {
		ids = append(ids, addr.MessageID(p[:addr.MessageIDLen]))
	}
	return ids
}

func testExpire(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	alice2 := e.device("alice")
	m0, m1, m2 := expiring(alice, bob, time.Minute), expiring(alice, bob, 2*time.Minute), msg(alice, bob, "lasting")
	m3, m4 := expiring(alice2, bob, time.Minute), expiring(bob, alice, time.Minute)
	e.stored(m0, m1, m2, m3, m4)

	if got := e.expired(Epoch.Add(30*time.Second), store.MaxBatch); len(got) != 0 {
		t.Fatalf("Expire before any expiry removed %v", got)
	}
	now := Epoch.Add(time.Minute)
	got := e.expired(now, store.MaxBatch)
	want := map[[2]addr.Address][]addr.MessageID{
		{alice, bob}: {m0.ID}, {alice2, bob}: {m3.ID}, {bob, alice}: {m4.ID},
	}
	if len(got) != len(want) {
		t.Fatalf("Expire = %v, want %v", got, want)
	}
	for k, ids := range want {
		if !sameIDs(got[k], ids) {
			t.Fatalf("Expire[%v] = %v, want %v", k, got[k], ids)
		}
	}
	// Bob keeps m1 and m2 and gains a notice for m4; each alice device
	// gets a notice for its own message.
	if n := e.mailboxLen(bob); n != 3 {
		t.Fatalf("MailboxLen(bob) = %d, want 3", n)
	}
	for a, id := range map[addr.Address]addr.MessageID{alice: m0.ID, alice2: m3.ID, bob: m4.ID} {
		ns := e.notices(a)
		if len(ns) != 1 {
			t.Fatalf("%s has %d notices, want 1", a, len(ns))
		}
		n := ns[0]
		from := bob
		if a == bob {
			from = alice
		}
		if n.From != from || n.To != a || n.ID.IsZero() || !n.Created.Equal(now) ||
			!n.Expires.Equal(now.Add(store.DefaultNoticeTTL)) || !sameIDs(noticeIDs(t, n), []addr.MessageID{id}) {
			t.Fatalf("notice to %s = %+v", a, brief(n))
		}
	}
	if n := e.mailboxLen(alice); n != 1 {
		t.Fatalf("MailboxLen(alice) = %d, want 1 (the notice)", n)
	}
}

func testExpireNotices(t *testing.T, e *env) {
	e.withOptions(func(o *store.Options) { o.MailboxCap = 3; o.NoticeTTL = time.Hour })
	alice, bob, carol, dave := e.user("alice"), e.user("bob"), e.user("carol"), e.user("dave")
	// Several of alice's messages make one notice; carol is revoked
	// before hers expire; dave's mailbox is full.
	fromAlice := []store.Envelope{expiring(alice, bob, time.Minute), expiring(alice, bob, time.Minute), expiring(alice, bob, time.Minute)}
	fromCarol, fromDave := expiring(carol, dave, time.Minute), expiring(dave, carol, time.Minute)
	e.stored(fromAlice...)
	e.stored(fromCarol, fromDave, msg(alice, dave, "1"), msg(bob, dave, "2"))
	if err := e.s.RevokeDevice(e.ctx, carol); err != nil {
		t.Fatal(err)
	}
	got := e.expired(Epoch.Add(time.Minute), store.MaxBatch)
	if ids := got[[2]addr.Address{alice, bob}]; !sameIDs(ids, []addr.MessageID{fromAlice[0].ID, fromAlice[1].ID, fromAlice[2].ID}) {
		t.Fatalf("expired from alice: %v", ids)
	}
	if ids := got[[2]addr.Address{carol, dave}]; !sameIDs(ids, []addr.MessageID{fromCarol.ID}) {
		t.Fatalf("expired from revoked carol: %v", ids)
	}
	if len(got) != 2 { // dave's message died with carol's mailbox
		t.Fatalf("Expire = %v", got)
	}
	ns := e.notices(alice)
	if len(ns) != 1 || !sameIDs(noticeIDs(t, ns[0]), got[[2]addr.Address{alice, bob}]) {
		t.Fatalf("alice's notices: %d", len(ns))
	}
	if ns := e.notices(dave); len(ns) != 0 {
		t.Fatal("notice queued for a revoked sender's ... recipient")
	}
	// Dave's mailbox: fromCarol expired, two messages left: room for one.
	e.stored(msg(bob, dave, "3"))
	late := expiring(dave, bob, 2*time.Minute)
	e.stored(late)
	if got := e.expired(Epoch.Add(2*time.Minute), store.MaxBatch); len(got) != 1 {
		t.Fatalf("second Expire = %v", got)
	}
	if ns := e.notices(dave); len(ns) != 0 {
		t.Fatal("notice queued into a full mailbox")
	}
	// Notices expire after NoticeTTL, silently.
	if got := e.expired(Epoch.Add(time.Minute+time.Hour), store.MaxBatch); len(got) != 0 {
		t.Fatalf("expiring notices reported %v", got)
	}
	if ns := e.notices(alice); len(ns) != 0 {
		t.Fatal("notice outlived NoticeTTL")
	}
	if n := e.mailboxLen(alice); n != 0 {
		t.Fatalf("MailboxLen(alice) = %d after its notice expired", n)
	}
}

func testExpireLimit(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	var envs []store.Envelope
	for i := range 5 {
		envs = append(envs, expiring(alice, bob, time.Duration(i+1)*time.Second))
	}
	e.stored(envs...)
	now := Epoch.Add(time.Hour)
	first := e.expired(now, 2)
	if ids := first[[2]addr.Address{alice, bob}]; !sameIDs(ids, []addr.MessageID{envs[0].ID, envs[1].ID}) {
		t.Fatalf("Expire(limit 2) took %v, want the two oldest", ids)
	}
	if n := e.mailboxLen(bob); n != 3 {
		t.Fatalf("MailboxLen after Expire(limit 2) = %d, want 3", n)
	}
	if rest := e.expired(now, 10); len(rest[[2]addr.Address{alice, bob}]) != 3 {
		t.Fatalf("second Expire = %v", rest)
	}
	_, err := e.s.Expire(e.ctx, now, 0)
	wantErr(t, "Expire(limit 0)", err, store.ErrInvalid)
	_, err = e.s.Expire(e.ctx, time.Time{}, 1)
	wantErr(t, "Expire(zero time)", err, store.ErrInvalid)
}
