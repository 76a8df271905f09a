// Package ratchet implements the Double Ratchet of Signal's specification:
// the per-message key schedule of one session between two devices.
//
// A session starts from the 32-byte secret and the associated data that
// PQXDH produced. The initiator calls [NewInitiator] with the responder's
// signed prekey, which serves as the responder's first ratchet key; the
// responder calls [NewResponder] with that prekey pair. The initiator
// speaks first: the responder can only encrypt once it has decrypted a
// message.
//
// [State.Encrypt] returns header || ciphertext; [State.Decrypt] reverses it.
// Both bind the session's associated data, the header and a caller-chosen
// extraAD into the AEAD, so a caller can bind a message type. Decrypt is
// transactional: on any error the state is exactly as it was, so a forged,
// tampered, truncated or replayed message costs the receiver nothing but
// the work of rejecting it. That work is bounded: a header may make the
// receiver skip at most [MaxSkip] keys in a chain, at most
// [MaxSkippedKeys] skipped keys are stored, and a header beyond the bound
// is refused before any key is derived.
//
// Every message carries a fresh random salt that is mixed with its message
// key into the AES-256-GCM key and nonce, so a state restored from an older
// copy (a backup, a rolled-back vault) that sends again never seals two
// plaintexts under one key and nonce; the receiver accepts only the first
// of the two messages with the same counter.
//
// A State is pure apart from drawing randomness: it does no I/O. Callers
// persist it with [State.MarshalBinary] after every successful Decrypt and
// after every Encrypt, before sending: messages sent from an older copy
// reuse counters, and the receiver drops them as duplicates. The wire
// format, labels and limits are documented in docs/protocol.md.
package ratchet

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
)

// Errors returned by the package. Callers branch on them with errors.Is.
var (
	// ErrDuplicate reports a message whose key is already consumed: a replay
	// or a duplicate delivery. Callers drop it silently. Because its key is
	// gone the message cannot be authenticated, so it may also be a forgery
	// that reuses a seen header; either way it carries nothing new.
	ErrDuplicate = errors.New("ratchet: duplicate message")
	// ErrTooFarAhead reports a header that would skip more than MaxSkip keys.
	ErrTooFarAhead = errors.New("ratchet: message too far ahead")
	// ErrDecrypt reports a message that does not authenticate: tampered,
	// forged, or from another session.
	ErrDecrypt = errors.New("ratchet: message authentication failed")
	// ErrMalformed reports bytes that cannot be parsed.
	ErrMalformed = errors.New("ratchet: malformed")
	// ErrVersion reports an unknown message or state version.
	ErrVersion = errors.New("ratchet: unknown version")
	// ErrTooLarge reports a plaintext or message over its size limit.
	ErrTooLarge = errors.New("ratchet: too large")
	// ErrNoSendingChain reports Encrypt on a responder that has not yet
	// decrypted its first message, or on a sending chain that is used up.
	ErrNoSendingChain = errors.New("ratchet: no sending chain")
)

// Limits on the byte strings bound into messages.
const (
	// MaxADLen is the longest session associated data.
	MaxADLen = 8192
	// MaxExtraADLen is the longest extraAD accepted by Encrypt and Decrypt.
	MaxExtraADLen = 1 << 16
)

// State is one side of a Double Ratchet session. Its zero value is not
// usable: make one with NewInitiator, NewResponder or Unmarshal. It is not
// safe for concurrent use. It holds secrets, prints as REDACTED and cannot
// be compared with ==.
type State struct {
	_ [0]func()

	ad     []byte           // session associated data from PQXDH
	dhs    *ecdh.PrivateKey // our current ratchet key pair
	dhsPub [KeySize]byte    // its public key, as sent in headers
	dhr    [KeySize]byte    // the peer's current ratchet key, if hasDHr
	rk     secret           // root key
	cks    secret           // sending chain key, if hasCKs
	ckr    secret           // receiving chain key, if hasCKr
	ns     uint32           // next N to send
	nr     uint32           // next N expected in the receiving chain
	pn     uint32           // length of our previous sending chain
	hasDHr bool
	hasCKs bool
	hasCKr bool

	skipped skippedStore
	history keyHistory // the peer's earlier ratchet keys

	test *testHooks // nil outside tests
}

// testHooks lets tests fix the randomness (ratchet key generation and
// message salts) and count chain steps.
type testHooks struct {
	generate   func() (*ecdh.PrivateKey, error)
	salt       func(*messageSalt)
	chainSteps int
}

// NewInitiator starts the initiator's side. sk is the 32-byte PQXDH secret,
// ad the associated data PQXDH produced (bound into every message; at most
// MaxADLen bytes) and remote the responder's signed prekey, which is its
// first ratchet key.
func NewInitiator(sk, ad []byte, remote *ecdh.PublicKey) (*State, error) {
	return newInitiator(sk, ad, remote, nil)
}

