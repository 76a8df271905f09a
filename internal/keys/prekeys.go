package keys

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"parley.dev/internal/addr"
)

// PreKeyID names one prekey of one device. The device chooses it; zero is
// not an ID (it means "none" where a prekey is optional).
type PreKeyID uint32

// Sizes of prekey encodings.
const (
	preKeyIDSize = 4
	kemFlagsSize = 1
	// ECPreKeySize is the size of an encoded SignedPreKeyPublic or
	// OneTimePreKeyPublic.
	ECPreKeySize = headerLen + preKeyIDSize + X25519Size
	// KEMPreKeySize is the size of an encoded KEMPreKeyPublic.
	KEMPreKeySize = headerLen + preKeyIDSize + kemFlagsSize + mlkem.EncapsulationKeySize1024
	// KEMCiphertextSize is the size of an ML-KEM-1024 ciphertext.
	KEMCiphertextSize = mlkem.CiphertextSize1024
	// PreKeySigSize is the size of a prekey signature.
	PreKeySigSize = 64

	ecPreKeySecretSize  = headerLen + preKeyIDSize + X25519Size
	kemPreKeySecretSize = headerLen + preKeyIDSize + kemFlagsSize + mlkem.SeedSize
)

// kemSeedRhoSize is the size of ρ, the public seed ending an ML-KEM
// encapsulation key (FIPS 203).
const kemSeedRhoSize = 32

// kemFlagLastResort marks a last-resort KEM prekey in the flags byte; the
// other bits must be zero.
const kemFlagLastResort = 0x01

var errZeroID = errors.New("prekey ID 0")

// parseECPreKey reads version, type, ID and X25519 key.
func parseECPreKey(b []byte, typ byte) (PreKeyID, [X25519Size]byte, error) {
	var key [X25519Size]byte
	if err := checkHeader(b, typ, ECPreKeySize); err != nil {
		return 0, key, err
	}
	id := PreKeyID(binary.BigEndian.Uint32(b[headerLen:]))
	if id == 0 {
		return 0, key, fmt.Errorf("%w %s: %w", ErrMalformed, typeName(typ), errZeroID)
	}
	if err := CheckX25519(b[headerLen+preKeyIDSize:]); err != nil {
		return 0, key, fmt.Errorf("%s: %w", typeName(typ), err)
	}
	copy(key[:], b[headerLen+preKeyIDSize:])
	return id, key, nil
}

func appendECPreKey(typ byte, id PreKeyID, key *[X25519Size]byte) []byte {
	b := make([]byte, 0, ECPreKeySize)
	b = append(b, Version, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(id))
	return append(b, key[:]...)
}

// SignedPreKeyPublic is a signed X25519 prekey. The zero value is invalid.
type SignedPreKeyPublic struct {
	ID  PreKeyID
	key [X25519Size]byte
}

// ParseSignedPreKeyPublic reads the encoding written by Bytes and checks
// the key. The signature is carried and verified separately
// (IdentityPublic.VerifySignedPreKey).
func ParseSignedPreKeyPublic(b []byte) (SignedPreKeyPublic, error) {
	id, key, err := parseECPreKey(b, typeSignedPreKey)
	return SignedPreKeyPublic{ID: id, key: key}, err
}

// Bytes returns the encoding: version, type, ID, X25519 key.
func (p SignedPreKeyPublic) Bytes() []byte { return appendECPreKey(typeSignedPreKey, p.ID, &p.key) }

// Key returns the X25519 key, checked as at parse time.
func (p SignedPreKeyPublic) Key() (*ecdh.PublicKey, error) { return NewX25519Public(p.key[:]) }

// String returns the text form, "parley-signed-prekey-2:" and base64url.
func (p SignedPreKeyPublic) String() string { return string(appendText(textSignedPreKey, p.Bytes())) }

// OneTimePreKeyPublic is an unsigned one-time X25519 prekey. The zero value
// is invalid.
type OneTimePreKeyPublic struct {
	ID  PreKeyID
	key [X25519Size]byte
}

