package group

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Change layout (type 0x02):
//
//	u8  version, u8 type 0x02
//	u8  kind
//	16  group ID
//	u64 epoch: the epoch the change moves the group to (0 for create)
//	32  hash of the state it applies to (zero for create)
//	u8-prefixed signer user ID
//	u64 time, the signer's clock, Unix milliseconds ≤ 2^63−1
//	body, by kind:
//	    create:   u8-prefixed name, 16-byte nonce, u16 count × member
//	    add:      u16 count × member (role 1)
//	    remove, promote, demote: u16 count × u8-prefixed user ID
//	    leave:    nothing
//	    rename:   u8-prefixed name
//	64  Ed25519 signature by the signer's identity over every byte above,
//	    labelled "parley.dev/v1 group-change" (internal/keys)
//
// Lists are in strictly ascending user order. The change digest is
// SHA-256("parley.dev/v1 group-change-digest" ‖ 0x00 ‖ encoding).

// ChangeKind says what a change does.
type ChangeKind uint8

// Change kinds. Numbers are part of the encoding; never reuse one.
const (
	KindCreate  ChangeKind = 1
	KindAdd     ChangeKind = 2
	KindRemove  ChangeKind = 3
	KindLeave   ChangeKind = 4
	KindPromote ChangeKind = 5
	KindDemote  ChangeKind = 6
	KindRename  ChangeKind = 7
)

var kindNames = [...]string{"", "create", "add", "remove", "leave", "promote", "demote", "rename"}

func (k ChangeKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// maxMillis is the largest time a change carries (u64 kept within int64).
const maxMillis = 1<<63 - 1

// nonceSize is the size of a create's nonce.
const createNonceSize = 16

// Change is one signed membership change. It is immutable and safe for
// concurrent use; build one with the methods of State (or Create) or
// ParseChange.
type Change struct {
	kind    ChangeKind
	group   ID
	epoch   uint64
	prev    Hash
	signer  addr.UserID
	time    time.Time
	name    string
	nonce   [createNonceSize]byte
	members []Member      // create, add
	users   []addr.UserID // remove, promote, demote
	sig     []byte
	enc     []byte // the whole encoding, signature included
	digest  Hash
}

// Kind returns what the change does.
func (c *Change) Kind() ChangeKind { return c.kind }

// Group returns the group's ID.
func (c *Change) Group() ID { return c.group }

// Epoch returns the epoch the change moves the group to.
func (c *Change) Epoch() uint64 { return c.epoch }

// Prev returns the hash of the state the change applies to.
func (c *Change) Prev() Hash { return c.prev }

// Signer returns the user who signed the change.
func (c *Change) Signer() addr.UserID { return c.signer }

// Time returns the signer's clock when it made the change.
func (c *Change) Time() time.Time { return c.time }

// Name returns the name a create or rename sets.
func (c *Change) Name() string { return c.name }

// Members returns the members a create lists or an add adds.
func (c *Change) Members() []Member { return slices.Clone(c.members) }

// Users returns the users a remove, promote or demote names; for a leave,
// the signer.
func (c *Change) Users() []addr.UserID {
	if c.kind == KindLeave {
		return []addr.UserID{c.signer}
	}
	if c.kind == KindAdd || c.kind == KindCreate {
		us := make([]addr.UserID, len(c.members))
		for i := range c.members {
			us[i] = c.members[i].User
		}
		return us
	}
	return slices.Clone(c.users)
}

// Digest returns the change's digest, which identifies it.
func (c *Change) Digest() Hash { return c.digest }

// MarshalBinary returns the change's encoding.
func (c *Change) MarshalBinary() ([]byte, error) { return slices.Clone(c.enc), nil }

// body returns the encoding without the signature.
func (c *Change) body() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typeChange)
	b.AddUint8(uint8(c.kind))
	b.AddBytes(c.group[:])
	b.AddUint64(c.epoch)
	b.AddBytes(c.prev[:])
	addUser(&b, c.signer)
	b.AddUint64(uint64(c.time.UnixMilli()))
	switch c.kind {
	case KindCreate:
		addName(&b, c.name)
		b.AddBytes(c.nonce[:])
		addMembers(&b, c.members)
	case KindAdd:
		addMembers(&b, c.members)
	case KindRemove, KindPromote, KindDemote:
		addUsers(&b, c.users)
	case KindRename:
		addName(&b, c.name)
	case KindLeave:
	default:
		return nil, fmt.Errorf("%w: change kind %d", ErrMalformed, c.kind)
	}
	return b.Bytes()
}