func newInitiator(sk, ad []byte, remote *ecdh.PublicKey, hooks *testHooks) (*State, error) {
	s, err := newState(sk, ad, hooks)
	if err != nil {
		return nil, err
	}
	if remote == nil || remote.Curve() != ecdh.X25519() {
		return nil, errors.New("ratchet: remote ratchet key must be X25519")
	}
	copy(s.dhr[:], remote.Bytes())
	if !canonicalX25519(&s.dhr) {
		return nil, fmt.Errorf("%w: remote ratchet key is not canonical", ErrMalformed)
	}
	s.hasDHr = true
	if err := s.rotateSendingKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewResponder starts the responder's side with its signed prekey pair as
// its first ratchet key pair. sk and ad are as for NewInitiator.
func NewResponder(sk, ad []byte, local *ecdh.PrivateKey) (*State, error) {
	return newResponder(sk, ad, local, nil)
}

func newResponder(sk, ad []byte, local *ecdh.PrivateKey, hooks *testHooks) (*State, error) {
	s, err := newState(sk, ad, hooks)
	if err != nil {
		return nil, err
	}
	if local == nil || local.Curve() != ecdh.X25519() {
		return nil, errors.New("ratchet: local ratchet key must be X25519")
	}
	s.setSendingKey(local)
	return s, nil
}

func newState(sk, ad []byte, hooks *testHooks) (*State, error) {
	if len(sk) != KeySize {
		return nil, fmt.Errorf("ratchet: shared secret is %d bytes, want %d", len(sk), KeySize)
	}
	if len(ad) > MaxADLen {
		return nil, fmt.Errorf("%w: associated data is %d bytes, limit %d", ErrTooLarge, len(ad), MaxADLen)
	}
	s := &State{ad: append([]byte(nil), ad...), test: hooks}
	copy(s.rk[:], sk)
	if s.rk.isZero() {
		return nil, errors.New("ratchet: shared secret is all zero")
	}
	return s, nil
}

func (s *State) setSendingKey(k *ecdh.PrivateKey) {
	s.dhs = k
	copy(s.dhsPub[:], k.PublicKey().Bytes())
}

// rotateSendingKey generates a ratchet key pair and starts a sending chain
// from it and the peer's current key: the second half of a DH ratchet step.
func (s *State) rotateSendingKey() error {
	k, rk, cks, err := s.nextSendingChain(&s.rk, &s.dhr)
	if err != nil {
		return err
	}
	s.setSendingKey(k)
	s.rk, s.cks, s.hasCKs = rk, cks, true
	return nil
}

// nextSendingChain generates a ratchet key pair and derives, from root key
// rk and the peer's key remote, the next root key and a sending chain key.
func (s *State) nextSendingChain(rk *secret, remote *[KeySize]byte) (*ecdh.PrivateKey, secret, secret, error) {
	k, err := s.generate()
	if err != nil {
		return nil, secret{}, secret{}, fmt.Errorf("ratchet: generating a ratchet key: %w", err)
	}
	out, err := dh(k, remote)
	if err != nil {
		return nil, secret{}, secret{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	root, chain := kdfRK(rk, &out)
	out.wipe()
	return k, root, chain, nil
}

func (s *State) generate() (*ecdh.PrivateKey, error) {
	if s.test != nil && s.test.generate != nil {
		return s.test.generate()
	}
	return generateKey()
}

// newSalt fills a message salt from crypto/rand, or from the test hook.
func (s *State) newSalt(salt *messageSalt) {
	if s.test != nil && s.test.salt != nil {
		s.test.salt(salt)
		return
	}
	newSalt(salt)
}

// kdfCK advances a chain one step (see kdfCK), counting steps in tests.
func (s *State) kdfCK(ck *secret) (mk, next secret) {
	if s.test != nil {
		s.test.chainSteps++
	}
	return kdfCK(ck)
}

// Encrypt seals plaintext (at most MaxPlaintextLen bytes) and returns
// header || ciphertext. extraAD (may be nil, at most MaxExtraADLen bytes)
// is bound into the AEAD after the session's associated data and the
// header, so a caller can bind a message type or a prekey header. The
// caller must persist the state before sending the message.
func (s *State) Encrypt(plaintext, extraAD []byte) ([]byte, error) {
	if !s.hasCKs || s.ns > maxCounter {
		return nil, ErrNoSendingChain
	}
	if len(plaintext) > MaxPlaintextLen {
		return nil, fmt.Errorf("%w: plaintext is %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintextLen)
	}
	if len(extraAD) > MaxExtraADLen {
		return nil, fmt.Errorf("%w: extra associated data is %d bytes, limit %d", ErrTooLarge, len(extraAD), MaxExtraADLen)
	}
	mk, next := s.kdfCK(&s.cks)
	h := header{dh: s.dhsPub, pn: s.pn, n: s.ns}
	s.newSalt(&h.salt)
	msg := make([]byte, HeaderLen, HeaderLen+len(plaintext)+tagSize)
	h.put(msg)
	msg = seal(&mk, &h.salt, msg, plaintext, associatedData(s.ad, msg[:HeaderLen], extraAD))
	mk.wipe()
	s.cks = next
	s.ns++
	return msg, nil
}

// HasReceived reports whether this side has decrypted a message from the
// peer. Until it has, an initiator should keep attaching its session-setup
// header to every message, since none may have arrived yet.
func (s *State) HasReceived() bool { return s.hasCKr }

// String returns "REDACTED": a State holds secrets.
func (State) String() string { return redacted }

// GoString returns "REDACTED": a State holds secrets.
func (State) GoString() string { return redacted }

// Format prints "REDACTED" for every verb: a State holds secrets.
func (State) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }
