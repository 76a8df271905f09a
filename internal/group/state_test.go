package group

import (
	"fmt"
	"slices"
	"testing"

	"parley.dev/internal/addr"
)

func TestCreateAndApplyEveryKind(t *testing.T) {
	ann, bob, cat, dan := newPerson("ann"), newPerson("bob"), newPerson("cat"), newPerson("dan")
	c, st, err := Create(ann.id, ann.user, "team", members(bob, cat), testTime)
	check(t, err)
	if st.Epoch() != 0 || st.Len() != 3 || !st.IsAdmin("ann") || st.IsAdmin("bob") || st.Name() != "team" {
		t.Fatalf("genesis: epoch %d, %d members", st.Epoch(), st.Len())
	}
	if g := must(Genesis(must(ParseChange(must(c.MarshalBinary()))))); g.Hash() != st.Hash() {
		t.Fatal("a parsed create leads to another state")
	}
	steps := []func(*State) (*Change, *State, error){
		func(s *State) (*Change, *State, error) { return s.Add(ann.id, ann.user, members(dan), testTime) },
		func(s *State) (*Change, *State, error) {
			return s.Promote(ann.id, ann.user, []addr.UserID{"bob"}, testTime)
		},
		func(s *State) (*Change, *State, error) { return s.Rename(bob.id, bob.user, "crew", testTime) },
		func(s *State) (*Change, *State, error) {
			return s.Remove(bob.id, bob.user, []addr.UserID{"cat"}, testTime)
		},
		func(s *State) (*Change, *State, error) {
			return s.Demote(bob.id, bob.user, []addr.UserID{"ann"}, testTime)
		},
		func(s *State) (*Change, *State, error) { return s.Leave(dan.id, dan.user, testTime) },
	}
	for i, step := range steps {
		c, next, err := step(st)
		check(t, err)
		parsed := must(ParseChange(must(c.MarshalBinary())))
		again := must(st.Apply(parsed))
		if again.Hash() != next.Hash() || next.Epoch() != uint64(i+1) || next.Prev() != st.Hash() {
			t.Fatalf("step %d (%v): receiver and signer disagree", i, c.Kind())
		}
		if reparsed := must(ParseState(must(next.MarshalBinary()))); reparsed.Hash() != next.Hash() {
			t.Fatalf("step %d: state does not round-trip", i)
		}
		st = next
	}
	want := []Member{{User: "ann", Identity: ann.id.Public(), Role: RoleMember}, {User: "bob", Identity: bob.id.Public(), Role: RoleAdmin}}
	if got := st.Members(); !slices.EqualFunc(got, want, func(a, b Member) bool {
		return a.User == b.User && a.Role == b.Role && a.Identity.Equal(b.Identity)
	}) || st.Name() != "crew" {
		t.Fatalf("final members %v, name %q", got, st.Name())
	}
	if st.RotationEpoch() != 6 {
		t.Fatalf("rotation epoch %d, want 6 (the leave)", st.RotationEpoch())
	}
}

func TestChangeRules(t *testing.T) {
	ann, bob, cat := newPerson("ann"), newPerson("bob"), newPerson("cat")
	_, st, err := Create(ann.id, ann.user, "team", members(bob), testTime)
	check(t, err)
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"member adds", func() error { _, _, err := st.Add(bob.id, bob.user, members(cat), testTime); return err }, ErrUnauthorized},
		{"stranger adds", func() error { _, _, err := st.Add(cat.id, cat.user, members(cat), testTime); return err }, ErrUnauthorized},
		{"add a member", func() error { _, _, err := st.Add(ann.id, ann.user, members(bob), testTime); return err }, ErrInvalidChange},
		{"remove self", func() error {
			_, _, err := st.Remove(ann.id, ann.user, []addr.UserID{"ann"}, testTime)
			return err
		}, ErrInvalidChange},
		{"remove stranger", func() error {
			_, _, err := st.Remove(ann.id, ann.user, []addr.UserID{"cat"}, testTime)
			return err
		}, ErrInvalidChange},
		{"demote last admin", func() error {
			_, _, err := st.Demote(ann.id, ann.user, []addr.UserID{"ann"}, testTime)
			return err
		}, ErrInvalidChange},
		{"promote admin", func() error {
			_, _, err := st.Promote(ann.id, ann.user, []addr.UserID{"ann"}, testTime)
			return err
		}, ErrInvalidChange},
		{"member renames", func() error { _, _, err := st.Rename(bob.id, bob.user, "x", testTime); return err }, ErrUnauthorized},
		{"empty name", func() error { _, _, err := st.Rename(ann.id, ann.user, "", testTime); return err }, ErrInvalidChange},
		{"control character", func() error { _, _, err := st.Rename(ann.id, ann.user, "a\nb", testTime); return err }, ErrInvalidChange},
		{"stranger leaves", func() error { _, _, err := st.Leave(cat.id, cat.user, testTime); return err }, ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.do(), tc.want) })
	}
}

