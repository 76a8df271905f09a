package unlock

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CredentialID names a vault's unlock credential: its Ed25519 public key.
// The relay keys its per-vault state by it.
type CredentialID [ed25519.PublicKeySize]byte

// FactorPrefix starts the vault factor name of a relay factor; the rest is
// the credential ID in unpadded base64url (43 characters), so the name
// binds the credential into the vault's key-encryption key.
const FactorPrefix = "relay:"

// FactorName is the vault factor name of credential id.
func (id CredentialID) FactorName() string {
	return FactorPrefix + base64.RawURLEncoding.EncodeToString(id[:])
}

// ParseFactorName reads a name made by FactorName; ok is false for any
// other name.
func ParseFactorName(name string) (id CredentialID, ok bool) {
	rest, found := strings.CutPrefix(name, FactorPrefix)
	if !found {
		return id, false
	}
	// The decoder skips line breaks even in strict mode: one name, one text.
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != len(id) || strings.ContainsAny(rest, "\r\n") {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// String is a short form for logs: the first 8 bytes in base64url. The ID
// is public, but logs need no more of it.
func (id CredentialID) String() string {
	return "cred:" + base64.RawURLEncoding.EncodeToString(id[:8])
}

// Credential is a vault's unlock credential: an Ed25519 key that signs
// evaluation requests while the vault is locked. It is kept beside the
// vault, readable by whoever has the device's files, which is the intended
// trade (see the package doc). It prints as REDACTED and is incomparable;
// the zero value is not usable.
type Credential struct {
	_   [0]func()
	key ed25519.PrivateKey
	id  CredentialID
}

// SeedSize is the size of a credential's secret encoding.
const SeedSize = ed25519.SeedSize

// GenerateCredential returns a fresh random credential.
func GenerateCredential() (*Credential, error) {
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(rand.Reader, seed); err != nil {
		return nil, fmt.Errorf("unlock: %w", err)
	}
	defer clear(seed)
	return NewCredential(seed)
}

// NewCredential returns the credential with this 32-byte seed.
func NewCredential(seed []byte) (*Credential, error) {
	if len(seed) != SeedSize {
		return nil, errors.New("unlock: credential seed is not 32 bytes")
	}
	c := &Credential{key: ed25519.NewKeyFromSeed(seed)}
	copy(c.id[:], c.key.Public().(ed25519.PublicKey))
	return c, nil
}

// ID returns the credential's public key.
func (c *Credential) ID() CredentialID { return c.id }

// Seed returns the secret encoding. Callers must not log it.
func (c *Credential) Seed() []byte { return c.key.Seed() }

// SignEvaluate signs a request to evaluate blinded under the relay's
// current challenge ch.
func (c *Credential) SignEvaluate(ch Challenge, blinded Element) [ed25519.SignatureSize]byte {
	var sig [ed25519.SignatureSize]byte
	copy(sig[:], ed25519.Sign(c.key, evaluateMessage(ch, blinded)))
	return sig
}

// VerifyEvaluate reports whether sig is credential id's signature of a
// request to evaluate blinded under challenge ch.
func VerifyEvaluate(id CredentialID, ch Challenge, blinded Element, sig []byte) bool {
	return ed25519.Verify(id[:], evaluateMessage(ch, blinded), sig)
}

const redacted = "REDACTED"

func (*Credential) String() string             { return redacted }
func (*Credential) GoString() string           { return redacted }
func (*Credential) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
