package group

import (
	"errors"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// TestAttackInjectedChangeRefused: a relay (or anyone) that injects an add
// signed by a non-admin, by a stranger, by no one, or a real admin's
// signature moved onto another change, is refused by every member, and no
// member's state changes.
func TestAttackInjectedChangeRefused(t *testing.T) {
	ann, bob, cat, eve := newPerson("ann"), newPerson("bob"), newPerson("cat"), newPerson("eve")
	c, _ := create(t, ann, bob, cat)
	logs := []*Log{must(NewLog(c)), must(NewLog(c)), must(NewLog(c))}
	head := logs[0].Head()

	byMember := &Change{kind: KindAdd, signer: bob.user, time: testTime, members: members(eve)}
	byStranger := &Change{kind: KindAdd, signer: eve.user, time: testTime, members: members(eve)}
	byNoOne := &Change{kind: KindAdd, signer: ann.user, time: testTime, members: members(eve)}
	asAdmin := &Change{kind: KindAdd, signer: ann.user, time: testTime, members: members(eve)}
	for _, fc := range []*Change{byMember, byStranger, byNoOne, asAdmin} {
		fc.group, fc.epoch, fc.prev = head.id, 1, head.hash
	}
	injected := map[string][]byte{
		"signed by a member":    signed(t, byMember, bob.id),
		"signed by a stranger":  signed(t, byStranger, eve.id),
		"signed by no one":      zeroSignature(signed(t, byNoOne, eve.id)),
		"admin name, eve's key": signed(t, asAdmin, eve.id),
		"admin signature moved": moveSignature(t, ann, head),
	}
	for name, enc := range injected {
		t.Run(name, func(t *testing.T) {
			fc, err := ParseChange(enc)
			if err != nil {
				t.Fatal(err) // well-formed: only the signature is wrong
			}
			for _, l := range logs {
				before := must(l.MarshalBinary())
				_, err := l.Receive(fc)
				wantErr(t, err, ErrUnauthorized)
				if string(must(l.MarshalBinary())) != string(before) {
					t.Fatal("a refused change altered the log")
				}
				if l.Head().IsMember("eve") {
					t.Fatal("eve got in")
				}
			}
		})
	}
}

func signed(t *testing.T, c *Change, id *keys.Identity) []byte {
	t.Helper()
	return must(must(c.sign(id)).MarshalBinary())
}

func zeroSignature(enc []byte) []byte {
	clear(enc[len(enc)-sigSize:])
	return enc
}

// moveSignature returns an add of eve carrying the signature of a real
// add of dan by ann.
func moveSignature(t *testing.T, ann person, head *State) []byte {
	t.Helper()
	real, _, err := head.Add(ann.id, ann.user, members(newPerson("dan")), testTime)
	check(t, err)
	fake := &Change{kind: KindAdd, group: head.id, epoch: 1, prev: head.hash, signer: ann.user,
		time: testTime, members: members(newPerson("eve"))}
	body := must(fake.body())
	return append(body, real.sig...)
}

// TestAttackFork: two different changes at one epoch are detected. Seen
// as siblings of the head, the lower resulting hash wins everywhere and
// the loser is reported; one for an epoch already passed, or naming a
// state never held, is a fork.
func TestAttackFork(t *testing.T) {
	ann, bob, cat, dan, eve := newPerson("ann"), newPerson("bob"), newPerson("cat"), newPerson("dan"), newPerson("eve")
	c, l1 := create(t, ann, bob, cat)
	l2 := must(NewLog(c))
	st0 := l1.Head()
	// ann promotes bob; then, at epoch 2, ann adds dan while bob adds eve.
	p, st1, err := st0.Promote(ann.id, ann.user, []addr.UserID{"bob"}, testTime)
	check(t, err)
	for _, l := range []*Log{l1, l2} {
		must(l.Receive(p))
	}
	addDan, sDan, err := st1.Add(ann.id, ann.user, members(dan), testTime)
	check(t, err)
	addEve, sEve, err := st1.Add(bob.id, bob.user, members(eve), testTime)
	check(t, err)
	winner, loser := addDan, addEve
	if sEve.Hash().Less(sDan.Hash()) {
		winner, loser = addEve, addDan
	}
	// l1 sees the winner first, l2 the loser first: both end on the winner.
	r1 := must(l1.Receive(winner))
	_, err = l1.Receive(loser)
	wantErr(t, err, ErrConflict)
	if len(r1.Applied) != 1 {
		t.Fatal("winner not applied")
	}
	must(l2.Receive(loser))
	r2 := must(l2.Receive(winner))
	if r2.Lost != loser {
		t.Fatal("the losing change was not reported")
	}
	if l1.Head().Hash() != l2.Head().Hash() {
		t.Fatal("devices that saw both changes in different orders disagree")
	}
	// Both devices keep the losing state, so messages sent in it can be read.
	lost := must(st1.Apply(loser))
	for _, l := range []*Log{l1, l2} {
		if _, ok := l.State(lost.Epoch(), lost.Hash()); !ok {
			t.Fatal("the losing state was not kept")
		}
	}
	// A change building on the loser is refused as a conflict.
	onLoser, _, err := lost.Rename(ann.id, ann.user, "x", testTime)
	check(t, err)
	_, err = l1.Receive(onLoser)
	wantErr(t, err, ErrConflict)

	// Move on; then a sibling of an epoch already passed is a fork.
	next, _, err := l1.Head().Rename(ann.id, ann.user, "later", testTime)
	check(t, err)
	must(l1.Receive(next))
	late, _, err := st1.Rename(ann.id, ann.user, "late", testTime)
	check(t, err)
	_, err = l1.Receive(late)
	wantErr(t, err, ErrFork)

	// A change naming a state in the window that this device never held.
	alien := &Change{kind: KindRename, group: st0.id, epoch: 2, prev: Hash{1}, signer: ann.user, time: testTime, name: "x"}
	_, err = l1.Receive(must(alien.sign(ann.id)))
	wantErr(t, err, ErrFork)
	// A second create of the same group.
	_, err = l1.Receive(c)
	wantErr(t, err, ErrDuplicate)
}

// TestAttackRollback: replays of old changes and welcomes change nothing:
// a change held is a duplicate, one older than the window a rollback, a
// welcome into an epoch not after the head a rollback.
func TestAttackRollback(t *testing.T) {
	ann, bob := newPerson("ann"), newPerson("bob")
	c, l := create(t, ann, bob)
	var changes []*Change
	var welcomes []*Welcome
	for i := range MaxKeptStates + 3 {
		ch, _, err := l.Head().Rename(ann.id, ann.user, "name"+string(rune('a'+i)), testTime)
		check(t, err)
		welcomes = append(welcomes, NewWelcome(l.Head(), ch))
		must(l.Receive(ch))
		changes = append(changes, ch)
	}
	before := must(l.MarshalBinary())
	_, err := l.Receive(changes[len(changes)-1])
	wantErr(t, err, ErrDuplicate)
	_, err = l.Receive(changes[0])
	wantErr(t, err, ErrRollback)
	_, err = l.Receive(c)
	wantErr(t, err, ErrRollback)
	for _, w := range welcomes {
		_, _, err := l.ReceiveWelcome(w, bob.user)
		if w.change.epoch >= l.Oldest() {
			wantErr(t, err, ErrDuplicate) // a state held
		} else {
			wantErr(t, err, ErrRollback)
		}
	}
	if string(must(l.MarshalBinary())) != string(before) {
		t.Fatal("a replay altered the log")
	}
	if got := l.Head().Epoch() - l.Oldest(); got != MaxKeptStates-1 {
		t.Fatalf("log keeps %d epochs, want %d", got+1, MaxKeptStates)
	}
}

// TestPendingChanges: changes that arrive before their parent wait, then
// apply in order; the wait is bounded.
func TestPendingChanges(t *testing.T) {
	ann, bob := newPerson("ann"), newPerson("bob")
	c, admin := create(t, ann, bob)
	l := must(NewLog(c))
	var changes []*Change
	for range 5 {
		ch, _, err := admin.Head().Rename(ann.id, ann.user, "n"+admin.Head().Hash().String()[:4], testTime)
		check(t, err)
		must(admin.Receive(ch))
		changes = append(changes, ch)
	}
	for i := len(changes) - 1; i > 0; i-- {
		r := must(l.Receive(changes[i]))
		if !r.Pending {
			t.Fatal("a change without its parent did not wait")
		}
	}
	r := must(l.Receive(changes[0]))
	if len(r.Applied) != 5 || l.Head().Hash() != admin.Head().Hash() {
		t.Fatalf("applied %d, want 5 in one go", len(r.Applied))
	}
	// A stored log with waiting changes round-trips.
	l2 := must(NewLog(c))
	must(l2.Receive(changes[3]))
	l3 := must(UnmarshalLog(must(l2.MarshalBinary())))
	if len(l3.pending) != 1 {
		t.Fatal("waiting change lost in storage")
	}
}

// TestLogRoundTrip: a stored log is the same log.
func TestLogRoundTrip(t *testing.T) {
	ann, bob, cat := newPerson("ann"), newPerson("bob"), newPerson("cat")
	_, l := create(t, ann, bob)
	for i := range MaxKeptStates + 2 {
		var ch *Change
		var err error
		if i%2 == 0 {
			ch, _, err = l.Head().Add(ann.id, ann.user, members(cat), testTime)
		} else {
			ch, _, err = l.Head().Remove(ann.id, ann.user, []addr.UserID{"cat"}, testTime)
		}
		check(t, err)
		must(l.Receive(ch))
		enc := must(l.MarshalBinary())
		l2, err := UnmarshalLog(enc)
		if err != nil {
			t.Fatal(err)
		}
		if l2.Head().Hash() != l.Head().Hash() || string(must(l2.MarshalBinary())) != string(enc) {
			t.Fatalf("after %d changes the log does not round-trip", i+1)
		}
		if w := must(l2.Welcome()); must(w.Verify()).Hash() != l.Head().Hash() {
			t.Fatal("welcome does not lead to the head")
		}
	}
}

// TestRejoin: a removed member added again joins from the welcome; a
// welcome must come from its signer or one's own device.
func TestRejoin(t *testing.T) {
	ann, bob := newPerson("ann"), newPerson("bob")
	c, admin := create(t, ann, bob)
	r := replicaOf(t, bob, c)
	rm, _, err := admin.Head().Remove(ann.id, ann.user, []addr.UserID{"bob"}, testTime)
	check(t, err)
	must(admin.Receive(rm))
	must(r.ReceiveChange(rm))
	ren, _, err := admin.Head().Rename(ann.id, ann.user, "without bob", testTime)
	check(t, err)
	must(admin.Receive(ren))
	add, _, err := admin.Head().Add(ann.id, ann.user, members(bob), testTime)
	check(t, err)
	w := NewWelcome(admin.Head(), add)
	must(admin.Receive(add))
	_, err = r.ReceiveWelcome(w, newPerson("eve").device(1))
	wantErr(t, err, ErrUnauthorized)
	// eve makes up a later history of the group, with herself as admin,
	// and welcomes bob back into it: refused, she was no admin when he left.
	eve := newPerson("eve")
	fake := &State{id: admin.ID(), epoch: 10, prev: Hash{9}, name: "eve's",
		members: []Member{{User: "eve", Identity: eve.id.Public(), Role: RoleAdmin}}}
	fake, err = fake.seal()
	check(t, err)
	fakeAdd, _, err := fake.Add(eve.id, eve.user, members(bob), testTime)
	check(t, err)
	_, err = r.ReceiveWelcome(NewWelcome(fake, fakeAdd), eve.device(1))
	wantErr(t, err, ErrUnauthorized)
	if r.Head().IsMember("eve") {
		t.Fatal("bob joined eve's made-up history")
	}
	u, err := r.ReceiveWelcome(w, ann.device(1))
	check(t, err)
	if len(u.Result.Applied) != 1 || r.Head().Hash() != admin.Head().Hash() || !r.Head().IsMember("bob") {
		t.Fatal("rejoin failed")
	}
	if _, err := r.ReceiveWelcome(w, ann.device(1)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second welcome: %v", err)
	}
}
