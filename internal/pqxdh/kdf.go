package pqxdh

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// transcriptLabel starts the transcript hash input.
const transcriptLabel = "parley.dev/v1 pqxdh transcript"

// kdfPadSize is the length of PQXDH's F: 32 0xFF bytes for X25519, which
// separates the KDF input from any XEdDSA use of the same keys.
const kdfPadSize = 32

// Markers for the optional one-time prekey in the transcript.
const (
	noOneTimePreKey  = 0x00
	hasOneTimePreKey = 0x01
)

// transcript is every public value of one handshake.
type transcript struct {
	from, to             addr.Address
	initiator, responder keys.IdentityPublic
	signed               keys.SignedPreKeyPublic
	oneTime              *keys.OneTimePreKeyPublic
	kem                  keys.KEMPreKeyPublic
	ephemeral            []byte
	ciphertext           []byte
}

// hash returns TH = SHA-256(label ‖ 0x00 ‖ version ‖ from ‖ to ‖ IK_A ‖ IK_B ‖
// SPK_B ‖ (0x00 | 0x01 ‖ OPK_B) ‖ PQPK_B ‖ EK_A ‖ CT), with keys in their
// keys encodings (which hold the prekey IDs and the last-resort flag).
func (t *transcript) hash() ([sha256.Size]byte, error) {
	b := append([]byte(transcriptLabel), 0, Version)
	var err error
	if b, err = t.from.AppendBinary(b); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("pqxdh: transcript: %w", err)
	}
	if b, err = t.to.AppendBinary(b); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("pqxdh: transcript: %w", err)
	}
	b = append(b, t.initiator.Bytes()...)
	b = append(b, t.responder.Bytes()...)
	b = append(b, t.signed.Bytes()...)
	if t.oneTime == nil {
		b = append(b, noOneTimePreKey)
	} else {
		b = append(b, hasOneTimePreKey)
		b = append(b, t.oneTime.Bytes()...)
	}
	b = append(b, t.kem.Bytes()...)
	b = append(b, t.ephemeral...)
	b = append(b, t.ciphertext...)
	return sha256.Sum256(b), nil
}

// derive returns SK and AD from the DH outputs, the KEM shared secret and
// the transcript hash, and zeroes its secret inputs.
func derive(dhs [][]byte, ss []byte, th [sha256.Size]byte, t *transcript) (*Result, error) {
	ikm := bytes.Repeat([]byte{0xff}, kdfPadSize)
	for _, dh := range dhs {
		ikm = append(ikm, dh...)
	}
	ikm = append(ikm, ss...)
	defer clear(ikm)
	salt := make([]byte, sha256.Size)
	sk, err := hkdf.Key(sha256.New, ikm, salt, Info+string(th[:]), SessionKeySize)
	if err != nil {
		return nil, fmt.Errorf("pqxdh: derive: %w", err)
	}
	r := &Result{}
	copy(r.sk[:], sk)
	clear(sk)
	r.ad = append(t.initiator.Bytes(), t.responder.Bytes()...)
	r.ad = append(r.ad, th[:]...)
	return r, nil
}
