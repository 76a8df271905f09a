package keys

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"

	"parley.dev/internal/addr"
)

// IdentityPublicSize is the size of an encoded IdentityPublic.
const IdentityPublicSize = headerLen + ed25519.PublicKeySize + X25519Size + ed25519.SignatureSize

// identitySecretSize is the size of an encoded Identity secret.
const identitySecretSize = headerLen + ed25519.SeedSize + X25519Size

// IdentityPublic is a user's public identity: an Ed25519 signing key and an
// X25519 key for PQXDH, with the Ed25519 signature that binds the second to
// the first. Values built by ParseIdentityPublic or Identity.Public are
// valid; the zero value is not. Compare identities with Equal: two
// encodings of one identity could differ in the binding signature.
type IdentityPublic struct {
	sign [ed25519.PublicKeySize]byte
	dh   [X25519Size]byte
	sig  [ed25519.SignatureSize]byte
}

// ParseIdentityPublic reads the encoding written by Bytes. It checks both
// keys (canonical, not of small order) and the binding signature, unless
// exactly these bytes passed those checks before (verified.go).
func ParseIdentityPublic(b []byte) (IdentityPublic, error) {
	var p IdentityPublic
	if err := checkHeader(b, typeIdentityPublic, IdentityPublicSize); err != nil {
		return p, err
	}
	enc := b
	b = b[headerLen:]
	copy(p.sign[:], b)
	copy(p.dh[:], b[ed25519.PublicKeySize:])
	copy(p.sig[:], b[ed25519.PublicKeySize+X25519Size:])
	if verifiedIdentities.has(enc) {
		return p, nil
	}
	if err := p.check(); err != nil {
		return IdentityPublic{}, err
	}
	verifiedIdentities.add(enc)
	return p, nil
}

// check checks both keys and the binding signature.
func (p IdentityPublic) check() error {
	if err := checkEd25519(p.sign[:]); err != nil {
		return fmt.Errorf("identity signing key: %w", err)
	}
	if err := CheckX25519(p.dh[:]); err != nil {
		return fmt.Errorf("identity DH key: %w", err)
	}
	if !ed25519.Verify(p.sign[:], signed(sigIdentityDH, p.sign[:], p.dh[:]), p.sig[:]) {
		return fmt.Errorf("%w: identity DH key binding", ErrBadSignature)
	}
	return nil
}

// Bytes returns the encoding: version, type, Ed25519 key, X25519 key,
// binding signature.
func (p IdentityPublic) Bytes() []byte {
	b := make([]byte, 0, IdentityPublicSize)
	b = append(b, Version, typeIdentityPublic)
	b = append(b, p.sign[:]...)
	b = append(b, p.dh[:]...)
	return append(b, p.sig[:]...)
}

// KeyBytes returns the Ed25519 key followed by the X25519 key, without
// the binding signature: what names this identity in safety numbers.
func (p IdentityPublic) KeyBytes() []byte {
	return append(p.sign[:len(p.sign):len(p.sign)], p.dh[:]...)
}

// Equal reports whether p and q are the same identity (the same two keys).
func (p IdentityPublic) Equal(q IdentityPublic) bool {
	return subtle.ConstantTimeCompare(p.KeyBytes(), q.KeyBytes()) == 1
}

// IsZero reports whether p is the zero value.
func (p IdentityPublic) IsZero() bool { return p == IdentityPublic{} }

// DHKey returns the X25519 key used in PQXDH.
func (p IdentityPublic) DHKey() (*ecdh.PublicKey, error) { return NewX25519Public(p.dh[:]) }

// verify checks sig over msg with the identity's signing key.
func (p IdentityPublic) verify(msg, sig []byte, what string) error {
	if p.IsZero() || !ed25519.Verify(p.sign[:], msg, sig) {
		return fmt.Errorf("%w: %s", ErrBadSignature, what)
	}
	return nil
}

// String returns the text form, "parley-identity-2:" and base64url.
func (p IdentityPublic) String() string { return string(appendText(textIdentity, p.Bytes())) }

// MarshalText returns the text form.
func (p IdentityPublic) MarshalText() ([]byte, error) {
	return appendText(textIdentity, p.Bytes()), nil
}

