package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
)

// Keystore is a secret the phone's secure hardware holds, implemented by
// the host app: Android Keystore or StrongBox, the iOS Secure Enclave.
// Secret returns a function of input under a key that never leaves the
// hardware, typically HMAC-SHA256(key, input) (Android) or the ECDH of a
// Secure Enclave key with a point derived from input (iOS); the same input
// must always give the same 16 to 1,024 bytes. input depends on the PIN,
// so every PIN guess needs the hardware: a copy of the vault's files is
// useless without the phone. Use KeystoreFactor to make it a Factor.
//
// The shape ([]byte in, []byte out, an error; no context) is usable
// through gomobile, so Kotlin and Swift code can implement it; docs/
// factors.md shows both. Hardware that asks for the user's presence or
// biometrics may block in Secret; that is expected.
type Keystore interface {
	Secret(input []byte) ([]byte, error)
}

// KeystoreName is the factor name KeystoreFactor uses when given none.
const KeystoreName = "keystore"

// KeystoreFactor makes ks a Factor named name ("" means KeystoreName).
// The name is recorded in the vault: Unlock needs a factor of the same
// name. Names are 1 to 64 printable ASCII bytes; "relay:" is reserved.
func KeystoreFactor(name string, ks Keystore) Factor {
	if name == "" {
		name = KeystoreName
	}
	return &keystoreFactor{name: name, ks: ks}
}

type keystoreFactor struct {
	name string
	ks   Keystore
}

func (f *keystoreFactor) Name() string { return f.name }

// Secret calls the keystore. The callback cannot be interrupted, so a
// canceled ctx only stops a call that has not begun.
func (f *keystoreFactor) Secret(ctx context.Context, input []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.ks == nil {
		return nil, fmt.Errorf("%w: keystore factor %q has no keystore", ErrInvalid, f.name)
	}
	s, err := f.ks.Secret(append([]byte(nil), input...))
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return append([]byte(nil), s...), nil // the vault zeroes its copy; the app keeps its own
}

// checkAppFactors refuses factors an app may not set: nil ones and names
// of the relay factor, which the SDK manages.
func checkAppFactors(fs []Factor) error {
	for _, f := range fs {
		if f == nil {
			return fmt.Errorf("%w: nil factor", ErrInvalid)
		}
		if strings.HasPrefix(f.Name(), unlock.FactorPrefix) {
			return fmt.Errorf("%w: factor name %q: the prefix %q is the relay factor's", ErrInvalid, f.Name(), unlock.FactorPrefix)
		}
	}
	return nil
}

// SoftwareKeystore is a Keystore without secure hardware, for tests and
// desktops: HMAC-SHA256 under a random 32-byte key kept in a file (mode
// 0600). It protects a copy of the vault made without that file (a
// backup that leaves it out, a vault copied alone), nothing more: whoever
// reads the key file can guess PINs offline again. Keep the file outside
// the vault's directory, ideally on other storage. Safe for concurrent
// use.
type SoftwareKeystore struct {
	_   [0]func()
	key []byte
}

// softwareKeySize is the key file's size.
const softwareKeySize = 32

// OpenSoftwareKeystore reads the key in path, creating it (and its
// directory, mode 0700) with a fresh random key if it does not exist.
func OpenSoftwareKeystore(path string) (*SoftwareKeystore, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSoftwareKeystore(path)
	}
	if err != nil {
		return nil, fmt.Errorf("client: software keystore: %w", err)
	}
	if len(key) != softwareKeySize {
		return nil, fmt.Errorf("client: software keystore %s: not a %d-byte key", path, softwareKeySize)
	}
	return &SoftwareKeystore{key: key}, nil
}

func createSoftwareKeystore(path string) (*SoftwareKeystore, error) {
	key := make([]byte, softwareKeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("client: software keystore: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("client: software keystore: %w", err)
	}
	if err := vault.WriteFile(dir, filepath.Base(path), key); err != nil {
		return nil, fmt.Errorf("client: software keystore: %w", err)
	}
	return &SoftwareKeystore{key: key}, nil
}

// Secret returns HMAC-SHA256(key, input).
func (k *SoftwareKeystore) Secret(input []byte) ([]byte, error) {
	m := hmac.New(sha256.New, k.key)
	m.Write(input)
	return m.Sum(nil), nil
}

// Format prints REDACTED: a SoftwareKeystore holds a key.
func (k *SoftwareKeystore) Format(f fmt.State, _ rune) {
	io.WriteString(f, "client.SoftwareKeystore{REDACTED}")
}
