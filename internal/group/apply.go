package group

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Who may make which change, and what it does:
//
//	create   anyone; the signer is listed as an admin, under its identity
//	add      an admin; the users are not members; at most MaxMembers after
//	remove   an admin; the users are members other than the signer
//	leave    any member, for itself; the last admin leaving makes the
//	         member with the smallest user ID an admin
//	promote  an admin; the users are members, not admins
//	demote   an admin; the users are admins, and one admin remains
//	rename   an admin
//
// A remove or leave sets the state's rotation epoch to the change's epoch.

// Genesis verifies a create and returns the group's first state.
func Genesis(c *Change) (*State, error) {
	if c.kind != KindCreate {
		return nil, fmt.Errorf("%w: a group starts with a create, not %v", ErrInvalidChange, c.kind)
	}
	creator := c.creatorIdentity()
	i := slices.IndexFunc(c.members, func(m Member) bool { return m.User == c.signer })
	if i < 0 || c.members[i].Role != RoleAdmin {
		return nil, fmt.Errorf("%w: the creator is not an admin of the group it creates", ErrUnauthorized)
	}
	if err := c.verify(creator); err != nil {
		return nil, err
	}
	st := &State{id: c.group, name: c.name, members: slices.Clone(c.members)}
	return st.seal()
}

// Apply verifies c against s and returns the state c leads to. c must name
// s (its epoch and hash) and be signed by someone s allows to make it.
func (s *State) Apply(c *Change) (*State, error) {
	switch {
	case c.kind == KindCreate:
		return nil, fmt.Errorf("%w: a create applies to no state", ErrInvalidChange)
	case c.group != s.id:
		return nil, fmt.Errorf("%w: change of group %s applied to %s", ErrInvalidChange, c.group, s.id)
	case c.epoch != s.epoch+1 || c.prev != s.hash:
		return nil, fmt.Errorf("%w: change for epoch %d does not follow this state (epoch %d)", ErrFork, c.epoch, s.epoch)
	}
	signer, ok := s.Member(c.signer)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s is not a member", ErrUnauthorized, c.signer)
	case c.kind != KindLeave && signer.Role != RoleAdmin:
		return nil, fmt.Errorf("%w: %s is not an admin", ErrUnauthorized, c.signer)
	}
	if err := c.verify(signer.Identity); err != nil {
		return nil, err
	}
	return s.transition(c)
}

// transition returns the state after c, which is authorized.
func (s *State) transition(c *Change) (*State, error) {
	next := &State{id: s.id, epoch: c.epoch, prev: s.hash, rotation: s.rotation, name: s.name,
		members: slices.Clone(s.members)}
	var err error
	switch c.kind {
	case KindAdd:
		err = next.add(c.members)
	case KindRemove:
		err = next.remove(c.users, c.signer)
	case KindLeave:
		err = next.remove([]addr.UserID{c.signer}, "")
	case KindPromote:
		err = next.setRole(c.users, RoleMember, RoleAdmin)
	case KindDemote:
		err = next.setRole(c.users, RoleAdmin, RoleMember)
	case KindRename:
		next.name = c.name
	default:
		err = fmt.Errorf("%w: change kind %v", ErrInvalidChange, c.kind)
	}
	if err != nil {
		return nil, err
	}
	if c.kind == KindRemove || c.kind == KindLeave {
		next.rotation = c.epoch
		next.keepAnAdmin()
	}
	return next.seal()
}

func (s *State) add(ms []Member) error {
	for _, m := range ms {
		if s.IsMember(m.User) {
			return fmt.Errorf("%w: %s is a member already", ErrInvalidChange, m.User)
		}
	}
	if len(s.members)+len(ms) > MaxMembers {
		return fmt.Errorf("%w: %d members, limit %d", ErrTooLarge, len(s.members)+len(ms), MaxMembers)
	}
	s.members = append(s.members, ms...)
	slices.SortFunc(s.members, func(a, b Member) int { return strings.Compare(string(a.User), string(b.User)) })
	return nil
}

func (s *State) remove(us []addr.UserID, signer addr.UserID) error {
	for _, u := range us {
		i, ok := s.find(u)
		switch {
		case !ok:
			return fmt.Errorf("%w: %s is not a member", ErrInvalidChange, u)
		case u == signer:
			return fmt.Errorf("%w: %s cannot remove itself; it leaves", ErrInvalidChange, u)
		}
		s.members = slices.Delete(s.members, i, i+1)
	}
	return nil
}

func (s *State) setRole(us []addr.UserID, from, to Role) error {
	for _, u := range us {
		i, ok := s.find(u)
		if !ok || s.members[i].Role != from {
			return fmt.Errorf("%w: %s is not a %v", ErrInvalidChange, u, from)
		}
		s.members[i].Role = to
	}
	if s.admins() == 0 {
		return fmt.Errorf("%w: the group would have no admin", ErrInvalidChange)
	}
	return nil
}

