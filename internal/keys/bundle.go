package keys

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// MaxBundleSize bounds an encoded Bundle; ParseBundle rejects longer input
// before parsing.
const MaxBundleSize = 4096

// Bundle is what a sender fetches to start a session with one device: the
// device's address, its user's identity, the device key with its
// certificate, and the device's prekeys with their signatures. The zero
// value is invalid; a Bundle is a plain value, safe for concurrent reads.
type Bundle struct {
	Address         addr.Address
	Identity        IdentityPublic
	Device          DevicePublic
	DeviceCert      []byte
	SignedPreKey    SignedPreKeyPublic
	SignedPreKeySig []byte
	OneTimePreKey   *OneTimePreKeyPublic // nil when the relay ran out
	KEMPreKey       KEMPreKeyPublic      // a one-time KEM key, or the last-resort one
	KEMPreKeySig    []byte
}

// Verify checks everything a sender must before using b: a valid address,
// the device certificate, both prekey signatures under the identity as
// prekeys of b.Address (so a relay cannot serve one device's prekeys as
// another's), valid
// keys, and that a post-quantum prekey is present (ErrNoKEM otherwise:
// there is no downgrade to X3DH). It does not say whether the identity is
// the one the sender expects; that is the caller's check.
func (b *Bundle) Verify() error {
	if !b.Address.Valid() {
		return fmt.Errorf("keys: bundle: %w address %q", addr.ErrInvalid, b.Address)
	}
	if b.Identity.IsZero() {
		return fmt.Errorf("keys: bundle: %w: no identity", ErrMalformed)
	}
	if b.KEMPreKey.IsZero() {
		return fmt.Errorf("keys: bundle: %w", ErrNoKEM)
	}
	if err := b.Identity.VerifyDeviceCert(b.Address.User, b.Device, b.DeviceCert); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if err := b.Identity.VerifySignedPreKey(b.Address, b.SignedPreKey, b.SignedPreKeySig); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if err := b.Identity.VerifyKEMPreKey(b.Address, b.KEMPreKey, b.KEMPreKeySig); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if otk := b.OneTimePreKey; otk != nil {
		if err := CheckX25519(otk.key[:]); err != nil || otk.ID == 0 {
			return fmt.Errorf("keys: bundle: one-time prekey: %w", errors.Join(ErrWeakKey, err))
		}
	}
	return nil
}

// MarshalBinary encodes b:
//
//	u8 version, u8 type (0x07)
//	address: u8-prefixed user ID, u32 device
//	u16-prefixed identity, device key, device certificate
//	u16-prefixed signed prekey, u16-prefixed signature
//	u8 one-time present (0 or 1), then if 1 the u16-prefixed one-time prekey
//	u16-prefixed KEM prekey, u16-prefixed signature
func (b *Bundle) MarshalBinary() ([]byte, error) {
	var out cryptobyte.Builder
	out.AddUint8(Version)
	out.AddUint8(typeBundle)
	a, err := b.Address.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("keys: bundle: %w", err)
	}
	out.AddBytes(a)
	for _, f := range [][]byte{b.Identity.Bytes(), b.Device.Bytes(), b.DeviceCert,
		b.SignedPreKey.Bytes(), b.SignedPreKeySig} {
		addU16(&out, f)
	}
	if b.OneTimePreKey == nil {
		out.AddUint8(0)
	} else {
		out.AddUint8(1)
		addU16(&out, b.OneTimePreKey.Bytes())
	}
	addU16(&out, b.KEMPreKey.Bytes())
	addU16(&out, b.KEMPreKeySig)
	return out.Bytes()
}

func addU16(b *cryptobyte.Builder, v []byte) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
}

// ParseBundle reads the encoding written by MarshalBinary and checks every
// key encoding in it. It does not check signatures: call Verify.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w bundle: %d bytes, limit %d", ErrMalformed, len(data), MaxBundleSize)
	}
	if err := checkHeader(data, typeBundle, len(data)); err != nil {
		return nil, err
	}
	s := cryptobyte.String(data[headerLen:])
	b := new(Bundle)
	var err error
	if b.Address, err = ReadAddress(&s); err != nil {
		return nil, fmt.Errorf("keys: bundle: %w", err)
	}
	if err := b.readKeys(&s); err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w bundle: %d trailing bytes", ErrMalformed, len(s))
	}
	return b, nil
}

func (b *Bundle) readKeys(s *cryptobyte.String) error {
	var ident, dev, spk, kem []byte
	var hasOTK uint8
	ok := readU16(s, &ident) && readU16(s, &dev) && readU16(s, &b.DeviceCert) &&
		readU16(s, &spk) && readU16(s, &b.SignedPreKeySig) && s.ReadUint8(&hasOTK)
	if !ok || hasOTK > 1 {
		return fmt.Errorf("%w bundle", ErrMalformed)
	}
	var err error
	if hasOTK == 1 {
		var otk []byte
		if !readU16(s, &otk) {
			return fmt.Errorf("%w bundle", ErrMalformed)
		}
		p, err := ParseOneTimePreKeyPublic(otk)
		if err != nil {
			return fmt.Errorf("keys: bundle: %w", err)
		}
		b.OneTimePreKey = &p
	}
	if !readU16(s, &kem) || !readU16(s, &b.KEMPreKeySig) {
		return fmt.Errorf("%w bundle", ErrMalformed)
	}
	if b.Identity, err = ParseIdentityPublic(ident); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if b.Device, err = ParseDevicePublic(dev); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if b.SignedPreKey, err = ParseSignedPreKeyPublic(spk); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	if b.KEMPreKey, err = ParseKEMPreKeyPublic(kem); err != nil {
		return fmt.Errorf("keys: bundle: %w", err)
	}
	return nil
}

// readU16 reads a u16-prefixed field into a fresh copy.
func readU16(s *cryptobyte.String, out *[]byte) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return false
	}
	*out = append([]byte(nil), v...)
	return true
}

// ReadAddress reads an address in the binary form of addr.Address.AppendBinary
// (u8-prefixed user ID, u32 device) and checks it is valid.
func ReadAddress(s *cryptobyte.String) (addr.Address, error) {
	var user cryptobyte.String
	var dev uint32
	if !s.ReadUint8LengthPrefixed(&user) || !s.ReadUint32(&dev) {
		return addr.Address{}, fmt.Errorf("%w address: truncated", ErrMalformed)
	}
	u, err := addr.ParseUserID(string(user))
	if err != nil {
		return addr.Address{}, err
	}
	a := addr.Address{User: u, Device: addr.DeviceID(dev)}
	if !a.Valid() {
		return addr.Address{}, fmt.Errorf("%w address %q", addr.ErrInvalid, a)
	}
	return a, nil
}
