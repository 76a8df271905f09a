package group

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Shared pieces of the encodings. Integers are big-endian; an address is
// its addr.Address binary form (u8-prefixed user ID, u32 device); an
// identity is its fixed-size internal/keys encoding.

func malformed(what string) error { return fmt.Errorf("%w %s", ErrMalformed, what) }

// readHeader reads and checks the version and type bytes.
func readHeader(s *cryptobyte.String, typ byte, what string) error {
	var v, t uint8
	if !s.ReadUint8(&v) || !s.ReadUint8(&t) {
		return malformed(what)
	}
	if v != Version {
		return fmt.Errorf("%w %d of %s", ErrVersion, v, what)
	}
	if t != typ {
		return fmt.Errorf("%w %s: type 0x%02x, want 0x%02x", ErrMalformed, what, t, typ)
	}
	return nil
}

func addUser(b *cryptobyte.Builder, u addr.UserID) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
}

func readUser(s *cryptobyte.String, u *addr.UserID) bool {
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) {
		return false
	}
	id, err := addr.ParseUserID(string(v))
	*u = id
	return err == nil
}

func addAddress(b *cryptobyte.Builder, a addr.Address) {
	addUser(b, a.User)
	b.AddUint32(uint32(a.Device))
}

func readAddress(s *cryptobyte.String, a *addr.Address) bool {
	var dev uint32
	if !readUser(s, &a.User) || !s.ReadUint32(&dev) || dev == 0 {
		return false
	}
	a.Device = addr.DeviceID(dev)
	return true
}

func addName(b *cryptobyte.Builder, name string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
}

func readName(s *cryptobyte.String, name *string) bool {
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) {
		return false
	}
	*name = string(v)
	return checkName(*name) == nil
}

// checkName checks a group name: 1 to MaxNameLen bytes of UTF-8 without
// control characters.
func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: a group name is 1 to %d bytes of UTF-8", ErrInvalidChange, MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: a group name has no control characters", ErrInvalidChange)
		}
	}
	return nil
}

// identities interns parsed identities: parsing checks a signature, and a
// log holds the same members in several states.
type identities map[string]keys.IdentityPublic

func (c identities) parse(b []byte) (keys.IdentityPublic, error) {
	if id, ok := c[string(b)]; ok {
		return id, nil
	}
	id, err := keys.ParseIdentityPublic(b)
	if err == nil && c != nil {
		c[string(b)] = id
	}
	return id, err
}

func addMember(b *cryptobyte.Builder, m *Member) {
	addUser(b, m.User)
	b.AddBytes(m.Identity.Bytes())
	b.AddUint8(uint8(m.Role))
}

func readMember(s *cryptobyte.String, m *Member, ids identities) error {
	var idb []byte
	var role uint8
	if !readUser(s, &m.User) || !s.ReadBytes(&idb, keys.IdentityPublicSize) || !s.ReadUint8(&role) {
		return malformed("member")
	}
	m.Role = Role(role)
	if m.Role != RoleMember && m.Role != RoleAdmin {
		return malformed("member role")
	}
	id, err := ids.parse(idb)
	if err != nil {
		return fmt.Errorf("%w member identity: %w", ErrMalformed, err)
	}
	m.Identity = id
	return nil
}

// addMembers writes u16 count ‖ members.
func addMembers(b *cryptobyte.Builder, ms []Member) {
	b.AddUint16(uint16(len(ms)))
	for i := range ms {
		addMember(b, &ms[i])
	}
}

// readMembers reads u16 count ‖ members, which must be in strictly
// ascending user order (one encoding per set).
func readMembers(s *cryptobyte.String, ids identities) ([]Member, error) {
	var n uint16
	if !s.ReadUint16(&n) {
		return nil, malformed("member count")
	}
	if n > MaxMembers {
		return nil, fmt.Errorf("%w: %d members, limit %d", ErrTooLarge, n, MaxMembers)
	}
	ms := make([]Member, n)
	for i := range ms {
		if err := readMember(s, &ms[i], ids); err != nil {
			return nil, err
		}
		if i > 0 && ms[i-1].User >= ms[i].User {
			return nil, malformed("member order")
		}
	}
	return ms, nil
}

// addUsers writes u16 count ‖ u8-prefixed user IDs.
func addUsers(b *cryptobyte.Builder, us []addr.UserID) {
	b.AddUint16(uint16(len(us)))
	for _, u := range us {
		addUser(b, u)
	}
}

// readUsers reads u16 count ‖ user IDs in strictly ascending order.
func readUsers(s *cryptobyte.String) ([]addr.UserID, error) {
	var n uint16
	if !s.ReadUint16(&n) {
		return nil, malformed("user count")
	}
	if n > MaxMembers {
		return nil, fmt.Errorf("%w: %d users, limit %d", ErrTooLarge, n, MaxMembers)
	}
	us := make([]addr.UserID, n)
	for i := range us {
		if !readUser(s, &us[i]) || i > 0 && us[i-1] >= us[i] {
			return nil, malformed("user list")
		}
	}
	return us, nil
}

func addU24(b *cryptobyte.Builder, v []byte) {
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
}

func readU24(s *cryptobyte.String, out *[]byte) bool {
	var v cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&v) {
		return false
	}
	*out = v
	return true
}