// ParseOneTimePreKeyPublic reads the encoding written by Bytes and checks
// the key.
func ParseOneTimePreKeyPublic(b []byte) (OneTimePreKeyPublic, error) {
	id, key, err := parseECPreKey(b, typeOneTimePreKey)
	return OneTimePreKeyPublic{ID: id, key: key}, err
}

// Bytes returns the encoding: version, type, ID, X25519 key.
func (p OneTimePreKeyPublic) Bytes() []byte { return appendECPreKey(typeOneTimePreKey, p.ID, &p.key) }

// Key returns the X25519 key, checked as at parse time.
func (p OneTimePreKeyPublic) Key() (*ecdh.PublicKey, error) { return NewX25519Public(p.key[:]) }

// String returns the text form, "parley-onetime-prekey-2:" and base64url.
func (p OneTimePreKeyPublic) String() string {
	return string(appendText(textOneTimePreKey, p.Bytes()))
}

// KEMPreKeyPublic is a signed ML-KEM-1024 prekey, one-time or last-resort.
// The zero value is invalid.
type KEMPreKeyPublic struct {
	ID         PreKeyID
	LastResort bool
	key        string // encapsulation key bytes; a string keeps the value comparable and immutable
}

// ParseKEMPreKeyPublic reads the encoding written by Bytes and checks the
// encapsulation key (mlkem.NewEncapsulationKey1024).
func ParseKEMPreKeyPublic(b []byte) (KEMPreKeyPublic, error) {
	if err := checkHeader(b, typeKEMPreKey, KEMPreKeySize); err != nil {
		return KEMPreKeyPublic{}, err
	}
	b = b[headerLen:]
	p := KEMPreKeyPublic{ID: PreKeyID(binary.BigEndian.Uint32(b))}
	if p.ID == 0 {
		return KEMPreKeyPublic{}, fmt.Errorf("%w KEM prekey: %w", ErrMalformed, errZeroID)
	}
	flags := b[preKeyIDSize]
	if flags&^kemFlagLastResort != 0 {
		return KEMPreKeyPublic{}, fmt.Errorf("%w KEM prekey: flags 0x%02x", ErrMalformed, flags)
	}
	p.LastResort = flags == kemFlagLastResort
	ek := b[preKeyIDSize+kemFlagsSize:]
	if _, err := mlkem.NewEncapsulationKey1024(ek); err != nil {
		return KEMPreKeyPublic{}, fmt.Errorf("%w: KEM prekey: %v", ErrWeakKey, err)
	}
	// An all-zero t (the vector before the 32-byte seed ρ) passes the
	// modulus check but leaves encapsulated secrets unprotected.
	if !slices.ContainsFunc(ek[:len(ek)-kemSeedRhoSize], func(c byte) bool { return c != 0 }) {
		return KEMPreKeyPublic{}, fmt.Errorf("%w: KEM prekey: all-zero key", ErrWeakKey)
	}
	p.key = string(ek)
	return p, nil
}

// Bytes returns the encoding: version, type, ID, flags (0x01 = last
// resort), ML-KEM-1024 encapsulation key.
func (p KEMPreKeyPublic) Bytes() []byte {
	b := make([]byte, 0, KEMPreKeySize)
	b = append(b, Version, typeKEMPreKey)
	b = binary.BigEndian.AppendUint32(b, uint32(p.ID))
	var flags byte
	if p.LastResort {
		flags = kemFlagLastResort
	}
	b = append(b, flags)
	if p.key == "" {
		return append(b, make([]byte, mlkem.EncapsulationKeySize1024)...)
	}
	return append(b, p.key...)
}

// IsZero reports whether p carries no key.
func (p KEMPreKeyPublic) IsZero() bool { return p.key == "" }

// EncapsulationKey returns the ML-KEM-1024 key.
func (p KEMPreKeyPublic) EncapsulationKey() (*mlkem.EncapsulationKey1024, error) {
	ek, err := mlkem.NewEncapsulationKey1024([]byte(p.key))
	if err != nil {
		return nil, fmt.Errorf("%w: KEM prekey: %v", ErrWeakKey, err)
	}
	return ek, nil
}

