package group

// Every primitive choice of the package lives in this file: SHA-256 for
// state hashes, change digests and group IDs; HMAC-SHA-256 for the sender
// chains (Signal's sender keys: message key = HMAC(ck, 0x01), next chain
// key = HMAC(ck, 0x02)); HKDF-SHA-256 to expand a message key and a random
// per-message salt into an AES-256-GCM key and nonce (as the ratchet does,
// so that a sender restored from an old copy never repeats a key and
// nonce); Ed25519 for the chain's message signatures. Identities sign
// membership changes through internal/keys.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

// Labels. Each hash, key derivation and signature has its own, so that no
// value of one kind can stand for another (attack 9).
const (
	// labelState prefixes the hash of a state encoding.
	labelState = "parley.dev/v1 group-state"
	// labelChange prefixes the digest of a change encoding.
	labelChange = "parley.dev/v1 group-change-digest"
	// labelID prefixes the hash a group ID is cut from.
	labelID = "parley.dev/v1 group-id"
	// labelMessage prefixes a group message's associated data and what its
	// chain signing key signs.
	labelMessage = "parley.dev/v1 group-message"
	// labelMessageKey is the HKDF info that expands a message key and a
	// message salt into an AES-256 key and a GCM nonce.
	labelMessageKey = "parley.dev/v1 group-message-key"
)

// Sizes.
const (
	// KeySize is the size of chain keys, message keys and hashes.
	KeySize   = 32
	saltSize  = 16 // per-message random salt, as in the ratchet
	aesKey    = 32
	nonceSize = 12
	tagSize   = 16
	sigSize   = ed25519.SignatureSize
	seedSize  = ed25519.SeedSize
	pubSize   = ed25519.PublicKeySize
)

// Chain step inputs (HMAC-SHA-256 messages), as in Signal's sender keys and
// the Double Ratchet's KDF_CK.
var (
	inputMessageKey = []byte{0x01}
	inputChainKey   = []byte{0x02}
)

const redacted = "REDACTED"

// secret is a chain or message key. It prints as REDACTED.
type secret [KeySize]byte

func (secret) String() string                { return redacted }
func (secret) GoString() string              { return redacted }
func (secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }
func (k *secret) wipe()                      { clear(k[:]) }
func (k *secret) isZero() bool               { return subtle.ConstantTimeCompare(k[:], make([]byte, KeySize)) == 1 }

// randomSecret draws a fresh chain key.
func randomSecret() secret {
	var k secret
	rand.Read(k[:]) // never fails; see crypto/rand.Read
	return k
}

// chainStep derives the message key of ck and the next chain key.
func chainStep(ck *secret) (mk, next secret) {
	h := hmac.New(sha256.New, ck[:])
	h.Write(inputMessageKey)
	h.Sum(mk[:0])
	h.Reset()
	h.Write(inputChainKey)
	h.Sum(next[:0])
	return mk, next
}

// messageAEAD expands a message key and salt into AES-256-GCM and a nonce.
func messageAEAD(mk *secret, salt []byte) (cipher.AEAD, []byte) {
	b, err := hkdf.Key(sha256.New, mk[:], salt, labelMessageKey, aesKey+nonceSize)
	if err != nil {
		panic("group: hkdf cannot fail for 44 bytes: " + err.Error())
	}
	defer clear(b[:aesKey])
	block, err := aes.NewCipher(b[:aesKey])
	if err != nil {
		panic("group: AES-256 key has a fixed size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("group: GCM over AES cannot fail: " + err.Error())
	}
	return aead, b[aesKey:]
}

// labelled returns SHA-256(label ‖ 0x00 ‖ parts...).
func labelled(label string, parts ...[]byte) Hash {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// messageInput returns "parley.dev/v1 group-message" ‖ 0x00 ‖ msg: a
// message's associated data (msg = its header) and what its chain key
// signs (msg = header and ciphertext).
func messageInput(msg []byte) []byte {
	b := make([]byte, 0, len(labelMessage)+1+len(msg))
	b = append(b, labelMessage...)
	b = append(b, 0)
	return append(b, msg...)
}
