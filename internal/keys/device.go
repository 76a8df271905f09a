package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"

	"parley.dev/internal/addr"
)

// Sizes of device encodings.
const (
	DevicePublicSize = headerLen + ed25519.PublicKeySize
	DeviceCertSize   = headerLen + ed25519.SignatureSize
	deviceSecretSize = headerLen + ed25519.SeedSize
	DeviceSigSize    = ed25519.SignatureSize // a DeviceKey.Sign result
)

// DevicePublic is the Ed25519 key a device authenticates to the relay with.
// The zero value is invalid.
type DevicePublic struct {
	key [ed25519.PublicKeySize]byte
}

// ParseDevicePublic reads the encoding written by Bytes and checks the key
// is canonical and not of small order.
func ParseDevicePublic(b []byte) (DevicePublic, error) {
	var p DevicePublic
	if err := checkHeader(b, typeDevicePublic, DevicePublicSize); err != nil {
		return p, err
	}
	if err := checkEd25519(b[headerLen:]); err != nil {
		return p, fmt.Errorf("device key: %w", err)
	}
	copy(p.key[:], b[headerLen:])
	return p, nil
}

// Bytes returns the encoding: version, type, Ed25519 key.
func (p DevicePublic) Bytes() []byte {
	return append([]byte{Version, typeDevicePublic}, p.key[:]...)
}

// IsZero reports whether p is the zero value.
func (p DevicePublic) IsZero() bool { return p == DevicePublic{} }

// Verify reports whether sig is the device's Ed25519 signature of msg.
// Callers choose msg so that it cannot be confused with another protocol's
// (the relay prefixes its own label).
func (p DevicePublic) Verify(msg, sig []byte) bool {
	return !p.IsZero() && ed25519.Verify(p.key[:], msg, sig)
}

// String returns the text form, "parley-device-2:" and base64url.
func (p DevicePublic) String() string { return string(appendText(textDevice, p.Bytes())) }

// MarshalText returns the text form.
func (p DevicePublic) MarshalText() ([]byte, error) { return appendText(textDevice, p.Bytes()), nil }

// UnmarshalText reads the text form and checks it as ParseDevicePublic does.
func (p *DevicePublic) UnmarshalText(text []byte) error {
	b, err := decodeText(textDevice, text)
	if err != nil {
		return err
	}
	q, err := ParseDevicePublic(b)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// deviceCertMessage is what a device certificate signs: the user ID
// (u8-prefixed) and the device key's encoding.
func deviceCertMessage(user addr.UserID, dev DevicePublic) ([]byte, error) {
	if !user.Valid() {
		return nil, fmt.Errorf("%w user ID %q", addr.ErrInvalid, user)
	}
	return signed(sigDeviceCert, []byte{byte(len(user))}, []byte(user), dev.Bytes()), nil
}

// SignDeviceCert returns the certificate by which id vouches that dev is a
// device of user: version, type, Ed25519 signature.
func (id *Identity) SignDeviceCert(user addr.UserID, dev DevicePublic) ([]byte, error) {
	msg, err := deviceCertMessage(user, dev)
	if err != nil {
		return nil, fmt.Errorf("keys: sign device certificate: %w", err)
	}
	return append([]byte{Version, typeDeviceCert}, ed25519.Sign(id.sign, msg)...), nil
}

// VerifyDeviceCert checks that cert is p's certificate for dev as a device
// of user. Errors wrap ErrBadSignature, or the encoding errors.
func (p IdentityPublic) VerifyDeviceCert(user addr.UserID, dev DevicePublic, cert []byte) error {
	if err := checkHeader(cert, typeDeviceCert, DeviceCertSize); err != nil {
		return err
	}
	if dev.IsZero() {
		return fmt.Errorf("%w: device certificate for a zero device key", ErrBadSignature)
	}
	msg, err := deviceCertMessage(user, dev)
	if err != nil {
		return fmt.Errorf("%w: device certificate: %w", ErrBadSignature, err)
	}
	return p.verify(msg, cert[headerLen:], "device certificate")
}

// DeviceKey is a device's secret authentication key. It prints as
// REDACTED. Build one with GenerateDeviceKey or ParseDeviceSecret; the zero
// value is unusable. It is safe for concurrent use.
type DeviceKey struct {
	_   [0]func()
	key ed25519.PrivateKey
	pub DevicePublic
}

// GenerateDeviceKey returns a fresh random device key.
func GenerateDeviceKey() (*DeviceKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed) // never fails; see crypto/rand.Read
	return NewDeviceKey(seed)
}

// NewDeviceKey builds a device key from a 32-byte Ed25519 seed. Most
// callers want GenerateDeviceKey.
func NewDeviceKey(seed []byte) (*DeviceKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w device seed: %d bytes", ErrMalformed, len(seed))
	}
	k := &DeviceKey{key: ed25519.NewKeyFromSeed(seed)}
	copy(k.pub.key[:], k.key.Public().(ed25519.PublicKey))
	if err := checkEd25519(k.pub.key[:]); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseDeviceSecret reads the encoding written by MarshalSecret.
func ParseDeviceSecret(b []byte) (*DeviceKey, error) {
	if err := checkHeader(b, typeDeviceSecret, deviceSecretSize); err != nil {
		return nil, err
	}
	return NewDeviceKey(b[headerLen:])
}

// MarshalSecret returns the secret encoding: version, type, Ed25519 seed.
// It is for the device vault only; the result is secret.
func (k *DeviceKey) MarshalSecret() []byte {
	return append([]byte{Version, typeDeviceSecret}, k.key.Seed()...)
}

// Public returns the device's public key.
func (k *DeviceKey) Public() DevicePublic { return k.pub }

// Sign returns the Ed25519 signature of msg (DeviceSigSize bytes).
func (k *DeviceKey) Sign(msg []byte) []byte { return ed25519.Sign(k.key, msg) }

// Format, String and GoString print REDACTED for every verb.
func (DeviceKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (DeviceKey) String() string             { return redacted }
func (DeviceKey) GoString() string           { return redacted }