func TestLastAdminLeaving(t *testing.T) {
	ann, bob, cat := newPerson("ann"), newPerson("bob"), newPerson("cat")
	_, st, err := Create(ann.id, ann.user, "team", members(cat, bob), testTime)
	check(t, err)
	_, st, err = st.Leave(ann.id, ann.user, testTime)
	check(t, err)
	if !st.IsAdmin("bob") || st.IsAdmin("cat") {
		t.Fatal("the member with the smallest user ID did not become admin")
	}
	_, st, err = st.Leave(bob.id, bob.user, testTime)
	check(t, err)
	_, st, err = st.Leave(cat.id, cat.user, testTime)
	check(t, err)
	if st.Len() != 0 {
		t.Fatal("members left")
	}
	if _, _, err := st.Add(cat.id, cat.user, members(bob), testTime); err == nil {
		t.Fatal("an empty group took a change")
	}
}

func TestMaxMembers(t *testing.T) {
	ann := newPerson("ann")
	var others []person
	for i := range MaxMembers {
		others = append(others, newPerson(fmt.Sprintf("u%04d", i)))
	}
	_, _, err := Create(ann.id, ann.user, "big", members(others...), testTime)
	wantErr(t, err, ErrTooLarge)
	_, st, err := Create(ann.id, ann.user, "big", members(others[:MaxMembers-1]...), testTime)
	check(t, err)
	_, _, err = st.Add(ann.id, ann.user, members(others[MaxMembers-1]), testTime)
	wantErr(t, err, ErrTooLarge)
	enc := must(st.MarshalBinary())
	if must(ParseState(enc)).Hash() != st.Hash() {
		t.Fatal("a full group does not round-trip")
	}
}

func TestGroupIDBoundToCreator(t *testing.T) {
	ann, bob := newPerson("ann"), newPerson("bob")
	c, _, err := Create(ann.id, ann.user, "team", members(bob), testTime)
	check(t, err)
	enc := must(c.MarshalBinary())
	// bob re-signs ann's create under his name: the ID no longer derives
	// from its creator.
	forged := &Change{kind: KindCreate, group: c.group, signer: bob.user, time: testTime, name: "team",
		nonce: c.nonce, members: []Member{{User: "ann", Identity: ann.id.Public(), Role: RoleMember},
			{User: "bob", Identity: bob.id.Public(), Role: RoleAdmin}}}
	forged, err = forged.sign(bob.id)
	check(t, err)
	_, err = ParseChange(must(forged.MarshalBinary()))
	wantErr(t, err, ErrMalformed)
	if _, err := ParseChange(enc); err != nil {
		t.Fatal(err)
	}
}

func TestEncodingsAreTyped(t *testing.T) {
	ann, bob := newPerson("ann"), newPerson("bob")
	c, log := create(t, ann, bob)
	st := log.Head()
	w := must(log.Welcome())
	encs := map[string][]byte{"state": must(st.MarshalBinary()), "change": must(c.MarshalBinary()),
		"welcome": must(w.MarshalBinary()), "log": must(log.MarshalBinary())}
	parsers := map[string]func([]byte) error{
		"state":   func(b []byte) error { _, err := ParseState(b); return err },
		"change":  func(b []byte) error { _, err := ParseChange(b); return err },
		"welcome": func(b []byte) error { _, err := ParseWelcome(b); return err },
		"log":     func(b []byte) error { _, err := UnmarshalLog(b); return err },
		"message": func(b []byte) error { _, err := ParseMessage(b); return err },
		"dist":    func(b []byte) error { _, err := ParseDistribution(b); return err },
	}
	for en, b := range encs {
		for pn, parse := range parsers {
			err := parse(b)
			if (err == nil) != (en == pn) {
				t.Errorf("%s parsed as %s: %v", en, pn, err)
			}
		}
		bad := slices.Clone(b)
		bad[0] = 2
		wantErr(t, parsers[en](bad), ErrVersion)
	}
}
