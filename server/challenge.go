package server

import (
	"crypto/rand"
	"sync"
	"time"

	"parley.dev/internal/wire"
)

// challenges is the bounded in-memory set of outstanding challenges. A
// challenge is valid for ttl and is consumed by its first presentation,
// whatever the outcome of the request, so a captured proof never works
// twice. It is safe for concurrent use.
//
// The set lives in one process: with several relay nodes a client must
// present a challenge to the node that issued it (or the set moves to a
// shared store).
type challenges struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu  sync.Mutex
	set map[[wire.ChallengeLen]byte]time.Time // challenge -> expiry
}

func newChallenges(ttl time.Duration, max int, now func() time.Time) *challenges {
	return &challenges{ttl: ttl, max: max, now: now, set: make(map[[wire.ChallengeLen]byte]time.Time)}
}

// issue returns a fresh challenge, or false when the set is full of
// unexpired challenges.
func (c *challenges) issue() ([wire.ChallengeLen]byte, bool) {
	var ch [wire.ChallengeLen]byte
	rand.Read(ch[:]) // never fails; see crypto/rand.Read
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.set) >= c.max && c.purgeLocked(now) == 0 {
		return ch, false
	}
	c.set[ch] = now.Add(c.ttl)
	return ch, true
}

// consume removes ch and reports whether it was outstanding and unexpired.
func (c *challenges) consume(ch [wire.ChallengeLen]byte) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.set[ch]
	if !ok {
		return false
	}
	delete(c.set, ch)
	return now.Before(exp)
}

// purge drops expired challenges.
func (c *challenges) purge() int {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.purgeLocked(now)
}

func (c *challenges) purgeLocked(now time.Time) int {
	n := 0
	for ch, exp := range c.set {
		if !now.Before(exp) {
			delete(c.set, ch)
			n++
		}
	}
	return n
}

func (c *challenges) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.set)
}
