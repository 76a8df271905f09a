package keys

import "sync"

// Verifying an identity's binding signature (Ed25519, about 70 µs) is the
// costliest step of parsing it, and a device parses the same few
// identities over and over: every message of a session's first flight
// carries the sender's identity in its PQXDH header, and a device list
// names the same owner each time it is fetched. So the encodings that
// passed every check of ParseIdentityPublic are remembered, by their whole
// encoding (signature included), and a later parse of exactly those bytes
// skips the checks: the checks are a pure function of the bytes, so their
// answer cannot change. An encoding that differs in any byte is checked in
// full. Identities are public, so the cache holds nothing secret; it is
// bounded (verifiedCap entries, an arbitrary one evicted when full), so
// input an attacker chooses costs at most misses.

// verifiedCap bounds the cache: about 170 bytes an entry.
const verifiedCap = 1024

// verifiedIdentities is the process's cache of checked encodings.
var verifiedIdentities = verifiedCache{m: make(map[[IdentityPublicSize]byte]struct{})}

type verifiedCache struct {
	mu sync.Mutex
	m  map[[IdentityPublicSize]byte]struct{}
}

// has reports whether b (IdentityPublicSize bytes) passed the checks.
func (c *verifiedCache) has(b []byte) bool {
	k := [IdentityPublicSize]byte(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

// add records that b (IdentityPublicSize bytes) passed the checks.
func (c *verifiedCache) add(b []byte) {
	k := [IdentityPublicSize]byte(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= verifiedCap {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = struct{}{}
}