// keepAnAdmin makes the first member an admin if no admin is left.
func (s *State) keepAnAdmin() {
	if len(s.members) > 0 && s.admins() == 0 {
		s.members[0].Role = RoleAdmin
	}
}

// Create makes a new group named name, with the signer (user self, identity
// id) as admin and others as members (or admins, as their Role says; a zero
// Role means member). It returns the signed create and the first state.
func Create(id *keys.Identity, self addr.UserID, name string, others []Member, now time.Time) (*Change, *State, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	ms := append([]Member{{User: self, Identity: id.Public(), Role: RoleAdmin}}, others...)
	for i := range ms {
		if ms[i].Role == 0 {
			ms[i].Role = RoleMember
		}
	}
	ms, err := sortedMembers(ms)
	if err != nil {
		return nil, nil, err
	}
	c := &Change{kind: KindCreate, signer: self, time: now, name: name, members: ms}
	rand.Read(c.nonce[:]) // never fails; see crypto/rand.Read
	c.group = groupID(self, id.Public(), c.nonce)
	if c, err = c.sign(id); err != nil {
		return nil, nil, err
	}
	st, err := Genesis(c)
	if err != nil {
		return nil, nil, err
	}
	return c, st, nil
}

// Add adds members (their roles are ignored: they join as members).
func (s *State) Add(id *keys.Identity, self addr.UserID, add []Member, now time.Time) (*Change, *State, error) {
	ms := slices.Clone(add)
	for i := range ms {
		ms[i].Role = RoleMember
	}
	ms, err := sortedMembers(ms)
	if err != nil {
		return nil, nil, err
	}
	return s.propose(id, &Change{kind: KindAdd, signer: self, time: now, members: ms})
}

// Remove removes members other than self.
func (s *State) Remove(id *keys.Identity, self addr.UserID, users []addr.UserID, now time.Time) (*Change, *State, error) {
	return s.proposeUsers(id, self, KindRemove, users, now)
}

// Leave removes self.
func (s *State) Leave(id *keys.Identity, self addr.UserID, now time.Time) (*Change, *State, error) {
	return s.propose(id, &Change{kind: KindLeave, signer: self, time: now})
}

// Promote makes members admins.
func (s *State) Promote(id *keys.Identity, self addr.UserID, users []addr.UserID, now time.Time) (*Change, *State, error) {
	return s.proposeUsers(id, self, KindPromote, users, now)
}

// Demote makes admins members.
func (s *State) Demote(id *keys.Identity, self addr.UserID, users []addr.UserID, now time.Time) (*Change, *State, error) {
	return s.proposeUsers(id, self, KindDemote, users, now)
}

// Rename renames the group.
func (s *State) Rename(id *keys.Identity, self addr.UserID, name string, now time.Time) (*Change, *State, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	return s.propose(id, &Change{kind: KindRename, signer: self, time: now, name: name})
}

func (s *State) proposeUsers(id *keys.Identity, self addr.UserID, k ChangeKind, users []addr.UserID, now time.Time) (*Change, *State, error) {
	us := slices.Clone(users)
	slices.Sort(us)
	if len(us) == 0 || len(us) > MaxMembers || len(slices.Compact(slices.Clone(us))) != len(us) {
		return nil, nil, fmt.Errorf("%w: 1 to %d distinct users", ErrInvalidChange, MaxMembers)
	}
	return s.propose(id, &Change{kind: k, signer: self, time: now, users: us})
}

// propose signs c as the next change of s and applies it, exactly as a
// receiver would.
func (s *State) propose(id *keys.Identity, c *Change) (*Change, *State, error) {
	if !id.Public().Equal(s.identityOf(c.signer)) {
		return nil, nil, fmt.Errorf("%w: %s is not a member under this identity", ErrUnauthorized, c.signer)
	}
	c.group, c.epoch, c.prev = s.id, s.epoch+1, s.hash
	c, err := c.sign(id)
	if err != nil {
		return nil, nil, err
	}
	if err := c.checkForm(); err != nil {
		return nil, nil, err
	}
	next, err := s.Apply(c)
	if err != nil {
		return nil, nil, err
	}
	return c, next, nil
}

func (s *State) identityOf(u addr.UserID) keys.IdentityPublic {
	m, _ := s.Member(u)
	return m.Identity
}

// sortedMembers sorts ms by user and refuses duplicates, invalid user IDs
// and zero identities.
func sortedMembers(ms []Member) ([]Member, error) {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(string(a.User), string(b.User)) })
	if len(ms) > MaxMembers {
		return nil, fmt.Errorf("%w: %d members, limit %d", ErrTooLarge, len(ms), MaxMembers)
	}
	for i := range ms {
		switch {
		case !ms[i].User.Valid() || ms[i].Identity.IsZero():
			return nil, fmt.Errorf("%w: member %q has no valid user ID or identity", ErrInvalidChange, ms[i].User)
		case i > 0 && ms[i-1].User == ms[i].User:
			return nil, fmt.Errorf("%w: %s listed twice", ErrInvalidChange, ms[i].User)
		}
	}
	return ms, nil
}
