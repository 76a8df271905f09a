package ratchet

import (
	"crypto/ecdh"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// State layout (version 1). All integers are big-endian; absent keys are
// all zero.
//
//	size  field
//	1     version, StateVersion
//	1     flags: bit 0 peer ratchet key known, bit 1 sending chain,
//	      bit 2 receiving chain; other bits zero
//	32    root key
//	32    our ratchet private key (X25519)
//	32    peer's ratchet public key
//	32    sending chain key
//	32    receiving chain key
//	4     Ns, next N to send
//	4     Nr, next N expected
//	4     PN, length of our previous sending chain
//	2+n   session associated data, u16-prefixed, n <= MaxADLen
//	1+32k the peer's earlier ratchet keys, u8 count k <= MaxRemoteKeyHistory, oldest first
//	2+68m skipped keys, u16 count m <= MaxSkippedKeys, oldest first,
//	      each: peer ratchet key (32), N (4), message key (32)
const (
	// StateVersion is the first byte of a serialized State.
	StateVersion = 1

	flagDHr     = 1 << 0
	flagCKs     = 1 << 1
	flagCKr     = 1 << 2
	flagsKnown  = flagDHr | flagCKs | flagCKr
	stateFixed  = 2 + 5*KeySize + 3*4
	skippedSize = KeySize + 4 + KeySize
)

// MarshalBinary serializes the state. The result holds every secret of the
// session: store it sealed (the vault does) and wipe it when done.
func (s *State) MarshalBinary() ([]byte, error) {
	if s.dhs == nil {
		return nil, fmt.Errorf("ratchet: uninitialized State")
	}
	size := stateFixed + 2 + len(s.ad) + 1 + KeySize*len(s.history.keys) + 2 + skippedSize*s.skipped.len()
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, size))
	b.AddUint8(StateVersion)
	b.AddUint8(s.flags())
	b.AddBytes(s.rk[:])
	priv := s.dhs.Bytes()
	b.AddBytes(priv)
	clear(priv)
	b.AddBytes(s.dhr[:])
	b.AddBytes(s.cks[:])
	b.AddBytes(s.ckr[:])
	b.AddUint32(s.ns)
	b.AddUint32(s.nr)
	b.AddUint32(s.pn)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.ad) })
	b.AddUint8(uint8(len(s.history.keys)))
	for i := range s.history.keys {
		b.AddBytes(s.history.keys[i][:])
	}
	b.AddUint16(uint16(s.skipped.len()))
	s.skipped.each(func(id skippedID, mk *secret) {
		b.AddBytes(id.dh[:])
		b.AddUint32(id.n)
		b.AddBytes(mk[:])
	})
	return b.Bytes()
}

func (s *State) flags() uint8 {
	var f uint8
	if s.hasDHr {
		f |= flagDHr
	}
	if s.hasCKs {
		f |= flagCKs
	}
	if s.hasCKr {
		f |= flagCKr
	}
	return f
}

// Unmarshal parses a state serialized by MarshalBinary, validating every
// field: sizes, counts against their bounds, key encodings and the
// consistency of the flags with the keys and counters.
func Unmarshal(b []byte) (*State, error) {
	in := cryptobyte.String(b)
	var version, flags uint8
	if !in.ReadUint8(&version) {
		return nil, fmt.Errorf("%w: empty state", ErrMalformed)
	}
	if version != StateVersion {
		return nil, fmt.Errorf("%w: state version %d, want %d", ErrVersion, version, StateVersion)
	}
	s := new(State)
	var priv []byte
	if !in.ReadUint8(&flags) || !readKey(&in, (*[KeySize]byte)(&s.rk)) || !in.ReadBytes(&priv, KeySize) ||
		!readKey(&in, &s.dhr) || !readKey(&in, (*[KeySize]byte)(&s.cks)) || !readKey(&in, (*[KeySize]byte)(&s.ckr)) ||
		!in.ReadUint32(&s.ns) || !in.ReadUint32(&s.nr) || !in.ReadUint32(&s.pn) {
		return nil, fmt.Errorf("%w: state truncated", ErrMalformed)
	}
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: ratchet private key: %v", ErrMalformed, err)
	}
	s.setSendingKey(k)
	if err := s.setFlags(flags); err != nil {
		return nil, err
	}
	if err := s.readVariable(&in); err != nil {
		return nil, err
	}
	if !in.Empty() {
		return nil, fmt.Errorf("%w: %d trailing bytes after state", ErrMalformed, len(in))
	}
	return s, nil
}

