// Package keys defines Parley's typed keys: a user's identity, a device's
// relay-authentication key with its certificate, and the prekeys a device
// publishes so that others can start sessions with it while it is offline.
//
// # Keys
//
//   - An identity ([Identity], [IdentityPublic]) is an Ed25519 signing key
//     plus a separate X25519 key for PQXDH, bound to it by an Ed25519
//     signature. There is no XEdDSA and no key conversion.
//   - A device key ([DeviceKey], [DevicePublic]) is an Ed25519 key the device
//     authenticates to the relay with. The identity vouches for it with a
//     device certificate binding the user ID and the device key.
//   - Prekeys: a signed X25519 prekey ([SignedPreKey]), unsigned one-time
//     X25519 prekeys ([OneTimePreKey]) and signed ML-KEM-1024 prekeys
//     ([KEMPreKey]), either one-time or last-resort.
//
// # Encodings
//
// Every binary encoding starts with a version byte ([Version]) and a type
// byte, so that a key of one kind can never be parsed as another; a parser
// checks both, the exact length, and the key itself: X25519 keys must be
// canonical and not of low order, Ed25519 keys canonical and not of small
// order, ML-KEM keys valid. Text forms carry a type prefix, as in
// "parley-identity-2:" followed by unpadded base64url. The layouts are in
// docs/protocol.md, section "Keys".
//
// Public types are plain values: safe to copy, print and use concurrently.
// Their zero values are invalid. Secret types ([Identity], [DeviceKey],
// [SignedPreKey], [OneTimePreKey], [KEMPreKey]) are incomparable, print as
// REDACTED, and perform operations (sign, DH, decapsulate) instead of handing
// out bytes; their byte forms, for the device vault only, come from explicit
// MarshalSecret methods and Parse*Secret functions. Secret values are safe
// for concurrent use once built; their zero values are not usable.
//
// Signatures carry a distinct label per kind (see the sig* constants), so a
// signature over one kind of key never verifies as a signature over another.
// A prekey signature also covers the signer's whole identity encoding and
// the address (user and device number) of the device publishing the prekey
// (TestPreKeySignatureCoversIdentityAndDevice).
package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Version is the first byte of every key encoding. Version 1, whose
// prekey signatures covered the prekey alone, is retired: its encodings are
// refused (ErrVersion), and there is no conversion.
const Version = 2

// Type bytes: the second byte of every encoding. Public kinds have the high
// bit clear, secret kinds set.
const (
	typeIdentityPublic = 0x01 // IdentityPublic: Ed25519 (32) || X25519 (32) || binding signature (64)
	typeDevicePublic   = 0x02 // DevicePublic: Ed25519 (32)
	typeSignedPreKey   = 0x03 // SignedPreKeyPublic: ID u32 || X25519 (32)
	typeOneTimePreKey  = 0x04 // OneTimePreKeyPublic: ID u32 || X25519 (32)
	typeKEMPreKey      = 0x05 // KEMPreKeyPublic: ID u32 || flags u8 || ML-KEM-1024 encapsulation key (1568)
	typeDeviceCert     = 0x06 // device certificate: Ed25519 signature (64)
	typeBundle         = 0x07 // Bundle, see bundle.go

	typeIdentitySecret      = 0x81 // Ed25519 seed (32) || X25519 private key (32)
	typeDeviceSecret        = 0x82 // Ed25519 seed (32)
	typeSignedPreKeySecret  = 0x83 // ID u32 || X25519 private key (32)
	typeOneTimePreKeySecret = 0x84 // ID u32 || X25519 private key (32)
	typeKEMPreKeySecret     = 0x85 // ID u32 || flags u8 || ML-KEM-1024 seed (64)
)

// retiredVersion is the key version before Version, refused with an
// explanation.
const retiredVersion = 1

// headerLen is the size of the version and type bytes.
const headerLen = 2

