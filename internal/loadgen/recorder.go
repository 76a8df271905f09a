package loadgen

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 1 hour at three significant digits (a value
// is recorded within 0.1%), about 200 kB per histogram.
const (
	histLowest  = 1 // µs
	histHighest = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// latency is an HDR histogram of durations, in microseconds, with the
// exact maximum beside it (the histogram's own is rounded to its bucket).
// It is safe for concurrent use.
type latency struct {
	mu  sync.Mutex
	h   *hdrhistogram.Histogram
	max time.Duration
}

func newLatency() *latency {
	return &latency{h: hdrhistogram.New(histLowest, histHighest, histSigFigs)}
}

// record adds one duration; values beyond the range are clamped to it.
func (l *latency) record(d time.Duration) {
	us := min(max(d.Microseconds(), histLowest), histHighest)
	l.mu.Lock()
	l.h.RecordValue(us) // in range, so it cannot fail
	l.max = max(l.max, d)
	l.mu.Unlock()
}

// Percentiles are latency figures of one histogram.
type Percentiles struct {
	Count                          int64
	P50, P90, P99, P999, Max, Mean time.Duration
}

func (l *latency) percentiles() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A bucket's highest equivalent value may exceed the exact maximum.
	at := func(q float64) time.Duration {
		return min(time.Duration(l.h.ValueAtQuantile(q))*time.Microsecond, l.max)
	}
	return Percentiles{
		Count: l.h.TotalCount(),
		P50:   at(50), P90: at(90), P99: at(99), P999: at(99.9),
		Max:  l.max,
		Mean: time.Duration(l.h.Mean() * float64(time.Microsecond)),
	}
}

// counts are a run's counters and its errors by code. Safe for concurrent
// use.
type counts struct {
	sent, acked, delivered, duplicates, failed atomic.Int64

	mu     sync.Mutex
	errors map[string]int64
}

// fail counts one error under code (a wire code's name, or one of the
// Code* names of this package).
func (c *counts) fail(code string) {
	c.failed.Add(1)
	c.mu.Lock()
	if c.errors == nil {
		c.errors = make(map[string]int64)
	}
	c.errors[code]++
	c.mu.Unlock()
}

func (c *counts) errorCounts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.errors)
}

// delivered remembers which sequence numbers of each pair arrived, to tell
// redeliveries from first deliveries. Safe for concurrent use.
type deliveredSet struct {
	mu   sync.Mutex
	bits [][]uint64 // per pair, bit seq set once delivered
}

func newDeliveredSet(pairs int) *deliveredSet {
	return &deliveredSet{bits: make([][]uint64, pairs)}
}

// add marks (pair, seq) delivered and reports whether it was new. An
// unknown pair reports false.
func (d *deliveredSet) add(pair int, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if pair < 0 || pair >= len(d.bits) || seq >= maxSeq {
		return false
	}
	w, bit := int(seq/64), uint64(1)<<(seq%64)
	for len(d.bits[pair]) <= w {
		d.bits[pair] = append(d.bits[pair], 0)
	}
	if d.bits[pair][w]&bit != 0 {
		return false
	}
	d.bits[pair][w] |= bit
	return true
}

// maxSeq bounds the sequence numbers a receiver tracks (a forged or
// corrupted stamp cannot make it allocate more than 128 MiB per pair).
const maxSeq = 1 << 30
