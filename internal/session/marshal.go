package session

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/keys"
	"parley.dev/internal/pqxdh"
	"parley.dev/internal/ratchet"
)

// Serialized session layout (version 1):
//
//	u8 state version (1)
//	u8 flags: 0x01 initiator, 0x02 confirmed (initiator only); others zero
//	local address, remote address: u8-prefixed user ID, u32 device each
//	remote identity (keys encoding, 130 bytes)
//	base key (32)
//	u16-prefixed PQXDH header: present iff initiator and not confirmed
//	u32-prefixed ratchet state (ratchet.State.MarshalBinary)
const (
	stateVersion   = 1
	flagInitiator  = 0x01
	flagConfirmed  = 0x02
	flagsKnown     = flagInitiator | flagConfirmed
	maxStateLength = 1 << 20 // far above any real state; bounds Unmarshal's input
)

// MarshalBinary serializes the session, ratchet secrets included: the
// result is secret, for the vault only.
func (s *Session) MarshalBinary() ([]byte, error) {
	if s.ratchet == nil {
		return nil, fmt.Errorf("session: uninitialized Session")
	}
	r, err := s.ratchet.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	defer clear(r)
	b := appendPrefixState(nil, s)
	if b, err = s.local.AppendBinary(b); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if b, err = s.remote.AppendBinary(b); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	out := cryptobyte.NewBuilder(b)
	out.AddBytes(s.remoteIdentity.Bytes())
	out.AddBytes(s.baseKey[:])
	out.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.header) })
	out.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(r) })
	return out.Bytes()
}

func appendPrefixState(b []byte, s *Session) []byte {
	var flags byte
	if s.initiator {
		flags |= flagInitiator
	}
	if s.confirmed {
		flags |= flagConfirmed
	}
	return append(b, stateVersion, flags)
}

// Unmarshal reads and checks a session written by MarshalBinary.
func Unmarshal(data []byte) (*Session, error) {
	if len(data) > maxStateLength {
		return nil, fmt.Errorf("%w: state is %d bytes", ErrTooLarge, len(data))
	}
	in := cryptobyte.String(data)
	var v, flags uint8
	if !in.ReadUint8(&v) || !in.ReadUint8(&flags) {
		return nil, fmt.Errorf("%w: truncated state", ErrMalformed)
	}
	if v != stateVersion {
		return nil, fmt.Errorf("%w: state version %d", ErrVersion, v)
	}
	s := &Session{initiator: flags&flagInitiator != 0, confirmed: flags&flagConfirmed != 0}
	if flags&^flagsKnown != 0 || s.confirmed && !s.initiator {
		return nil, fmt.Errorf("%w: state flags 0x%02x", ErrMalformed, flags)
	}
	var err error
	if s.local, err = keys.ReadAddress(&in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if s.remote, err = keys.ReadAddress(&in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := s.readRest(&in); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) readRest(in *cryptobyte.String) error {
	var ident, base, r []byte
	var header cryptobyte.String
	var rlen uint32
	if !in.ReadBytes(&ident, keys.IdentityPublicSize) || !in.ReadBytes(&base, keys.X25519Size) ||
		!in.ReadUint16LengthPrefixed(&header) || !in.ReadUint32(&rlen) || rlen > maxStateLength || !in.ReadBytes(&r, int(rlen)) || !in.Empty() {
		return fmt.Errorf("%w: truncated or trailing state", ErrMalformed)
	}
	var err error
	if s.remoteIdentity, err = keys.ParseIdentityPublic(ident); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := keys.CheckX25519(base); err != nil {
		return fmt.Errorf("%w: base key: %w", ErrMalformed, err)
	}
	copy(s.baseKey[:], base)
	if err := s.readHeader(header); err != nil {
		return err
	}
	if s.ratchet, err = ratchet.Unmarshal(r); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// readHeader checks the stored PQXDH header is present exactly when the
// initiator still sends it, and that it matches the session.
func (s *Session) readHeader(b []byte) error {
	want := s.initiator && !s.confirmed
	if want != (len(b) > 0) {
		return fmt.Errorf("%w: PQXDH header present: %v", ErrMalformed, len(b) > 0)
	}
	if !want {
		return nil
	}
	h, err := pqxdh.ParseHeader(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h.Ephemeral != s.baseKey || h.From != s.local || h.To != s.remote {
		return fmt.Errorf("%w: PQXDH header does not match the session", ErrMalformed)
	}
	s.header = append([]byte(nil), b...)
	return nil
}
