package group

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Welcome layout (type 0x03):
//
//	u8 version, u8 type 0x03
//	u8 base present (0 or 1)
//	[u24-prefixed state: the state the change applies to]
//	u24-prefixed change
//
// A welcome without a base carries a create.

// Welcome is what a device joining a group receives: the change that
// added it (or the group's create) and the state that change applies to.
// The change's signer, an admin of that state, vouches for it by its hash,
// as an MLS GroupInfo is vouched for by its signer: a new member trusts
// whoever added it about the history before. It is immutable.
type Welcome struct {
	base   *State // nil for a create
	change *Change
}

// NewWelcome returns the welcome into the state change leads to from base
// (nil when change is a create). It is checked by Verify, not here.
func NewWelcome(base *State, change *Change) *Welcome {
	return &Welcome{base: base, change: change}
}

// Change returns the welcome's change.
func (w *Welcome) Change() *Change { return w.change }

// Base returns the state the change applies to (nil for a create).
func (w *Welcome) Base() *State { return w.base }

// Verify checks the change against the base (or the create) and returns
// the state it leads to.
func (w *Welcome) Verify() (*State, error) {
	if w.base == nil {
		return Genesis(w.change)
	}
	return w.base.Apply(w.change)
}

// MarshalBinary returns the welcome's encoding.
func (w *Welcome) MarshalBinary() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typeWelcome)
	if w.base != nil {
		b.AddUint8(1)
		addU24(&b, w.base.enc)
	} else {
		b.AddUint8(0)
	}
	addU24(&b, w.change.enc)
	return b.Bytes()
}

// ParseWelcome reads a welcome encoding (checking its parts' form; Verify
// checks the signature).
func ParseWelcome(b []byte) (*Welcome, error) {
	s := cryptobyte.String(b)
	if err := readHeader(&s, typeWelcome, "welcome"); err != nil {
		return nil, err
	}
	var has uint8
	if !s.ReadUint8(&has) || has > 1 {
		return nil, malformed("welcome")
	}
	w := &Welcome{}
	ids := identities{}
	if has == 1 {
		var sb []byte
		if !readU24(&s, &sb) {
			return nil, malformed("welcome base")
		}
		st, err := parseState(sb, ids)
		if err != nil {
			return nil, err
		}
		w.base = st
	}
	var cb []byte
	if !readU24(&s, &cb) || !s.Empty() {
		return nil, malformed("welcome change")
	}
	c, err := parseChange(cb, ids)
	if err != nil {
		return nil, err
	}
	if (c.kind == KindCreate) != (w.base == nil) {
		return nil, fmt.Errorf("%w: welcome: a base goes with any change but a create", ErrMalformed)
	}
	w.change = c
	return w, nil
}