// Signature labels. Each signed message is label || 0x00 || content, so
// that no signature verifies for a different kind of content.
const (
	sigIdentityDH       = "parley.dev/v1 identity-dh"
	sigDeviceCert       = "parley.dev/v1 device-cert"
	sigSignedPreKey     = "parley.dev/v2 signed-prekey"
	sigKEMPreKey        = "parley.dev/v2 kem-prekey"
	sigLastResortPreKey = "parley.dev/v2 last-resort-kem-prekey"
)

// Text prefixes, followed by ':' and unpadded base64url of the binary form.
const (
	textIdentity      = "parley-identity-2"
	textDevice        = "parley-device-2"
	textSignedPreKey  = "parley-signed-prekey-2"
	textOneTimePreKey = "parley-onetime-prekey-2"
	textKEMPreKey     = "parley-kem-prekey-2"
)

// redacted is what every secret type prints as.
const redacted = "REDACTED"

// Errors callers branch on. Parse and verify errors wrap one of them.
var (
	ErrMalformed    = errors.New("keys: malformed encoding")
	ErrVersion      = errors.New("keys: unsupported version")
	ErrWrongType    = errors.New("keys: wrong key type")
	ErrWeakKey      = errors.New("keys: weak or non-canonical public key")
	ErrBadSignature = errors.New("keys: bad signature")
	ErrNoKEM        = errors.New("keys: bundle has no post-quantum prekey")
)

// typeNames names type bytes in error messages.
var typeNames = map[byte]string{
	typeIdentityPublic: "identity", typeDevicePublic: "device key",
	typeSignedPreKey: "signed prekey", typeOneTimePreKey: "one-time prekey",
	typeKEMPreKey: "KEM prekey", typeDeviceCert: "device certificate", typeBundle: "bundle",
	typeIdentitySecret: "identity secret", typeDeviceSecret: "device secret",
	typeSignedPreKeySecret: "signed prekey secret", typeOneTimePreKeySecret: "one-time prekey secret",
	typeKEMPreKeySecret: "KEM prekey secret",
}

func typeName(t byte) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("unknown type 0x%02x", t)
}

// checkHeader checks the version and type bytes of b and its exact length.
func checkHeader(b []byte, typ byte, size int) error {
	if len(b) < headerLen {
		return fmt.Errorf("%w %s: %d bytes", ErrMalformed, typeName(typ), len(b))
	}
	if b[0] == retiredVersion {
		return fmt.Errorf("%w %d for %s: version 1 is retired (its prekey signatures did not cover "+
			"the identity and the device number); both sides need key version %d", ErrVersion, b[0], typeName(typ), Version)
	}
	if b[0] != Version {
		return fmt.Errorf("%w %d for %s", ErrVersion, b[0], typeName(typ))
	}
	if b[1] != typ {
		return fmt.Errorf("%w: got %s, want %s", ErrWrongType, typeName(b[1]), typeName(typ))
	}
	if len(b) != size {
		return fmt.Errorf("%w %s: %d bytes, want %d", ErrMalformed, typeName(typ), len(b), size)
	}
	return nil
}

// signed returns the message a signature of the given label covers.
func signed(label string, parts ...[]byte) []byte {
	msg := append([]byte(label), 0)
	for _, p := range parts {
		msg = append(msg, p...)
	}
	return msg
}

func appendText(prefix string, b []byte) []byte {
	out := append([]byte(prefix), ':')
	return base64.RawURLEncoding.AppendEncode(out, b)
}

func decodeText(prefix string, text []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(text), prefix+":")
	if !ok {
		return nil, fmt.Errorf("%w: text does not start with %q", ErrWrongType, prefix+":")
	}
	// The decoder skips '\r' and '\n' even in strict mode, which would give
	// one key many texts: a text form has exactly one spelling.
	if strings.ContainsAny(rest, "\r\n") {
		return nil, fmt.Errorf("%w %s text: a line break inside", ErrMalformed, prefix)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w %s text: %v", ErrMalformed, prefix, err)
	}
	return b, nil
}
