package unlock

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/cloudflare/circl/oprf"
)

// Every primitive of the relay factor is chosen in this file.
//
//   - The OPRF is RFC 9497 in mode OPRF (0x00) with the suite
//     ristretto255-SHA512, from github.com/cloudflare/circl/oprf. Its
//     output is 64 bytes. Mode OPRF (not VOPRF) because the client has no
//     use for a proof: a relay that evaluates under another key only makes
//     the PIN look wrong, which it could do by refusing service anyway.
//   - HKDF-SHA256 (crypto/hkdf) derives the factor secret and the verifier
//     from the OPRF output.
//   - HMAC-SHA256 (crypto/hmac) is the proof of a successful unlock.
//   - SHA-256 turns the counter's state into the challenge.
//   - Ed25519 (crypto/ed25519) signs evaluation requests with the unlock
//     credential.

// suite is the OPRF suite; changing it is a protocol version change.
var suite = oprf.SuiteRistretto255

// Labels: each is used for one purpose only and carries the version.
const (
	labelSecret    = "parley.dev/unlock/v1 factor secret" // HKDF info, then the credential
	labelVerifier  = "parley.dev/unlock/v1 verifier"      // HKDF info, then the credential
	labelChallenge = "parley.dev/unlock/v1 challenge"     // hashed with the state
	labelEvaluate  = "parley.dev/unlock/v1 evaluate"      // signed by the credential
	labelConfirm   = "parley.dev/unlock/v1 confirm"       // MACed under the verifier
)

// Sizes in bytes.
const (
	// ElementSize is an encoded ristretto255 element: a blinded or an
	// evaluated element.
	ElementSize = 32
	// OutputSize is the OPRF output (SHA-512).
	OutputSize = 64
	// SecretSize is the factor secret handed to the vault.
	SecretSize = 32
	// VerifierSize is the verifier the relay keeps: an HMAC-SHA256 key.
	VerifierSize = 32
	// ProofSize is an HMAC-SHA256 proof.
	ProofSize = sha256.Size
	// ChallengeSize is a relay challenge.
	ChallengeSize = sha256.Size
	// MaxInput bounds the OPRF input (the vault gives 32 bytes).
	MaxInput = 1024
)

// Element is an encoded ristretto255 element.
type Element [ElementSize]byte

// Challenge is the relay's current challenge for one credential: a hash of
// the counter's state (State.Challenge). Every request that changes the
// state is bound to it, so each challenge serves once.
type Challenge [ChallengeSize]byte

// Proof is the MAC that shows knowledge of the verifier (Output.Proof).
type Proof [ProofSize]byte

// derive is HKDF-SHA256 without salt: info = label || credential.
func derive(ikm []byte, label string, cred CredentialID) [32]byte {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, ikm, nil, label+string(cred[:]), len(out))
	if err != nil {
		panic("unlock: hkdf: " + err.Error()) // 32 bytes never exceed HKDF's limit
	}
	copy(out[:], k)
	clear(k)
	return out
}

// proof is HMAC-SHA256(verifier, labelConfirm || 0x00 || credential || challenge).
func proof(verifier []byte, cred CredentialID, ch Challenge) Proof {
	m := hmac.New(sha256.New, verifier)
	m.Write([]byte(labelConfirm))
	m.Write([]byte{0})
	m.Write(cred[:])
	m.Write(ch[:])
	var p Proof
	m.Sum(p[:0])
	return p
}

// CheckProof reports, in constant time, whether p proves knowledge of
// verifier for credential cred and challenge ch.
func CheckProof(verifier []byte, cred CredentialID, ch Challenge, p Proof) bool {
	if len(verifier) != VerifierSize {
		return false
	}
	want := proof(verifier, cred, ch)
	return hmac.Equal(want[:], p[:])
}

// evaluateMessage is what the credential signs to ask for an evaluation:
// labelEvaluate || 0x00 || challenge || blinded element.
func evaluateMessage(ch Challenge, blinded Element) []byte {
	msg := make([]byte, 0, len(labelEvaluate)+1+ChallengeSize+ElementSize)
	msg = append(msg, labelEvaluate...)
	msg = append(msg, 0)
	msg = append(msg, ch[:]...)
	return append(msg, blinded[:]...)
}

// challenge is SHA-256(labelChallenge || 0x00 || credential || u32 failures
// || u64 last evaluation || u64 last success), times in Unix microseconds.
func challenge(cred CredentialID, s State) Challenge {
	h := sha256.New()
	h.Write([]byte(labelChallenge))
	h.Write([]byte{0})
	h.Write(cred[:])
	var b [4 + 8 + 8]byte
	binary.BigEndian.PutUint32(b[0:], s.Failures)
	binary.BigEndian.PutUint64(b[4:], uint64(micros(s.LastEval)))
	binary.BigEndian.PutUint64(b[12:], uint64(micros(s.LastSuccess)))
	h.Write(b[:])
	var c Challenge
	h.Sum(c[:0])
	return c
}

// micros is t in Unix microseconds; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
