package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// Challenges are stateless: the relay keeps nothing per issued challenge,
// so no client or set of networks can fill a pool of them. A challenge
// carries its own expiry and a MAC under a key every relay node on the
// database shares (store.SharedKey), so any node can check one another
// issued; the store remembers only the challenges that have been used,
// until they expire (store.UseChallenge), so each is accepted once across
// all nodes.
//
// Layout (wire.ChallengeLen = 32 bytes; the Challenge frame is unchanged):
//
//	[0:4]   expiry, Unix seconds, big-endian
//	[4:16]  12 random bytes
//	[16:32] HMAC-SHA256(key, challengeLabel || bytes 0..16), first 16 bytes
const (
	challengeKeyName = "challenge-mac-v1"
	challengeLabel   = "parley.dev/v1 relay challenge\x00"
	challengeBody    = 16
	challengeMACLen  = wire.ChallengeLen - challengeBody
)

// challenger issues and checks challenges. It is safe for concurrent use.
type challenger struct {
	key [store.SharedKeyLen]byte // secret
	ttl time.Duration
	now func() time.Time
}

func newChallenger(ctx context.Context, st store.Store, ttl time.Duration, now func() time.Time) (*challenger, error) {
	key, err := st.SharedKey(ctx, challengeKeyName)
	if err != nil {
		return nil, err
	}
	return &challenger{key: key, ttl: ttl, now: now}, nil
}

// issue returns a fresh challenge, valid for the challenger's ttl (cut
// to a whole second).
func (c *challenger) issue() [wire.ChallengeLen]byte {
	var ch [wire.ChallengeLen]byte
	binary.BigEndian.PutUint32(ch[:4], uint32(c.now().Add(c.ttl).Unix()))
	rand.Read(ch[4:challengeBody]) // never fails; see crypto/rand.Read
	copy(ch[challengeBody:], c.mac(ch[:challengeBody]))
	return ch
}

func (c *challenger) mac(body []byte) []byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(challengeLabel))
	h.Write(body)
	return h.Sum(nil)[:challengeMACLen]
}

// check reports whether ch was issued by a node holding the key and has
// not expired, and returns its expiry. It does not say whether it was
// used: that is the store's (consume).
func (c *challenger) check(ch [wire.ChallengeLen]byte) (time.Time, bool) {
	if !hmac.Equal(ch[challengeBody:], c.mac(ch[:challengeBody])) {
		return time.Time{}, false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint32(ch[:4])), 0)
	return exp, c.now().Before(exp)
}

// consume checks ch and records it as used, so that it never works
// again, on this node or another. It returns errBadChallenge for a
// forged, expired or used challenge.
func (r *relay) consume(ctx context.Context, ch [wire.ChallengeLen]byte) *wire.Error {
	exp, ok := r.challenges.check(ch)
	if !ok {
		return errBadChallenge
	}
	err := r.store.UseChallenge(ctx, ch, exp)
	switch {
	case errors.Is(err, store.ErrChallengeUsed):
		return errBadChallenge
	case err != nil:
		return r.internal("use challenge", err)
	}
	return nil
}
