// Package pqxdh implements session setup with Signal's PQXDH ("Post-Quantum
// Extended Diffie-Hellman", revision 3) over X25519, SHA-256 and
// ML-KEM-1024, using the keys of package keys.
//
// The initiator (Alice) fetches a bundle for one of Bob's devices and calls
// Initiate: it verifies the bundle (device certificate, both prekey
// signatures, a KEM prekey present: there is no downgrade), computes
//
//	DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
//	DH4 = DH(EK_A, OPK_B)   (only with a one-time prekey)
//	(CT, SS) = ML-KEM-1024.Encaps(PQPK_B)
//
// and derives the session key
//
//	SK = HKDF-SHA-256(salt = 32 zero bytes, ikm = 32×0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS,
//	                  info = Info ‖ TH)
//
// where TH is the transcript hash: SHA-256 over every public value of the
// handshake (version, both addresses, both identities, the signed, one-time
// and KEM prekeys with their IDs, the ephemeral key and the KEM ciphertext).
// The associated data is AD = IK_A ‖ IK_B ‖ TH (identity encodings). Alice
// sends a Header with her first message. Bob calls Respond with it: it
// checks the header is addressed to him, recomputes SK and AD, and reports
// which one-time prekeys the header used. Bob deletes them only once the
// first message has decrypted, so a forged header consumes nothing.
//
// The package is pure: no I/O, no clocks, no state between calls. Results
// hold secrets and print as REDACTED. Wire layouts and labels are in
// docs/protocol.md, section "Session setup: PQXDH".
package pqxdh

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Version is the PQXDH protocol version carried in every Header.
const Version = 1

// Info is the HKDF info prefix naming the protocol, its primitives and its
// version, as PQXDH's "info" parameter; the transcript hash follows it.
const Info = "Parley_PQXDH_CURVE25519_SHA-256_ML-KEM-1024_v1"

// SessionKeySize is the size of the derived session key SK.
const SessionKeySize = 32

// Errors callers branch on; others wrap keys' errors.
var (
	ErrMalformed      = errors.New("pqxdh: malformed header")
	ErrVersion        = errors.New("pqxdh: unsupported version")
	ErrBundle         = errors.New("pqxdh: invalid bundle")
	ErrWrongRecipient = errors.New("pqxdh: header addressed to another device")
	ErrUnknownPreKey  = errors.New("pqxdh: unknown prekey")
	ErrSelf           = errors.New("pqxdh: session with the same device")
)

// PreKeySource looks up a device's own secret prekeys by ID. Lookups must
// not delete anything: Respond may run on a forged header. An unknown ID
// returns an error.
type PreKeySource interface {
	SignedPreKey(id keys.PreKeyID) (*keys.SignedPreKey, error)
	OneTimePreKey(id keys.PreKeyID) (*keys.OneTimePreKey, error)
	KEMPreKey(id keys.PreKeyID) (*keys.KEMPreKey, error)
}

// Used names the one-time prekeys a header consumed. The responder deletes
// them once the first message decrypted, and never before. Zero means none:
// no one-time EC key was in the bundle, or the KEM key was the last-resort
// key, which stays.
type Used struct {
	OneTimePreKey keys.PreKeyID
	KEMPreKey     keys.PreKeyID
}

// Result is the outcome of a handshake: the session key and the associated
// data both sides bind into every message. It holds a secret and prints as
// REDACTED; it is not safe for concurrent use.
type Result struct {
	_  [0]func()
	sk [SessionKeySize]byte
	ad []byte
}

// SessionKey returns a copy of SK, a secret.
func (r *Result) SessionKey() []byte { return append([]byte(nil), r.sk[:]...) }

// AssociatedData returns AD = IK_A ‖ IK_B ‖ TH.
func (r *Result) AssociatedData() []byte { return append([]byte(nil), r.ad...) }

// Wipe zeroes the session key (Go cannot promise no copy survives).
func (r *Result) Wipe() { clear(r.sk[:]) }

// Format, String and GoString print REDACTED for every verb.
func (Result) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (Result) String() string             { return redacted }
func (Result) GoString() string           { return redacted }

const redacted = "REDACTED"

// entropy supplies the initiator's randomness. Tests replace it (see
// initiate) so known-answer vectors do not depend on how Go draws random
// bytes; production always uses defaultEntropy.
type entropy struct {
	ephemeral   func() (*ecdh.PrivateKey, error)
	encapsulate func(*mlkem.EncapsulationKey1024) (ss, ct []byte, err error)
}

var defaultEntropy = entropy{
	ephemeral: func() (*ecdh.PrivateKey, error) { return ecdh.X25519().GenerateKey(rand.Reader) },
	encapsulate: func(ek *mlkem.EncapsulationKey1024) ([]byte, []byte, error) {
		ss, ct := ek.Encapsulate()
		return ss, ct, nil
	},
}

// Initiate starts a session from local (at localAddr) to the device of
// bundle b. It returns the Header to send with the first message and the
// Result to start the Double Ratchet with (as initiator, with b's signed
// prekey as the remote ratchet key).
func Initiate(local *keys.Identity, localAddr addr.Address, b *keys.Bundle) (*Header, *Result, error) {
	return initiate(local, localAddr, b, defaultEntropy)
}

func initiate(local *keys.Identity, localAddr addr.Address, b *keys.Bundle, e entropy) (*Header, *Result, error) {
	hs := &initiatorState{local: local, localAddr: localAddr, bundle: b, entropy: e}
	defer hs.wipe()
	if err := hs.handshake(); err != nil {
		return nil, nil, err
	}
	return &hs.header, hs.result, nil
}

// Respond processes a first message's header at local (at localAddr),
// looking its prekeys up in src. It returns the Result to start the Double
// Ratchet with (as responder, with the signed prekey h names) and the
// one-time prekeys to delete once the first message has decrypted. It
// fails with ErrWrongRecipient if h is addressed to another device.
func Respond(local *keys.Identity, localAddr addr.Address, h *Header, src PreKeySource) (*Result, Used, error) {
	hs := &responderState{local: local, localAddr: localAddr, header: h, src: src}
	defer hs.wipe()
	if err := hs.handshake(); err != nil {
		return nil, Used{}, err
	}
	return hs.result, hs.used, nil
}