// String returns the text form, "parley-kem-prekey-2:" and base64url.
func (p KEMPreKeyPublic) String() string { return string(appendText(textKEMPreKey, p.Bytes())) }

// preKeyMessage is what a prekey signature covers (key version 2): a
// label per kind, then the signer's whole identity encoding (both keys and
// their binding signature), the address of the device that publishes the
// prekey (user ID and device number), and the prekey's encoding (its ID
// and, for KEM keys, the last-resort flag). So a signature is valid for
// one prekey of one device under one identity, and for nothing else.
func preKeyMessage(id IdentityPublic, device addr.Address, label string, key []byte) ([]byte, error) {
	a, err := device.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("prekey signature: %w", err)
	}
	return signed(label, id.Bytes(), a, key), nil
}

func kemLabel(p KEMPreKeyPublic) string {
	if p.LastResort {
		return sigLastResortPreKey
	}
	return sigKEMPreKey
}

// VerifySignedPreKey checks sig is p's signature over spk as a prekey of
// device.
func (p IdentityPublic) VerifySignedPreKey(device addr.Address, spk SignedPreKeyPublic, sig []byte) error {
	if err := CheckX25519(spk.key[:]); err != nil {
		return fmt.Errorf("signed prekey: %w", err)
	}
	msg, err := preKeyMessage(p, device, sigSignedPreKey, spk.Bytes())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return p.verify(msg, sig, "signed prekey")
}

// VerifyKEMPreKey checks sig is p's signature over kem as a prekey of
// device.
func (p IdentityPublic) VerifyKEMPreKey(device addr.Address, kem KEMPreKeyPublic, sig []byte) error {
	if kem.IsZero() {
		return ErrNoKEM
	}
	msg, err := preKeyMessage(p, device, kemLabel(kem), kem.Bytes())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return p.verify(msg, sig, "KEM prekey")
}

// ecSecret is the secret half of an X25519 prekey.
type ecSecret struct {
	id  PreKeyID
	key *ecdh.PrivateKey
}

func generateEC(id PreKeyID) (ecSecret, error) {
	if id == 0 {
		return ecSecret{}, fmt.Errorf("keys: generate prekey: %w", errZeroID)
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return ecSecret{}, fmt.Errorf("keys: generate prekey: %w", err)
	}
	return ecSecret{id: id, key: k}, nil
}

func parseECSecret(b []byte, typ byte) (ecSecret, error) {
	if err := checkHeader(b, typ, ecPreKeySecretSize); err != nil {
		return ecSecret{}, err
	}
	id := PreKeyID(binary.BigEndian.Uint32(b[headerLen:]))
	return newECSecret(id, b[headerLen+preKeyIDSize:])
}

func newECSecret(id PreKeyID, private []byte) (ecSecret, error) {
	if id == 0 {
		return ecSecret{}, fmt.Errorf("%w prekey: %w", ErrMalformed, errZeroID)
	}
	k, err := ecdh.X25519().NewPrivateKey(private)
	if err != nil {
		return ecSecret{}, fmt.Errorf("%w prekey: %v", ErrMalformed, err)
	}
	if err := CheckX25519(k.PublicKey().Bytes()); err != nil {
		return ecSecret{}, err
	}
	return ecSecret{id: id, key: k}, nil
}

func (s ecSecret) marshal(typ byte) []byte {
	b := make([]byte, 0, ecPreKeySecretSize)
	b = append(b, Version, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(s.id))
	return append(b, s.key.Bytes()...)
}

func (s ecSecret) publicKey() (k [X25519Size]byte) {
	copy(k[:], s.key.PublicKey().Bytes())
	return k
}

// DH returns the X25519 shared secret of the prekey and remote. It fails
// if the result is all zeros (remote of low order).
func (s ecSecret) DH(remote *ecdh.PublicKey) ([]byte, error) {
	ss, err := s.key.ECDH(remote)
	if err != nil {
		return nil, fmt.Errorf("%w: prekey DH: %v", ErrWeakKey, err)
	}
	return ss, nil
}

// SignedPreKey is the secret half of a signed X25519 prekey. It prints as
// REDACTED; the zero value is unusable; it is safe for concurrent use.
type SignedPreKey struct {
	_ [0]func()
	ecSecret
}

