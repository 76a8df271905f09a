package group

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"parley.dev/internal/addr"
)

// trio is a group of ann (admin), bob and cat, one device each, with a
// replica per device.
type trio struct {
	ann, bob, cat person
	c             *Change
	rs            map[addr.Address]*Replica
}

func newTrio(t testing.TB) *trio {
	tr := &trio{ann: newPerson("ann"), bob: newPerson("bob"), cat: newPerson("cat")}
	tr.c, _ = create(t, tr.ann, tr.bob, tr.cat)
	tr.rs = map[addr.Address]*Replica{}
	for _, p := range []person{tr.ann, tr.bob, tr.cat} {
		tr.rs[p.device(1)] = replicaOf(t, p, tr.c)
	}
	return tr
}

func (tr *trio) r(p person) *Replica { return tr.rs[p.device(1)] }

// change has the admin make a change and every replica receive it.
func (tr *trio) change(t testing.TB, make func(*State) (*Change, *State, error)) *Change {
	t.Helper()
	c, _, err := make(tr.r(tr.ann).Head())
	check(t, err)
	for a, r := range tr.rs {
		if _, err := r.ReceiveChange(c); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	return c
}

func TestSendAndReceive(t *testing.T) {
	tr := newTrio(t)
	m := send(t, tr.r(tr.ann), tr.rs, "hello")
	for _, p := range []person{tr.bob, tr.cat} {
		if got := readOne(t, tr.r(p), m); got != "hello" {
			t.Fatalf("%s read %q", p, got)
		}
		_, err := tr.r(p).ReceiveMessage(m)
		wantErr(t, err, ErrDuplicate)
	}
	// A second message needs no distribution.
	hs, rotated, err := tr.r(tr.ann).PrepareSend([]addr.Address{tr.bob.device(1), tr.cat.device(1)}, nil)
	check(t, err)
	if len(hs) != 0 || rotated {
		t.Fatal("a second send handed the chain out again")
	}
}

// canRead reports whether any key material r holds opens m, ignoring
// every check: each receiving chain's skipped keys and every key its chain
// key derives up to MaxSkip ahead, whatever chain ID m names.
func canRead(r *Replica, m *Message) bool {
	for _, list := range r.chains {
		for _, rc := range list {
			for _, k := range rc.skipped {
				if _, err := open(&k.mk, m); err == nil {
					return true
				}
			}
			ck := rc.ck
			for range MaxSkip + 1 {
				mk, next := chainStep(&ck)
				if _, err := open(&mk, m); err == nil {
					return true
				}
				ck = next
			}
		}
	}
	return false
}

// TestAttackRemovedMemberCannotRead: after cat is removed, every other
// device starts a fresh chain for the new epoch and gives it to the
// remaining devices only; a message sent after the removal opens with
// nothing cat's device holds, even when a malicious relay delivers it.
func TestAttackRemovedMemberCannotRead(t *testing.T) {
	tr := newTrio(t)
	before := send(t, tr.r(tr.bob), tr.rs, "before")
	for _, p := range []person{tr.ann, tr.cat} {
		readOne(t, tr.r(p), before)
	}
	send(t, tr.r(tr.cat), tr.rs, "cat's")
	tr.change(t, func(s *State) (*Change, *State, error) {
		return s.Remove(tr.ann.id, tr.ann.user, []addr.UserID{"cat"}, testTime)
	})
	hs, rotated, err := tr.r(tr.bob).PrepareSend([]addr.Address{tr.ann.device(1)}, nil)
	check(t, err)
	if !rotated || len(hs) != 1 || hs[0].To != tr.ann.device(1) {
		t.Fatalf("bob did not rotate (%v) or handed out to %v", rotated, hs)
	}
	must(tr.r(tr.ann).ReceiveDistribution(hs[0].Distribution, tr.bob.device(1)))
	after := must(ParseMessage(must(tr.r(tr.bob).Seal([]byte("after")))))
	if got := readOne(t, tr.r(tr.ann), after); got != "after" {
		t.Fatal(got)
	}
	cat := tr.r(tr.cat)
	if canRead(cat, after) {
		t.Fatal("the removed member's keys open a message sent after its removal")
	}
	if !canRead(tr.r(tr.ann), must(ParseMessage(must(tr.r(tr.bob).Seal([]byte("check")))))) {
		t.Fatal("canRead cannot read what a member can")
	}
	u, err := cat.ReceiveMessage(after)
	if err != nil || len(u.Opened) != 0 {
		t.Fatalf("removed member: %v, opened %d", err, len(u.Opened))
	}
	// The old chain cannot be used in the new epoch: a sender that did not
	// rotate is refused by the remaining members.
	stale := &Replica{self: tr.bob.device(1), log: tr.r(tr.bob).log, own: staleChain(t, tr)}
	old := must(ParseMessage(must(stale.own.sealUnchecked(tr.r(tr.bob).Head(), []byte("stale")))))
	_, err = tr.r(tr.ann).ReceiveMessage(old)
	wantErr(t, err, ErrStaleChain)
}

// staleChain returns bob's chain from before the removal, as he held it.
func staleChain(t *testing.T, tr *trio) *SenderChain {
	t.Helper()
	for _, rc := range tr.r(tr.ann).chains[tr.bob.device(1)] {
		if rc.epoch == 0 {
			return &SenderChain{group: rc.group, self: rc.sender, id: rc.id, epoch: rc.epoch, n: rc.n, ck: rc.ck,
				sign: ed25519.NewKeyFromSeed(make([]byte, seedSize))}
		}
	}
	t.Fatal("no old chain")
	return nil
}

// sealUnchecked seals in st without the usability check, as a sender that
// ignores the rules would.
func (c *SenderChain) sealUnchecked(st *State, pt []byte) ([]byte, error) {
	saved := c.epoch
	c.epoch = st.rotation
	defer func() { c.epoch = saved }()
	return c.Seal(st, pt) // the receiver judges the chain by its distribution
}

// TestAttackNewMemberCannotReadEarlier: dan, added at epoch 5, cannot
// decrypt messages of epoch 4.
func TestAttackNewMemberCannotReadEarlier(t *testing.T) {
	tr := newTrio(t)
	for i := range 4 {
		tr.change(t, func(s *State) (*Change, *State, error) {
			return s.Rename(tr.ann.id, tr.ann.user, fmt.Sprint("name ", i), testTime)
		})
	}
	m4 := send(t, tr.r(tr.bob), tr.rs, "epoch 4")
	if m4.Epoch != 4 {
		t.Fatalf("sent in epoch %d", m4.Epoch)
	}
	dan := newPerson("dan")
	add, _, err := tr.r(tr.ann).Head().Add(tr.ann.id, tr.ann.user, members(dan), testTime)
	check(t, err)
	w := NewWelcome(tr.r(tr.ann).Head(), add)
	for _, r := range tr.rs {
		must(r.ReceiveChange(add))
	}
	tr.rs[dan.device(1)] = NewReplica(dan.device(1), must(Join(must(ParseWelcome(must(w.MarshalBinary()))))))
	m5 := send(t, tr.r(tr.bob), tr.rs, "epoch 5")
	if got := readOne(t, tr.rs[dan.device(1)], m5); got != "epoch 5" {
		t.Fatal(got)
	}
	r := tr.rs[dan.device(1)]
	if canRead(r, m4) {
		t.Fatal("a member added at epoch 5 holds a key to an epoch 4 message")
	}
	u, err := r.ReceiveMessage(m4)
	if err == nil && len(u.Opened) > 0 {
		t.Fatal("an epoch 4 message opened")
	}
}

// TestAttackForgeAsOtherMember: every member holds bob's chain key, but
// a message that cat seals under it as bob fails bob's signature check.
// Without that check, it would open: the signature is what stops it.
func TestAttackForgeAsOtherMember(t *testing.T) {
	tr := newTrio(t)
	real := send(t, tr.r(tr.bob), tr.rs, "real")
	readOne(t, tr.r(tr.cat), real)
	readOne(t, tr.r(tr.ann), real)
	// cat builds bob's next message from bob's chain as cat holds it.
	rc := tr.r(tr.cat).chains[tr.bob.device(1)][0]
	_, catKey, _ := ed25519.GenerateKey(rand.Reader)
	forger := &SenderChain{group: rc.group, self: rc.sender, id: rc.id, epoch: rc.epoch, n: rc.n, ck: rc.ck, sign: catKey}
	forged := must(ParseMessage(must(forger.Seal(tr.r(tr.cat).Head(), []byte("pay eve")))))
	ann := tr.r(tr.ann)
	before := must(MarshalReceiverChains(ann.chains[tr.bob.device(1)]))
	_, err := ann.ReceiveMessage(forged)
	wantErr(t, err, ErrDecrypt)
	if !bytes.Equal(before, must(MarshalReceiverChains(ann.chains[tr.bob.device(1)]))) {
		t.Fatal("a forged message changed the chain")
	}
	if !canRead(ann, forged) {
		t.Fatal("the forgery would not open even without the signature: the test shows nothing")
	}
	// And bob's real next message still opens.
	next := send(t, tr.r(tr.bob), tr.rs, "next")
	if readOne(t, ann, next) != "next" {
		t.Fatal("real message after a forgery")
	}
}

// TestAttackHeaderBinding: a message whose group, epoch, state, sender,
// chain or counter is changed does not open (the header is the AEAD's
// associated data and is signed), and nothing changes.
func TestAttackHeaderBinding(t *testing.T) {
	tr := newTrio(t)
	m := send(t, tr.r(tr.bob), tr.rs, "bound")
	raw := m.Bytes()
	hl := len(m.header)
	for i := range len(raw) {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		fm, err := ParseMessage(b)
		if err != nil {
			continue
		}
		u, err := tr.r(tr.ann).ReceiveMessage(fm)
		if err == nil && len(u.Opened) > 0 {
			t.Fatalf("flipping byte %d (header %v) still opens", i, i < hl)
		}
	}
	if readOne(t, tr.r(tr.ann), m) != "bound" {
		t.Fatal("the real message no longer opens")
	}
}

// TestBounds: duplicates, reordering and gaps obey the ratchet's numbers.
func TestBounds(t *testing.T) {
	tr := newTrio(t)
	bob, ann := tr.r(tr.bob), tr.r(tr.ann)
	first := send(t, bob, tr.rs, "0")
	readOne(t, ann, first)
	var ms []*Message
	for i := range 5 {
		ms = append(ms, must(ParseMessage(must(bob.Seal([]byte(fmt.Sprint(i+1)))))))
	}
	// Reordered: all open once, then are duplicates.
	for _, i := range []int{4, 1, 3, 0, 2} {
		if got := readOne(t, ann, ms[i]); got != fmt.Sprint(i+1) {
			t.Fatalf("message %d read %q", i, got)
		}
	}
	for _, m := range append(ms, first) {
		_, err := ann.ReceiveMessage(m)
		wantErr(t, err, ErrDuplicate)
	}
	// A gap of exactly MaxSkip opens; one more is refused before any work.
	for range MaxSkip {
		must(bob.Seal([]byte("lost")))
	}
	edge := must(ParseMessage(must(bob.Seal([]byte("edge")))))
	if readOne(t, ann, edge) != "edge" {
		t.Fatal("edge")
	}
	rc := ann.chains[tr.bob.device(1)][0]
	if len(rc.skipped) != MaxSkippedKeys {
		t.Fatalf("%d skipped keys kept, want %d", len(rc.skipped), MaxSkippedKeys)
	}
	for range MaxSkip + 1 {
		must(bob.Seal([]byte("lost")))
	}
	far := must(ParseMessage(must(bob.Seal([]byte("far")))))
	_, err := rc.Open(far, ann.Head(), ann.self.User)
	wantErr(t, err, ErrTooFarAhead)
	// More gaps evict the oldest skipped keys, never exceeding the bound.
	for range 3 {
		for range 10 {
			must(bob.Seal([]byte("lost")))
		}
	}
	if _, err := ann.ReceiveMessage(far); err != nil && !errors.Is(err, ErrTooFarAhead) {
		t.Fatal(err)
	}
	if len(rc.skipped) > MaxSkippedKeys {
		t.Fatal("skipped keys above the bound")
	}
}

// TestDistributionRules: a distribution must come from its sending
// device; a replay of an older copy never rolls a chain back; one for a
// state not held waits.
func TestDistributionRules(t *testing.T) {
	tr := newTrio(t)
	bob, ann := tr.r(tr.bob), tr.r(tr.ann)
	hs, _, err := bob.PrepareSend([]addr.Address{tr.ann.device(1)}, nil)
	check(t, err)
	d := hs[0].Distribution
	_, err = ann.ReceiveDistribution(d, tr.cat.device(1))
	wantErr(t, err, ErrUnauthorized)
	must(ann.ReceiveDistribution(d, tr.bob.device(1)))
	m1 := must(ParseMessage(must(bob.Seal([]byte("1")))))
	readOne(t, ann, m1)
	_, err = ann.ReceiveDistribution(d, tr.bob.device(1))
	wantErr(t, err, ErrDuplicate)
	_, err = ann.ReceiveMessage(m1)
	wantErr(t, err, ErrDuplicate)

	// cat's distribution names a state ann does not hold yet: it waits,
	// and so does cat's message, until the change arrives.
	ren, _, err := tr.r(tr.ann).Head().Rename(tr.ann.id, tr.ann.user, "new", testTime)
	check(t, err)
	cat := tr.r(tr.cat)
	must(cat.ReceiveChange(ren))
	hs, _, err = cat.PrepareSend([]addr.Address{tr.ann.device(1)}, nil)
	check(t, err)
	if u := must(ann.ReceiveDistribution(hs[0].Distribution, tr.cat.device(1))); !u.Waiting {
		t.Fatal("distribution for an unknown state did not wait")
	}
	m := must(ParseMessage(must(cat.Seal([]byte("later")))))
	if u := must(ann.ReceiveMessage(m)); !u.Waiting {
		t.Fatal("message for an unknown state did not wait")
	}
	// A restart in between keeps both waiting.
	ann = must(LoadReplica(ann.self, must(ann.All())))
	u := must(ann.ReceiveChange(ren))
	if len(u.Opened) != 1 || string(u.Opened[0].Plaintext) != "later" {
		t.Fatalf("opened %d after the change", len(u.Opened))
	}
}

// TestReplicaRestart: a replica stored in parts and loaded again is the
// same replica, and storing after each step writes only what changed.
func TestReplicaRestart(t *testing.T) {
	tr := newTrio(t)
	stored := map[addr.Address]map[string][]byte{}
	persist := func() {
		for a, r := range tr.rs {
			parts := must(r.Dirty())
			if stored[a] == nil {
				stored[a] = map[string][]byte{}
			}
			for k, v := range parts {
				if v == nil {
					delete(stored[a], k)
				} else {
					stored[a][k] = v
				}
			}
		}
	}
	restart := func() {
		for a := range tr.rs {
			tr.rs[a] = must(LoadReplica(a, stored[a]))
		}
	}
	for i := range 6 {
		for _, p := range []person{tr.ann, tr.bob, tr.cat} {
			m := send(t, tr.r(p), tr.rs, fmt.Sprint(p, i))
			for _, q := range []person{tr.ann, tr.bob, tr.cat} {
				if q != p && readOne(t, tr.r(q), m) != fmt.Sprint(p, i) {
					t.Fatal("wrong text")
				}
			}
			persist()
			// One message dirties the reader's chains of the sender only.
			parts := must(tr.r(tr.cat).Dirty())
			if len(parts) != 0 {
				t.Fatalf("nothing happened, yet %d parts dirty", len(parts))
			}
			restart()
		}
	}
	m := send(t, tr.r(tr.ann), tr.rs, "x")
	persist()
	readOne(t, tr.r(tr.bob), m)
	if parts := must(tr.r(tr.bob).Dirty()); len(parts) != 1 || parts[chainPart(tr.ann.device(1))] == nil {
		t.Fatalf("reading one message dirtied %d parts", len(parts))
	}
}

func TestSecretsRedacted(t *testing.T) {
	tr := newTrio(t)
	hs, _, err := tr.r(tr.ann).PrepareSend([]addr.Address{tr.bob.device(1)}, nil)
	check(t, err)
	for _, v := range []any{hs[0].Distribution, *hs[0].Distribution, tr.r(tr.ann), tr.r(tr.ann).own, secret{1}} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			if got := fmt.Sprintf(f, v); got != redacted {
				t.Errorf("%T with %s prints %q", v, f, got)
			}
		}
	}
}