// UnmarshalText reads the text form and checks it as ParseIdentityPublic does.
func (p *IdentityPublic) UnmarshalText(text []byte) error {
	b, err := decodeText(textIdentity, text)
	if err != nil {
		return err
	}
	q, err := ParseIdentityPublic(b)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Identity is a user's secret identity. It signs device certificates and
// prekeys and performs PQXDH's identity DH. It prints as REDACTED. Build one
// with GenerateIdentity or ParseIdentitySecret; the zero value is unusable.
// It is safe for concurrent use.
type Identity struct {
	_    [0]func()
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
	pub  IdentityPublic
}

// GenerateIdentity returns a fresh random identity.
func GenerateIdentity() (*Identity, error) {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed) // never fails; see crypto/rand.Read
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys: generate identity: %w", err)
	}
	return newIdentity(seed, dh)
}

// NewIdentity builds an identity from an Ed25519 seed and an X25519
// private key (32 bytes each), as in known-answer tests or when restoring
// keys derived elsewhere. Most callers want GenerateIdentity.
func NewIdentity(signSeed, dhPrivate []byte) (*Identity, error) {
	if len(signSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w identity seed: %d bytes", ErrMalformed, len(signSeed))
	}
	dh, err := ecdh.X25519().NewPrivateKey(dhPrivate)
	if err != nil {
		return nil, fmt.Errorf("%w identity DH key: %v", ErrMalformed, err)
	}
	return newIdentity(signSeed, dh)
}

func newIdentity(seed []byte, dh *ecdh.PrivateKey) (*Identity, error) {
	id := &Identity{sign: ed25519.NewKeyFromSeed(seed), dh: dh}
	copy(id.pub.sign[:], id.sign.Public().(ed25519.PublicKey))
	copy(id.pub.dh[:], dh.PublicKey().Bytes())
	if err := checkEd25519(id.pub.sign[:]); err != nil {
		return nil, err
	}
	if err := CheckX25519(id.pub.dh[:]); err != nil {
		return nil, err
	}
	copy(id.pub.sig[:], ed25519.Sign(id.sign, signed(sigIdentityDH, id.pub.sign[:], id.pub.dh[:])))
	return id, nil
}

// ParseIdentitySecret reads the encoding written by MarshalSecret.
func ParseIdentitySecret(b []byte) (*Identity, error) {
	if err := checkHeader(b, typeIdentitySecret, identitySecretSize); err != nil {
		return nil, err
	}
	b = b[headerLen:]
	return NewIdentity(b[:ed25519.SeedSize], b[ed25519.SeedSize:])
}

// MarshalSecret returns the secret encoding: version, type, Ed25519 seed,
// X25519 private key. It is for the device vault only; the result is secret.
func (id *Identity) MarshalSecret() []byte {
	b := make([]byte, 0, identitySecretSize)
	b = append(b, Version, typeIdentitySecret)
	b = append(b, id.sign.Seed()...)
	return append(b, id.dh.Bytes()...)
}

// Public returns the public identity.
func (id *Identity) Public() IdentityPublic { return id.pub }

// DH returns the X25519 shared secret of the identity's DH key and remote.
// It fails if the result is all zeros (remote of low order).
func (id *Identity) DH(remote *ecdh.PublicKey) ([]byte, error) {
	ss, err := id.dh.ECDH(remote)
	if err != nil {
		return nil, fmt.Errorf("%w: identity DH: %v", ErrWeakKey, err)
	}
	return ss, nil
}

// SignSignedPreKey signs p for publication as a prekey of device (a
// device of this identity's user, with the number the relay assigned).
func (id *Identity) SignSignedPreKey(device addr.Address, p SignedPreKeyPublic) ([]byte, error) {
	msg, err := preKeyMessage(id.pub, device, sigSignedPreKey, p.Bytes())
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ed25519.Sign(id.sign, msg), nil
}

// SignKEMPreKey signs p (one-time or last-resort) for publication as a
// prekey of device.
func (id *Identity) SignKEMPreKey(device addr.Address, p KEMPreKeyPublic) ([]byte, error) {
	msg, err := preKeyMessage(id.pub, device, kemLabel(p), p.Bytes())
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ed25519.Sign(id.sign, msg), nil
}

// Format, String and GoString print REDACTED for every verb.
func (Identity) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (Identity) String() string             { return redacted }
func (Identity) GoString() string           { return redacted }
