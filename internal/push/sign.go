package push

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The signature's headers and label (docs/protocol.md, "Push gateway").
const (
	// HeaderTimestamp carries the request's time: decimal Unix
	// milliseconds.
	HeaderTimestamp = "Parley-Push-Timestamp"
	// HeaderNonce carries 16 random bytes in lowercase hex, so that two
	// wake-ups of one token in one millisecond are two requests.
	HeaderNonce = "Parley-Push-Nonce"
	// HeaderSignature carries "v1=" and the lowercase hex HMAC-SHA256,
	// under the shared secret, of SignedMessage(timestamp, nonce, body).
	HeaderSignature = "Parley-Push-Signature"
	// SignatureLabel starts every signed message, so that the MAC cannot
	// be replayed as any other Parley MAC under the same secret.
	SignatureLabel  = "parley push v1\x00"
	signaturePrefix = "v1="
)

// MaxSkew is how far a request's timestamp may be from the gateway's
// clock, either way. Requests older than that are refused as stale; within
// it, each signature is accepted once.
const MaxSkew = 60 * time.Second

// MinSecret is the shortest shared secret accepted (bytes).
const MinSecret = 32

// Errors of Verifier.Verify. Each means the request must be refused.
var (
	ErrBadSignature = errors.New("push: signature does not verify")
	ErrStale        = errors.New("push: timestamp too far from now")
	ErrReplayed     = errors.New("push: request already seen")
)

// SignedMessage is what the MAC covers:
//
//	SignatureLabel | decimal timestamp | "\n" | hex nonce | "\n" | body
func SignedMessage(timestamp, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(SignatureLabel)+len(timestamp)+len(nonce)+2+len(body))
	m = append(m, SignatureLabel...)
	m = append(m, timestamp...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	return append(m, body...)
}

func mac(secret []byte, timestamp, nonce string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(SignedMessage(timestamp, nonce, body))
	return h.Sum(nil)
}

// nonceLen is the nonce's size in bytes (twice that in hex digits).
const nonceLen = 16

// Sign sets the timestamp, nonce and signature headers of a request with
// body sent at now.
func Sign(h http.Header, secret []byte, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	nonce := hex.EncodeToString(randomNonce())
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, signaturePrefix+hex.EncodeToString(mac(secret, ts, nonce, body)))
}

func randomNonce() []byte {
	b := make([]byte, nonceLen)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// Verifier checks signed requests for a gateway: the MAC in constant
// time, the timestamp against MaxSkew, and that no signature is accepted
// twice. It remembers the signatures it accepted for 2×MaxSkew, at most
// MaxSeen of them (beyond that it refuses requests until old ones age out,
// so that a flood cannot make it forget and accept a replay). Safe for
// concurrent use; make one with NewVerifier.
type Verifier struct {
	secret []byte
	now    func() time.Time

	mu     sync.Mutex
	seen   map[[sha256.Size]byte]time.Time // accepted MAC -> its timestamp
	pruned time.Time                       // when seen was last pruned
}

// MaxSeen bounds the signatures a Verifier remembers.
const MaxSeen = 1 << 20

// NewVerifier returns a Verifier for secret (at least MinSecret bytes);
// now is its clock (nil: time.Now).
func NewVerifier(secret []byte, now func() time.Time) (*Verifier, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("push: secret of %d bytes, want at least %d", len(secret), MinSecret)
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: append([]byte(nil), secret...), now: now, seen: make(map[[sha256.Size]byte]time.Time)}, nil
}

// maxTimestamp bounds the timestamp header's length before parsing.
const maxTimestamp = 19

// Verify checks the headers h of a request with body.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	ts, nonce, sig := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature)
	got, err := hex.DecodeString(strings.TrimPrefix(sig, signaturePrefix))
	if len(ts) == 0 || len(ts) > maxTimestamp || !strings.HasPrefix(sig, signaturePrefix) || err != nil || len(got) != sha256.Size {
		return ErrBadSignature
	}
	if n, err := hex.DecodeString(nonce); err != nil || len(n) != nonceLen {
		return ErrBadSignature
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms < 0 {
		return ErrBadSignature
	}
	if !hmac.Equal(got, mac(v.secret, ts, nonce, body)) {
		return ErrBadSignature
	}
	at := time.UnixMilli(ms)
	now := v.now()
	if d := now.Sub(at); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return v.remember([sha256.Size]byte(got), at, now)
}

// remember records an accepted MAC, refusing one already seen.
func (v *Verifier) remember(m [sha256.Size]byte, at, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[m]; ok {
		return ErrReplayed
	}
	if len(v.seen) >= MaxSeen || now.Sub(v.pruned) > MaxSkew {
		v.pruned = now
		for k, t := range v.seen {
			if now.Sub(t) > MaxSkew { // stale now: refused before the map is read
				delete(v.seen, k)
			}
		}
		if len(v.seen) >= MaxSeen {
			return ErrReplayed
		}
	}
	v.seen[m] = at
	return nil
}
