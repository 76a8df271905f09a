package ratchet

// Every primitive choice of the ratchet lives in this file. They follow the
// recommendations of Signal's Double Ratchet specification (section 5.2),
// except that messages are sealed with AES-256-GCM instead of AES-CBC+HMAC.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// KeySize is the size in bytes of root, chain and message keys and of X25519
// public and private keys.
const KeySize = 32

// Key-derivation labels (HKDF info strings). Each use has its own label so
// that no two derivations can ever produce related keys.
const (
	// rootInfo is KDF_RK's HKDF info: HKDF-SHA256(salt = root key,
	// ikm = DH output) yields 64 bytes, the next root key then a chain key.
	rootInfo = "parley ratchet v1 root"
	// messageInfo is the HKDF info that expands a message key (ikm) and
	// the message's random salt (salt) into an AES-256 key followed by a
	// 12-byte GCM nonce. Version 1 used no salt and is refused.
	messageInfo = "parley ratchet v2 message"
)

// KDF_CK inputs: HMAC-SHA256(chain key, input), as in Signal's spec.
const (
	chainMessageInput = 0x01 // derives the message key
	chainNextInput    = 0x02 // derives the next chain key
)

// chainInputs holds the KDF_CK inputs so that hashing them does not allocate.
var chainInputs = [2]byte{chainMessageInput, chainNextInput}

// AEAD sizes.
const (
	aeadKeySize = 32 // AES-256
	nonceSize   = 12 // GCM standard nonce
	tagSize     = 16 // GCM tag
)

// saltSize is the size of the random salt in every message header. It only
// has to differ between two messages sealed under one message key, which
// happens only when a state restored from an older copy sends again: 128
// random bits make a repeat negligible (2^-128 per pair) however often that
// happens, and a longer salt would cost bytes on every message for nothing.
const saltSize = 16

// messageSalt is the random salt of one message. It is public.
type messageSalt [saltSize]byte

// adLenSize is the width of each length prefix in the AEAD associated data.
const adLenSize = 4

const redacted = "REDACTED"

// secret is a root, chain, message key or DH output. It prints as REDACTED.
type secret [KeySize]byte

func (secret) String() string                                { return redacted }
func (secret) GoString() string                              { return redacted }
func (secret) Format(f fmt.State, verb rune)                 { io.WriteString(f, redacted) }
func (k *secret) isZero() bool                               { return subtle.ConstantTimeCompare(k[:], zeroKey[:]) == 1 }
func (k *secret) wipe()                                      { clear(k[:]) }
func (k *secret) setFrom(b []byte)                           { copy(k[:], b); clear(b) }
func newPublicKey(b *[KeySize]byte) (*ecdh.PublicKey, error) { return ecdh.X25519().NewPublicKey(b[:]) }

var zeroKey secret

// errLowOrder reports an all-zero DH output: the remote key has low order.
var errLowOrder = errors.New("ratchet: remote ratchet key has low order")

// generateKey makes a fresh X25519 ratchet key pair.
func generateKey() (*ecdh.PrivateKey, error) {
	return ecdh.X25519().GenerateKey(rand.Reader)
}

// dh computes X25519(priv, remote) and refuses an all-zero result, which a
// low-order remote point produces. crypto/ecdh already refuses it; the
// explicit check keeps the property independent of that detail.
func dh(priv *ecdh.PrivateKey, remote *[KeySize]byte) (secret, error) {
	var out secret
	pub, err := newPublicKey(remote)
	if err != nil {
		return out, fmt.Errorf("%w: %v", errLowOrder, err)
	}
	b, err := priv.ECDH(pub)
	if err != nil {
		return out, fmt.Errorf("%w: %v", errLowOrder, err)
	}
	out.setFrom(b)
	if out.isZero() {
		return out, errLowOrder
	}
	return out, nil
}

// kdfRK is KDF_RK: it returns the next root key and a new chain key.
func kdfRK(rk, dhOut *secret) (root, chain secret) {
	b, err := hkdf.Key(sha256.New, dhOut[:], rk[:], rootInfo, 2*KeySize)
	if err != nil {
		panic("ratchet: hkdf cannot fail for 64 bytes: " + err.Error())
	}
	root.setFrom(b[:KeySize])
	chain.setFrom(b[KeySize:])
	return root, chain
}

// kdfCK is KDF_CK: it returns the message key and the next chain key. Both
// come from one keyed HMAC state, reset between the two inputs.
func kdfCK(ck *secret) (mk, next secret) {
	h := hmac.New(sha256.New, ck[:])
	h.Write(chainInputs[0:1])
	h.Sum(mk[:0])
	h.Reset()
	h.Write(chainInputs[1:2])
	h.Sum(next[:0])
	return mk, next
}

// messageAEAD expands a message key and a message's salt into an
// AES-256-GCM instance and its nonce. A message key normally seals one
// message; a state restored from an older copy can seal a second, different
// message under it, but with a fresh salt, so under a different AES key and
// nonce (attack 13).
func messageAEAD(mk *secret, salt *messageSalt) (cipher.AEAD, [nonceSize]byte) {
	b := messageKeys(mk, salt)
	defer clear(b)
	block, err := aes.NewCipher(b[:aeadKeySize])
	if err != nil {
		panic("ratchet: AES-256 key has a fixed size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("ratchet: GCM over AES cannot fail: " + err.Error())
	}
	var nonce [nonceSize]byte
	copy(nonce[:], b[aeadKeySize:])
	return aead, nonce
}

// messageKeys expands a message key and a salt into AES key || nonce:
// HKDF-SHA256(ikm = mk, salt = salt, info = messageInfo).
func messageKeys(mk *secret, salt *messageSalt) []byte {
	b, err := hkdf.Key(sha256.New, mk[:], salt[:], messageInfo, aeadKeySize+nonceSize)
	if err != nil {
		panic("ratchet: hkdf cannot fail for 44 bytes: " + err.Error())
	}
	return b
}

// newSalt draws a message salt from crypto/rand.
func newSalt(salt *messageSalt) {
	rand.Read(salt[:]) // never fails: crypto/rand.Read crashes the program instead
}

// seal appends the AES-256-GCM encryption of plaintext under mk and salt
// to dst.
func seal(mk *secret, salt *messageSalt, dst, plaintext, ad []byte) []byte {
	aead, nonce := messageAEAD(mk, salt)
	return aead.Seal(dst, nonce[:], plaintext, ad)
}

// open authenticates and decrypts ciphertext under mk and salt.
func open(mk *secret, salt *messageSalt, ciphertext, ad []byte) ([]byte, error) {
	aead, nonce := messageAEAD(mk, salt)
	pt, err := aead.Open(nil, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// associatedData is the AEAD associated data of one message:
// u32(len(ad)) || ad || u32(len(header)) || header || u32(len(extra)) || extra.
// The length prefixes keep the three parts from shifting into each other.
func associatedData(ad, hdr, extra []byte) []byte {
	b := make([]byte, 0, 3*adLenSize+len(ad)+len(hdr)+len(extra))
	for _, part := range [3][]byte{ad, hdr, extra} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}
