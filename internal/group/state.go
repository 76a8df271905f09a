package group

import (
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// State layout (type 0x01):
//
//	u8  version, u8 type 0x01
//	16  group ID
//	u64 epoch
//	32  hash of the previous state (zero at epoch 0)
//	u64 rotation epoch: the latest epoch, up to this one, at which a
//	    member left or was removed (0 if none)
//	u8-prefixed name
//	u16 count ≤ MaxMembers, then per member in ascending user order:
//	    u8-prefixed user ID, identity (internal/keys encoding, 130 bytes),
//	    u8 role (1 member, 2 admin)
//
// The state hash is SHA-256("parley.dev/v1 group-state" ‖ 0x00 ‖ encoding).

// Role is a member's role.
type Role uint8

// Roles. Numbers are part of the encodings.
const (
	RoleMember Role = 1
	RoleAdmin  Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role-%d", uint8(r))
}

// Member is one user of a group: its user ID, the identity the group
// knows it by (only devices certified by it receive group messages) and
// its role.
type Member struct {
	User     addr.UserID
	Identity keys.IdentityPublic
	Role     Role
}

// State is a group at one epoch. It is immutable, safe for concurrent
// use, and built only by Create, Apply, ParseState or a Log.
type State struct {
	id       ID
	epoch    uint64
	prev     Hash
	rotation uint64
	name     string
	members  []Member // ascending by User
	hash     Hash
	enc      []byte
}

// ID returns the group's ID.
func (s *State) ID() ID { return s.id }

// Epoch returns the state's epoch: 0 at creation, one more per change.
func (s *State) Epoch() uint64 { return s.epoch }

// Hash returns the state's hash, which the next change and every message
// sent in this state name.
func (s *State) Hash() Hash { return s.hash }

// Prev returns the hash of the state before this one (zero at epoch 0).
func (s *State) Prev() Hash { return s.prev }

// RotationEpoch returns the latest epoch, up to this one, at which a member
// left or was removed: sender chains older than it are stale.
func (s *State) RotationEpoch() uint64 { return s.rotation }

// Name returns the group's name.
func (s *State) Name() string { return s.name }

// Members returns the members in ascending user order.
func (s *State) Members() []Member { return slices.Clone(s.members) }

// Len returns the number of members.
func (s *State) Len() int { return len(s.members) }

// Member returns the member with the given user ID.
func (s *State) Member(u addr.UserID) (Member, bool) {
	i, ok := s.find(u)
	if !ok {
		return Member{}, false
	}
	return s.members[i], true
}

// IsMember reports whether u is a member.
func (s *State) IsMember(u addr.UserID) bool {
	_, ok := s.find(u)
	return ok
}

// IsAdmin reports whether u is an admin.
func (s *State) IsAdmin(u addr.UserID) bool {
	i, ok := s.find(u)
	return ok && s.members[i].Role == RoleAdmin
}

func (s *State) find(u addr.UserID) (int, bool) {
	return slices.BinarySearchFunc(s.members, u, func(m Member, u addr.UserID) int {
		switch {
		case m.User < u:
			return -1
		case m.User > u:
			return 1
		}
		return 0
	})
}

// admins counts the admins.
func (s *State) admins() int {
	n := 0
	for i := range s.members {
		if s.members[i].Role == RoleAdmin {
			n++
		}
	}
	return n
}

// MarshalBinary returns the state's encoding.
func (s *State) MarshalBinary() ([]byte, error) { return slices.Clone(s.enc), nil }

// seal encodes s and computes its hash. Every State goes through it once.
func (s *State) seal() (*State, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typeState)
	b.AddBytes(s.id[:])
	b.AddUint64(s.epoch)
	b.AddBytes(s.prev[:])
	b.AddUint64(s.rotation)
	addName(&b, s.name)
	addMembers(&b, s.members)
	enc, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("group: encode state: %w", err)
	}
	s.enc = enc
	s.hash = labelled(labelState, enc)
	return s, nil
}

// ParseState reads a state encoding, checking every field and every
// member identity.
func ParseState(b []byte) (*State, error) { return parseState(b, nil) }

func parseState(b []byte, ids identities) (*State, error) {
	s := cryptobyte.String(b)
	if err := readHeader(&s, typeState, "state"); err != nil {
		return nil, err
	}
	st := &State{}
	var id, prev []byte
	if !s.ReadBytes(&id, len(st.id)) || !s.ReadUint64(&st.epoch) || !s.ReadBytes(&prev, len(st.prev)) ||
		!s.ReadUint64(&st.rotation) || !readName(&s, &st.name) {
		return nil, malformed("state")
	}
	copy(st.id[:], id)
	copy(st.prev[:], prev)
	ms, err := readMembers(&s, ids)
	if err != nil {
		return nil, err
	}
	st.members = ms
	if !s.Empty() {
		return nil, malformed("state: trailing bytes")
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return st.seal()
}

// check checks the invariants every state keeps.
func (s *State) check() error {
	switch {
	case s.id.IsZero():
		return malformed("state: zero group ID")
	case s.epoch == 0 && (s.prev != Hash{}):
		return malformed("state: epoch 0 names a previous state")
	case s.epoch > 0 && (s.prev == Hash{}):
		return malformed("state: no previous state")
	case s.rotation > s.epoch:
		return malformed("state: rotation epoch after the epoch")
	case len(s.members) > 0 && s.admins() == 0:
		return malformed("state: members but no admin")
	}
	return nil
}