func readKey(in *cryptobyte.String, k *[KeySize]byte) bool {
	return in.CopyBytes(k[:])
}

// setFlags applies flags and checks them against the keys and counters:
// only the initiator's and responder's starting shapes and the full shape
// exist, and absent keys and counters must be zero.
func (s *State) setFlags(flags uint8) error {
	s.hasDHr, s.hasCKs, s.hasCKr = flags&flagDHr != 0, flags&flagCKs != 0, flags&flagCKr != 0
	ok := flags&^flagsKnown == 0 &&
		(s.hasCKs == s.hasDHr) && (!s.hasCKr || s.hasCKs) &&
		(s.hasDHr || s.dhr == [KeySize]byte{}) &&
		(s.hasCKs || s.cks.isZero() && s.ns == 0 && s.pn == 0) &&
		(s.hasCKr || s.ckr.isZero() && s.nr == 0) &&
		(!s.hasDHr || canonicalX25519(&s.dhr)) &&
		!s.rk.isZero()
	if !ok {
		return fmt.Errorf("%w: inconsistent state flags %#x", ErrMalformed, flags)
	}
	return nil
}

// readVariable reads the associated data, key history and skipped keys.
func (s *State) readVariable(in *cryptobyte.String) error {
	var ad cryptobyte.String
	if !in.ReadUint16LengthPrefixed(&ad) {
		return fmt.Errorf("%w: state associated data truncated", ErrMalformed)
	}
	if len(ad) > MaxADLen {
		return fmt.Errorf("%w: state associated data is %d bytes, limit %d", ErrMalformed, len(ad), MaxADLen)
	}
	s.ad = append([]byte(nil), ad...)
	if err := s.readHistory(in); err != nil {
		return err
	}
	return s.readSkipped(in)
}

func (s *State) readHistory(in *cryptobyte.String) error {
	var count uint8
	if !in.ReadUint8(&count) || int(count) > MaxRemoteKeyHistory {
		return fmt.Errorf("%w: state key history count", ErrMalformed)
	}
	if count > 0 && !s.hasDHr {
		return fmt.Errorf("%w: key history without a peer ratchet key", ErrMalformed)
	}
	s.history.keys = make([][KeySize]byte, count)
	for i := range s.history.keys {
		if !readKey(in, &s.history.keys[i]) || !canonicalX25519(&s.history.keys[i]) {
			return fmt.Errorf("%w: state key history entry %d", ErrMalformed, i)
		}
	}
	return nil
}

func (s *State) readSkipped(in *cryptobyte.String) error {
	var count uint16
	if !in.ReadUint16(&count) || int(count) > MaxSkippedKeys || len(*in) < int(count)*skippedSize {
		return fmt.Errorf("%w: state skipped-key count", ErrMalformed)
	}
	if count > 0 && !s.hasDHr {
		return fmt.Errorf("%w: skipped keys without a peer ratchet key", ErrMalformed)
	}
	keys := make([]skippedKey, count)
	seen := make(map[skippedID]bool, count)
	for i := range keys {
		k := &keys[i]
		if !readKey(in, &k.id.dh) || !in.ReadUint32(&k.id.n) || !readKey(in, (*[KeySize]byte)(&k.mk)) ||
			!canonicalX25519(&k.id.dh) || seen[k.id] {
			return fmt.Errorf("%w: state skipped key %d", ErrMalformed, i)
		}
		seen[k.id] = true
	}
	s.skipped.add(keys)
	for i := range keys {
		keys[i].mk.wipe()
	}
	return nil
}