// sign encodes c and signs it with id.
func (c *Change) sign(id *keys.Identity) (*Change, error) {
	if ms := c.time.UnixMilli(); ms < 0 {
		return nil, fmt.Errorf("%w: time before 1970", ErrInvalidChange)
	}
	body, err := c.body()
	if err != nil {
		return nil, err
	}
	c.sig = id.SignGroupChange(body)
	c.enc = append(body, c.sig...)
	c.digest = labelled(labelChange, c.enc)
	return c, nil
}

// verify checks c's signature under id.
func (c *Change) verify(id keys.IdentityPublic) error {
	if err := id.VerifyGroupChange(c.enc[:len(c.enc)-ed25519.SignatureSize], c.sig); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return nil
}

// ParseChange reads a change encoding. It checks the form, not the
// signature: that needs the state the change applies to (State.Apply).
func ParseChange(b []byte) (*Change, error) { return parseChange(b, nil) }

func parseChange(b []byte, ids identities) (*Change, error) {
	s := cryptobyte.String(b)
	if err := readHeader(&s, typeChange, "change"); err != nil {
		return nil, err
	}
	c := &Change{}
	var kind uint8
	var group, prev []byte
	var ms uint64
	if !s.ReadUint8(&kind) || !s.ReadBytes(&group, len(c.group)) || !s.ReadUint64(&c.epoch) ||
		!s.ReadBytes(&prev, len(c.prev)) || !readUser(&s, &c.signer) || !s.ReadUint64(&ms) || ms > maxMillis {
		return nil, malformed("change")
	}
	c.kind = ChangeKind(kind)
	copy(c.group[:], group)
	copy(c.prev[:], prev)
	c.time = time.UnixMilli(int64(ms))
	if err := c.readBody(&s, ids); err != nil {
		return nil, err
	}
	if !s.ReadBytes(&c.sig, ed25519.SignatureSize) || !s.Empty() {
		return nil, malformed("change signature")
	}
	if err := c.checkForm(); err != nil {
		return nil, err
	}
	c.enc = slices.Clone(b)
	c.sig = c.enc[len(c.enc)-ed25519.SignatureSize:]
	c.digest = labelled(labelChange, c.enc)
	return c, nil
}

func (c *Change) readBody(s *cryptobyte.String, ids identities) error {
	var err error
	switch c.kind {
	case KindCreate:
		var nonce []byte
		if !readName(s, &c.name) || !s.ReadBytes(&nonce, createNonceSize) {
			return malformed("create")
		}
		copy(c.nonce[:], nonce)
		c.members, err = readMembers(s, ids)
	case KindAdd:
		c.members, err = readMembers(s, ids)
	case KindRemove, KindPromote, KindDemote:
		c.users, err = readUsers(s)
	case KindRename:
		if !readName(s, &c.name) {
			return malformed("rename")
		}
	case KindLeave:
	default:
		return fmt.Errorf("%w: change kind %d", ErrMalformed, c.kind)
	}
	return err
}

// checkForm checks what a change must satisfy whatever the state.
func (c *Change) checkForm() error {
	switch {
	case c.group.IsZero():
		return malformed("change: zero group ID")
	case c.kind == KindCreate && (c.epoch != 0 || c.prev != Hash{}):
		return malformed("create: not at epoch 0")
	case c.kind != KindCreate && (c.epoch == 0 || c.prev == Hash{}):
		return malformed("change: no previous state")
	case (c.kind == KindAdd || c.kind == KindCreate) && len(c.members) == 0,
		(c.kind == KindRemove || c.kind == KindPromote || c.kind == KindDemote) && len(c.users) == 0:
		return malformed("change: names no one")
	}
	if c.kind == KindAdd {
		for i := range c.members {
			if c.members[i].Role != RoleMember {
				return malformed("add: new members join as members")
			}
		}
	}
	if c.kind == KindCreate && c.group != groupID(c.signer, c.creatorIdentity(), c.nonce) {
		return malformed("create: group ID is not derived from its creator")
	}
	return nil
}

// creatorIdentity returns the identity a create lists for its signer (zero
// if it lists none).
func (c *Change) creatorIdentity() keys.IdentityPublic {
	for i := range c.members {
		if c.members[i].User == c.signer {
			return c.members[i].Identity
		}
	}
	return keys.IdentityPublic{}
}

// groupID derives a group's ID from its creator and the create's nonce.
func groupID(creator addr.UserID, id keys.IdentityPublic, nonce [createNonceSize]byte) ID {
	var idb []byte
	if !id.IsZero() {
		idb = id.Bytes()
	}
	h := labelled(labelID, []byte{byte(len(creator))}, []byte(creator), idb, nonce[:])
	var out ID
	copy(out[:], h[:])
	return out
}
