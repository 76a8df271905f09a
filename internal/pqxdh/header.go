package pqxdh

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Header sizes.
const (
	addrMaxSize = 1 + addr.MaxUserIDLen + 4
	prekeyIDs   = 3 * 4 // signed, one-time, KEM prekey IDs
	// MaxHeaderSize bounds an encoded Header.
	MaxHeaderSize = 1 + 2*addrMaxSize + keys.IdentityPublicSize + keys.X25519Size + prekeyIDs + keys.KEMCiphertextSize
)

// Header is what the initiator sends with its first message (Signal's
// "initial message" minus the ciphertext). Values from ParseHeader are
// checked: valid addresses, a valid identity, a canonical non-low-order
// ephemeral key, nonzero signed and KEM prekey IDs, a full-size ciphertext.
//
// Encoding (MarshalBinary):
//
//	u8 version (1)
//	from address, to address: u8-prefixed user ID, u32 device each
//	initiator identity (keys encoding, 130 bytes)
//	ephemeral X25519 key EK_A (32)
//	u32 signed prekey ID, u32 one-time prekey ID (0 = none), u32 KEM prekey ID
//	ML-KEM-1024 ciphertext (1568)
type Header struct {
	From, To      addr.Address
	Identity      keys.IdentityPublic
	Ephemeral     [keys.X25519Size]byte // EK_A, the session's base key
	SignedPreKey  keys.PreKeyID
	OneTimePreKey keys.PreKeyID // 0 when the bundle had none
	KEMPreKey     keys.PreKeyID
	KEMCiphertext []byte
}

// MarshalBinary encodes h.
func (h *Header) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, MaxHeaderSize)
	b = append(b, Version)
	var err error
	if b, err = h.From.AppendBinary(b); err != nil {
		return nil, fmt.Errorf("pqxdh: header from: %w", err)
	}
	if b, err = h.To.AppendBinary(b); err != nil {
		return nil, fmt.Errorf("pqxdh: header to: %w", err)
	}
	var out cryptobyte.Builder
	out.AddBytes(b)
	out.AddBytes(h.Identity.Bytes())
	out.AddBytes(h.Ephemeral[:])
	out.AddUint32(uint32(h.SignedPreKey))
	out.AddUint32(uint32(h.OneTimePreKey))
	out.AddUint32(uint32(h.KEMPreKey))
	out.AddBytes(h.KEMCiphertext)
	return out.Bytes()
}

// ParseHeader reads and checks the encoding written by MarshalBinary.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxHeaderSize)
	}
	s := cryptobyte.String(b)
	var v uint8
	if !s.ReadUint8(&v) {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if v != Version {
		return nil, fmt.Errorf("%w %d", ErrVersion, v)
	}
	h := new(Header)
	var err error
	if h.From, err = keys.ReadAddress(&s); err != nil {
		return nil, fmt.Errorf("%w: from: %w", ErrMalformed, err)
	}
	if h.To, err = keys.ReadAddress(&s); err != nil {
		return nil, fmt.Errorf("%w: to: %w", ErrMalformed, err)
	}
	if err := h.readKeys(&s); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Header) readKeys(s *cryptobyte.String) error {
	var ident, eph []byte
	var spk, otk, kem uint32
	if !s.ReadBytes(&ident, keys.IdentityPublicSize) || !s.ReadBytes(&eph, keys.X25519Size) ||
		!s.ReadUint32(&spk) || !s.ReadUint32(&otk) || !s.ReadUint32(&kem) ||
		len(*s) != keys.KEMCiphertextSize {
		return fmt.Errorf("%w: truncated or oversized", ErrMalformed)
	}
	h.KEMCiphertext = append([]byte(nil), *s...)
	*s = (*s)[len(*s):]
	if spk == 0 || kem == 0 {
		return fmt.Errorf("%w: prekey ID 0", ErrMalformed)
	}
	h.SignedPreKey, h.OneTimePreKey, h.KEMPreKey = keys.PreKeyID(spk), keys.PreKeyID(otk), keys.PreKeyID(kem)
	var err error
	if h.Identity, err = keys.ParseIdentityPublic(ident); err != nil {
		return fmt.Errorf("%w: identity: %w", ErrMalformed, err)
	}
	if err := keys.CheckX25519(eph); err != nil {
		return fmt.Errorf("%w: ephemeral key: %w", ErrMalformed, err)
	}
	copy(h.Ephemeral[:], eph)
	return nil
}