// GenerateSignedPreKey returns a fresh signed prekey (to be signed with
// Identity.SignSignedPreKey). id must not be zero.
func GenerateSignedPreKey(id PreKeyID) (*SignedPreKey, error) {
	s, err := generateEC(id)
	if err != nil {
		return nil, err
	}
	return &SignedPreKey{ecSecret: s}, nil
}

// NewSignedPreKey builds a signed prekey from a 32-byte X25519 private
// key. Most callers want GenerateSignedPreKey.
func NewSignedPreKey(id PreKeyID, private []byte) (*SignedPreKey, error) {
	s, err := newECSecret(id, private)
	if err != nil {
		return nil, err
	}
	return &SignedPreKey{ecSecret: s}, nil
}

// ParseSignedPreKeySecret reads the encoding written by MarshalSecret.
func ParseSignedPreKeySecret(b []byte) (*SignedPreKey, error) {
	s, err := parseECSecret(b, typeSignedPreKeySecret)
	if err != nil {
		return nil, err
	}
	return &SignedPreKey{ecSecret: s}, nil
}

// MarshalSecret returns version, type, ID, X25519 private key. It is for
// the device vault only; the result is secret.
func (k *SignedPreKey) MarshalSecret() []byte { return k.marshal(typeSignedPreKeySecret) }

// Public returns the public prekey.
func (k *SignedPreKey) Public() SignedPreKeyPublic {
	return SignedPreKeyPublic{ID: k.id, key: k.publicKey()}
}

// PrivateKey returns the X25519 private key, wrapped so that it still
// prints as REDACTED. It exists because the Double Ratchet starts the
// responder's side with the signed prekey as its first ratchet key pair;
// nothing else should call it.
func (k *SignedPreKey) PrivateKey() *X25519Secret { return &X25519Secret{key: k.key} }

