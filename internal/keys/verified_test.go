package keys

import (
	"errors"
	"testing"
)

// TestVerifiedCacheChecksEveryOtherEncoding: once an identity has been
// parsed (and its encoding remembered as checked), every encoding that
// differs from it in one bit is still checked in full and refused, and
// the cached one still parses to the same identity.
func TestVerifiedCacheChecksEveryOtherEncoding(t *testing.T) {
	f := newFixture(t, 1)
	good := f.id.Public().Bytes()
	p, err := ParseIdentityPublic(good)
	if err != nil {
		t.Fatal(err)
	}
	if !verifiedIdentities.has(good) {
		t.Fatal("a parsed identity is not remembered")
	}
	for i := headerLen; i < len(good); i++ {
		for bit := range 8 {
			b := append([]byte(nil), good...)
			b[i] ^= 1 << bit
			if _, err := ParseIdentityPublic(b); err == nil {
				t.Fatalf("byte %d bit %d flipped: parsed, want an error", i, bit)
			}
			if verifiedIdentities.has(b) {
				t.Fatalf("byte %d bit %d flipped: remembered as checked", i, bit)
			}
		}
	}
	// Another identity's DH key under the cached identity's signing key
	// and signature: refused although the signing key is cached.
	b := append([]byte(nil), good...)
	other := newFixture(t, 50).id.Public()
	copy(b[headerLen+32:], other.dh[:])
	if _, err := ParseIdentityPublic(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("swapped DH key after caching: %v, want ErrBadSignature", err)
	}
	q, err := ParseIdentityPublic(good)
	if err != nil || !q.Equal(p) || q != p {
		t.Errorf("cached parse: %v, %v; want the identity parsed first", q, err)
	}
}

// TestVerifiedCacheBounded: the cache never holds more than verifiedCap
// encodings, however many distinct ones pass through it.
func TestVerifiedCacheBounded(t *testing.T) {
	c := verifiedCache{m: make(map[[IdentityPublicSize]byte]struct{})}
	b := make([]byte, IdentityPublicSize)
	for i := range verifiedCap + 100 {
		b[2], b[3] = byte(i), byte(i>>8)
		c.add(b)
		if c.size() > verifiedCap {
			t.Fatalf("after %d adds: %d entries, bound %d", i+1, c.size(), verifiedCap)
		}
	}
	if !c.has(b) {
		t.Error("the latest encoding was evicted")
	}
}

// BenchmarkParseIdentityPublic: an identity parsed for the first time (the
// binding signature verified) and again (remembered).
func BenchmarkParseIdentityPublic(b *testing.B) {
	enc := newFixture(b, 1).id.Public().Bytes()
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			verifiedIdentities.mu.Lock()
			clear(verifiedIdentities.m)
			verifiedIdentities.mu.Unlock()
			if _, err := ParseIdentityPublic(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseIdentityPublic(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// size returns the number of entries of c.
func (c *verifiedCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
