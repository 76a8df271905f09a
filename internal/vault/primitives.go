package vault

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Every primitive the vault uses is chosen in this file.
//
//   - Argon2id (x/crypto/argon2) turns the PIN into a 32-byte key.
//   - HKDF-SHA256 (crypto/hkdf) combines that key with the factors into the
//     key-encryption key, and derives the vault's subkeys from the data key.
//   - XChaCha20-Poly1305 (x/crypto/chacha20poly1305) wraps the data key and
//     seals every record. Its 24-byte nonces are drawn at random for every
//     seal, never from a counter kept in the vault: a vault rolled back to an
//     old copy therefore cannot make a (key, nonce) pair repeat (attack 13),
//     and 2^96 random draws are far beyond any device's lifetime of writes.
//   - HMAC-SHA256 (crypto/hmac) turns namespaces and record keys into
//     opaque row identifiers.
//   - AES-256-XTS (x/crypto/xts, through ncruces's vfs/xts) hides SQLite's
//     page structure. It is unauthenticated; the per-record AEAD is the
//     integrity layer.

// Labels. Each is used for exactly one purpose and carries the format
// version, so keys and associated data of different purposes or versions
// can never coincide.
const (
	labelArgon2Salt  = "parley.dev/vault/v1/argon2id"      // prefixed to the header's salt
	labelFactorInput = "parley.dev/vault/v1/factor-input/" // HKDF info, followed by the factor's name
	labelKEK         = "parley.dev/vault/v1/kek"           // HKDF info: key-encryption key
	labelWrap        = "parley.dev/vault/v1/wrap"          // AD prefix of the wrapped data key
	labelRecordSeal  = "parley.dev/vault/v1/record-seal"   // HKDF info: record AEAD key
	labelRecordIndex = "parley.dev/vault/v1/record-index"  // HKDF info: HMAC key for row IDs
	labelSQLiteXTS   = "parley.dev/vault/v1/sqlite-xts"    // HKDF info: AES-256-XTS key
	labelRecordAD    = "parley.dev/vault/v1/record"        // AD prefix of a record
	labelCheckAD     = "parley.dev/vault/v1/check"         // AD prefix of the check record
)

// Sizes in bytes.
const (
	keySize     = chacha20poly1305.KeySize    // data key, KEK, PIN key, subkeys: 32
	nonceSize   = chacha20poly1305.NonceSizeX // 24
	tagSize     = chacha20poly1305.Overhead   // 16
	saltSize    = 32                          // Argon2id and HKDF salt in the header
	vaultIDSize = 16                          // random; binds the database to its header
	xtsKeySize  = 64                          // AES-256-XTS takes two AES-256 keys
	macSize     = sha256.Size                 // row identifiers: 32
)

// errOpen is the one error an AEAD open reports; callers map it to
// ErrWrongPIN or ErrCorrupt.
var errOpen = errors.New("vault: message authentication failed")

// newAEAD returns XChaCha20-Poly1305 keyed with key (keySize bytes).
func newAEAD(key []byte) cipher.AEAD {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("vault: bad AEAD key size") // keys are fixed-size internally
	}
	return a
}

// seal encrypts plaintext under a fresh random nonce and returns
// nonce || ciphertext, appended to dst.
func seal(a cipher.AEAD, dst, plaintext, ad []byte) []byte {
	var nonce [nonceSize]byte
	rand.Read(nonce[:]) // never fails (crypto/rand)
	dst = append(dst, nonce[:]...)
	return a.Seal(dst, nonce[:], plaintext, ad)
}

// open reverses seal.
func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+tagSize {
		return nil, errOpen
	}
	pt, err := a.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

// derive is HKDF-SHA256.
func derive(secret, salt []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		panic("vault: HKDF length out of range") // n is a constant
	}
	return k
}

// pinKey runs Argon2id on the PIN with the header's salt and parameters.
func pinKey(pin []byte, salt *[saltSize]byte, p KDFParams) []byte {
	s := append([]byte(labelArgon2Salt), salt[:]...)
	return argon2.IDKey(pin, s, p.Time, p.Memory, p.Threads, keySize)
}

// mac is HMAC-SHA256 of the concatenated parts.
func mac(key []byte, parts ...[]byte) [macSize]byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	var out [macSize]byte
	h.Sum(out[:0])
	return out
}

// randomBytes fills b from crypto/rand.
func randomBytes(b []byte) {
	rand.Read(b) // never fails (crypto/rand)
}