// Format, String and GoString print REDACTED for every verb.
func (SignedPreKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (SignedPreKey) String() string             { return redacted }
func (SignedPreKey) GoString() string           { return redacted }

// OneTimePreKey is the secret half of a one-time X25519 prekey. It prints
// as REDACTED; the zero value is unusable; it is safe for concurrent use.
type OneTimePreKey struct {
	_ [0]func()
	ecSecret
}

// GenerateOneTimePreKey returns a fresh one-time prekey. id must not be zero.
func GenerateOneTimePreKey(id PreKeyID) (*OneTimePreKey, error) {
	s, err := generateEC(id)
	if err != nil {
		return nil, err
	}
	return &OneTimePreKey{ecSecret: s}, nil
}

// NewOneTimePreKey builds a one-time prekey from a 32-byte X25519 private
// key. Most callers want GenerateOneTimePreKey.
func NewOneTimePreKey(id PreKeyID, private []byte) (*OneTimePreKey, error) {
	s, err := newECSecret(id, private)
	if err != nil {
		return nil, err
	}
	return &OneTimePreKey{ecSecret: s}, nil
}

// ParseOneTimePreKeySecret reads the encoding written by MarshalSecret.
func ParseOneTimePreKeySecret(b []byte) (*OneTimePreKey, error) {
	s, err := parseECSecret(b, typeOneTimePreKeySecret)
	if err != nil {
		return nil, err
	}
	return &OneTimePreKey{ecSecret: s}, nil
}

// MarshalSecret returns version, type, ID, X25519 private key. It is for
// the device vault only; the result is secret.
func (k *OneTimePreKey) MarshalSecret() []byte { return k.marshal(typeOneTimePreKeySecret) }

// Public returns the public prekey.
func (k *OneTimePreKey) Public() OneTimePreKeyPublic {
	return OneTimePreKeyPublic{ID: k.id, key: k.publicKey()}
}

// Format, String and GoString print REDACTED for every verb.
func (OneTimePreKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (OneTimePreKey) String() string             { return redacted }
func (OneTimePreKey) GoString() string           { return redacted }

// KEMPreKey is the secret half of an ML-KEM-1024 prekey. It prints as
// REDACTED; the zero value is unusable; it is safe for concurrent use.
type KEMPreKey struct {
	_   [0]func()
	dk  *mlkem.DecapsulationKey1024
	pub KEMPreKeyPublic
}

// GenerateKEMPreKey returns a fresh KEM prekey (to be signed with
// Identity.SignKEMPreKey). id must not be zero.
func GenerateKEMPreKey(id PreKeyID, lastResort bool) (*KEMPreKey, error) {
	seed := make([]byte, mlkem.SeedSize)
	rand.Read(seed) // never fails; see crypto/rand.Read
	return NewKEMPreKey(id, lastResort, seed)
}

// NewKEMPreKey builds a KEM prekey from a 64-byte ML-KEM seed. Most
// callers want GenerateKEMPreKey.
func NewKEMPreKey(id PreKeyID, lastResort bool, seed []byte) (*KEMPreKey, error) {
	if id == 0 {
		return nil, fmt.Errorf("keys: KEM prekey: %w", errZeroID)
	}
	dk, err := mlkem.NewDecapsulationKey1024(seed)
	if err != nil {
		return nil, fmt.Errorf("%w KEM prekey secret: %v", ErrMalformed, err)
	}
	pub := KEMPreKeyPublic{ID: id, LastResort: lastResort, key: string(dk.EncapsulationKey().Bytes())}
	return &KEMPreKey{dk: dk, pub: pub}, nil
}

// ParseKEMPreKeySecret reads the encoding written by MarshalSecret.
func ParseKEMPreKeySecret(b []byte) (*KEMPreKey, error) {
	if err := checkHeader(b, typeKEMPreKeySecret, kemPreKeySecretSize); err != nil {
		return nil, err
	}
	b = b[headerLen:]
	flags := b[preKeyIDSize]
	if flags&^kemFlagLastResort != 0 {
		return nil, fmt.Errorf("%w KEM prekey secret: flags 0x%02x", ErrMalformed, flags)
	}
	id := PreKeyID(binary.BigEndian.Uint32(b))
	return NewKEMPreKey(id, flags == kemFlagLastResort, b[preKeyIDSize+kemFlagsSize:])
}

// MarshalSecret returns version, type, ID, flags, ML-KEM-1024 seed. It is
// for the device vault only; the result is secret.
func (k *KEMPreKey) MarshalSecret() []byte {
	b := make([]byte, 0, kemPreKeySecretSize)
	b = append(b, Version, typeKEMPreKeySecret)
	b = binary.BigEndian.AppendUint32(b, uint32(k.pub.ID))
	var flags byte
	if k.pub.LastResort {
		flags = kemFlagLastResort
	}
	b = append(b, flags)
	return append(b, k.dk.Bytes()...)
}

// Public returns the public prekey.
func (k *KEMPreKey) Public() KEMPreKeyPublic { return k.pub }

// Decapsulate returns the shared secret for ciphertext. ML-KEM decapsulation
// never reports a wrong ciphertext (it returns an unrelated secret); it
// fails only on a wrong length.
func (k *KEMPreKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	ss, err := k.dk.Decapsulate(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w KEM ciphertext: %v", ErrMalformed, err)
	}
	return ss, nil
}

// Format, String and GoString print REDACTED for every verb.
func (KEMPreKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (KEMPreKey) String() string             { return redacted }
func (KEMPreKey) GoString() string           { return redacted }

// X25519Secret is an X25519 private key handed to the Double Ratchet (see
// SignedPreKey.PrivateKey). Like every secret type it prints as REDACTED
// and is incomparable; the zero value is unusable.
type X25519Secret struct {
	_   [0]func()
	key *ecdh.PrivateKey
}

// PublicKey returns the public half.
func (s *X25519Secret) PublicKey() *ecdh.PublicKey { return s.key.PublicKey() }

// SecretBytes returns a copy of the 32-byte private key, for the
// ratchet's (sealed) state only; the result is secret and the caller
// clears it.
func (s *X25519Secret) SecretBytes() []byte { return s.key.Bytes() }

// Format, String and GoString print REDACTED for every verb.
func (X25519Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (X25519Secret) String() string             { return redacted }
func (X25519Secret) GoString() string           { return redacted }
