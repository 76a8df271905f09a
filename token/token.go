// Package token mints Parley registration tokens: what a host app's
// backend hands to its user's app so that the user may register one
// device on a relay run with token registration (parleyd --registration
// token --token-key FILE.pub).
//
// The backend keeps the private half of the token key (parleyd token-key
// writes both halves) and mints one token per registration:
//
//	key, err := token.ParsePrivateKey(pemBytes) // the FILE.key of parleyd token-key
//	...
//	tok, err := token.Mint(key, userName, time.Now().Add(time.Hour))
//	// send tok to the user's app over the backend's own authenticated channel
//
// A token names one user, expires (to the second), and is used at most
// once. It is a bearer secret until used: do not log it. The package
// imports nothing of the relay's, so a backend links only this.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// ErrInvalidUser is returned by Mint for a name that is not a valid user
// ID: 1 to 64 bytes of lowercase letters, digits, '.', '_' and '-'
// (see docs/protocol.md).
var ErrInvalidUser = errors.New("token: invalid user ID")

// ErrKey is returned for a key that is not an Ed25519 private key.
var ErrKey = errors.New("token: not an Ed25519 private key")

// Mint returns the text of a token that lets one registration of user
// proceed until expires (rounded down to the second), signed with key.
// Safe for concurrent use.
func Mint(key ed25519.PrivateKey, user string, expires time.Time) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", ErrKey
	}
	u := addr.UserID(user)
	if !u.Valid() {
		return "", fmt.Errorf("%w %q: %w", ErrInvalidUser, user, addr.ErrInvalid)
	}
	t := &wire.RegistrationToken{User: u, Expires: time.Unix(expires.Unix(), 0)}
	rand.Read(t.Nonce[:]) // never fails; see crypto/rand.Read
	msg, err := t.SignedMessage()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	copy(t.Signature[:], ed25519.Sign(key, msg))
	return t.Text()
}

// PEMPrivate is the PEM block type of the private key file (PKCS #8).
const PEMPrivate = "PRIVATE KEY"

// ParsePrivateKey reads the private key file that parleyd token-key
// writes: one PEM "PRIVATE KEY" block holding a PKCS #8 Ed25519 key.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != PEMPrivate {
		return nil, fmt.Errorf("token: want a PEM %q block", PEMPrivate)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, ErrKey
	}
	return priv, nil
}
