package server

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a token bucket: up to Burst events at once, refilled at Burst
// events per Per. The zero Rate takes the default of the field it sets.
type Rate struct {
	Burst int
	Per   time.Duration
}

// String formats r as ParseRate reads it: "burst/per", as in "10/1m0s".
func (r Rate) String() string { return strconv.Itoa(r.Burst) + "/" + r.Per.String() }

// ParseRate reads "burst/per", for example "10/1h" or "60/1m".
func ParseRate(s string) (Rate, error) {
	n, d, ok := strings.Cut(s, "/")
	burst, err1 := strconv.Atoi(n)
	per, err2 := time.ParseDuration(d)
	if !ok || err1 != nil || err2 != nil || burst < 1 || per <= 0 {
		return Rate{}, fmt.Errorf("server: rate %q: want burst/duration, such as 10/1h", s)
	}
	return Rate{Burst: burst, Per: per}, nil
}

func (r Rate) orDefault(def Rate) Rate {
	if r.Burst <= 0 || r.Per <= 0 {
		return def
	}
	return r
}

// maxLimiterKeys bounds a limiter's memory. When full, buckets that have
// refilled (and so are equivalent to no bucket) are dropped; if none has,
// new keys are refused, failing closed.
const maxLimiterKeys = 100_000

// limiter is a set of token buckets by key (a client network or a device).
// It is safe for concurrent use.
type limiter struct {
	rate Rate
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket, reporting whether there was one.
func (l *limiter) allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterKeys && l.pruneLocked(now) == 0 {
			return false
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens += float64(l.rate.Burst) * elapsed.Seconds() / l.rate.Per.Seconds()
		b.tokens = min(b.tokens, float64(l.rate.Burst))
		b.last = now
	}
}

// prune drops full buckets and returns how many it dropped.
func (l *limiter) prune() int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pruneLocked(now)
}

func (l *limiter) pruneLocked(now time.Time) int {
	n := 0
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.rate.Burst) {
			delete(l.buckets, k)
			n++
		}
	}
	return n
}

// clientKey names the client network of a request's remote address: the
// IPv4 address, or the /64 of an IPv6 address (one subscriber's usual
// allocation), so that one client cannot dodge a limit by rotating
// addresses within its own prefix.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
