// Package safety computes safety numbers: what two users compare, by
// reading digits aloud or scanning a QR code, to check that no one swapped
// their identity keys (brief attack 5).
//
// The scheme follows Signal's numeric fingerprints. Each side's
// fingerprint is an iterated SHA-512:
//
//	h = SHA-512(u16 version ‖ identity keys ‖ user ID)
//	repeat Iterations times: h = SHA-512(h ‖ identity keys)
//
// where "identity keys" is the Ed25519 key followed by the X25519 key (the
// binding signature is left out, so one identity has one number). The
// first 30 bytes give 30 digits: six 5-byte chunks, each read as a
// big-endian integer mod 100000 and written as 5 digits. The two sides'
// 30 digits are put in ascending order, so both users see the same 60
// digits, shown in groups of 5.
//
// The QR payload knows which side is which: it is QRVersion, then the
// first 32 bytes of the hash of the side that shows it, then those of the
// side that should scan it. A scan matches only the other side's payload
// (MatchQR expects the scanner's own fingerprint second), so the two
// sides' payloads differ and a device that scans its own screen, or a
// photo of it, gets no match. There is no safety number of a user with
// themself.
package safety

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Parameters of the scheme; changing any changes every number.
const (
	// Version is the fingerprint version, hashed (as u16) into every
	// fingerprint.
	Version = 1
	// QRVersion is the first byte of the QR payload. Version 1 put both
	// fingerprints in display order, the same payload on both sides, so
	// a device scanning its own screen matched; it is refused.
	QRVersion = 2
	// Iterations is how many times each fingerprint is re-hashed, as in
	// Signal, to make a targeted collision costly.
	Iterations = 5200
	// DigitsPerSide is how many digits each identity contributes.
	DigitsPerSide = 30
	// FingerprintSize is how many bytes of each side's hash the QR
	// payload carries.
	FingerprintSize = 32
	// QRSize is the size of the QR payload.
	QRSize = 1 + 2*FingerprintSize
	// GroupSize is the number of digits per displayed group.
	GroupSize = 5

	chunkSize    = 5      // bytes per 5-digit group
	chunkModulus = 100000 // 10^GroupSize
)

// Errors for a scanned payload that is not a safety number QR code.
var (
	ErrMalformed = errors.New("safety: malformed QR payload")
	ErrVersion   = errors.New("safety: unsupported QR payload version")
)

// Number is the safety number of two users' identities, as one side sees
// it: the digits are the same on both sides, the QR payload is this
// side's. It is a plain value, safe for concurrent use; the zero value is
// empty.
type Number struct {
	digits        string // 60 digits
	local, remote [FingerprintSize]byte
}

// side is one identity's contribution.
type side struct {
	digits string
	fp     []byte
}

// New computes the safety number of local and remote: each a user ID and
// that user's identity.
func New(localUser addr.UserID, local keys.IdentityPublic, remoteUser addr.UserID, remote keys.IdentityPublic) (Number, error) {
	if localUser == remoteUser {
		return Number{}, fmt.Errorf("safety: no safety number of %q with themself", localUser)
	}
	a, err := fingerprint(localUser, local)
	if err != nil {
		return Number{}, err
	}
	b, err := fingerprint(remoteUser, remote)
	if err != nil {
		return Number{}, err
	}
	var n Number
	copy(n.local[:], a.fp)
	copy(n.remote[:], b.fp)
	if b.digits < a.digits {
		a, b = b, a
	}
	n.digits = a.digits + b.digits
	return n, nil
}

func fingerprint(user addr.UserID, id keys.IdentityPublic) (side, error) {
	if !user.Valid() {
		return side{}, fmt.Errorf("safety: %w user ID %q", addr.ErrInvalid, user)
	}
	if id.IsZero() {
		return side{}, errors.New("safety: zero identity")
	}
	key := id.KeyBytes()
	h := sha512.New()
	h.Write(binary.BigEndian.AppendUint16(nil, Version))
	h.Write(key)
	h.Write([]byte(user))
	sum := h.Sum(nil)
	for range Iterations {
		h.Reset()
		h.Write(sum)
		h.Write(key)
		sum = h.Sum(sum[:0])
	}
	return side{digits: digits(sum), fp: sum[:FingerprintSize]}, nil
}

// digits encodes the first 30 bytes of sum as 30 digits.
func digits(sum []byte) string {
	var b strings.Builder
	for i := range DigitsPerSide / GroupSize {
		chunk := sum[i*chunkSize : (i+1)*chunkSize]
		var v uint64
		for _, c := range chunk {
			v = v<<8 | uint64(c)
		}
		fmt.Fprintf(&b, "%05d", v%chunkModulus)
	}
	return b.String()
}

// Digits returns the 60 digits without spaces.
func (n Number) Digits() string { return n.digits }

// String returns the 60 digits in groups of 5 separated by spaces.
func (n Number) String() string {
	var groups []string
	for i := 0; i+GroupSize <= len(n.digits); i += GroupSize {
		groups = append(groups, n.digits[i:i+GroupSize])
	}
	return strings.Join(groups, " ")
}

// QR returns the payload this side shows: QRVersion, this side's
// fingerprint, then the other side's.
func (n Number) QR() []byte { return qrPayload(n.local, n.remote) }

func qrPayload(first, second [FingerprintSize]byte) []byte {
	b := make([]byte, 0, QRSize)
	b = append(b, QRVersion)
	b = append(b, first[:]...)
	return append(b, second[:]...)
}

// MatchQR reports whether a payload scanned from the other side's screen
// is theirs for this number: their fingerprint first, this side's second.
// This side's own payload does not match. It compares in constant time. A
// payload that is not a safety number QR code of this version is an error,
// not a mismatch.
func (n Number) MatchQR(scanned []byte) (bool, error) {
	if len(scanned) != QRSize {
		return false, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(scanned), QRSize)
	}
	if scanned[0] != QRVersion {
		return false, fmt.Errorf("%w %d", ErrVersion, scanned[0])
	}
	if n.digits == "" {
		return false, errors.New("safety: empty number")
	}
	return subtle.ConstantTimeCompare(scanned, qrPayload(n.remote, n.local)) == 1, nil
}
