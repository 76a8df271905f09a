package client

import (
	"testing"
	"time"

	"parley.dev/client/internal/content"
)

// TestItemTTL: a timed envelope's TTL is the time left until its
// deadline, rounded up, at least a second.
func TestItemTTL(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, tc := range []struct {
		timer int64
		age   time.Duration
		want  uint32
	}{
		{0, 0, 0},
		{3600, 0, 3600},
		{3600, 30 * time.Minute, 1800},
		{3600, 30*time.Minute + 1500*time.Millisecond, 1799},
		{3600, 2 * time.Hour, 1},
		{3600, -time.Hour, 3600}, // a clock gone back: never above the timer
	} {
		it := &outboxItem{Timer: tc.timer, Sent: now.Add(-tc.age).UnixMilli()}
		if got := itemTTL(it, now); got != tc.want {
			t.Errorf("timer %d s, sent %v ago: TTL %d, want %d", tc.timer, tc.age, got, tc.want)
		}
	}
}

// TestExpiryOfReceived: a received message's deadline counts from the
// earlier of its sent time and its receipt.
func TestExpiryOfReceived(t *testing.T) {
	c := &Client{}
	now := time.UnixMilli(1_800_000_000_000)
	for _, tc := range []struct {
		sent  time.Time
		timer time.Duration
		want  int64
	}{
		{now, 0, 0},
		{now.Add(-time.Minute), time.Hour, now.Add(59 * time.Minute).UnixMilli()},
		{now.Add(24 * time.Hour), time.Hour, now.Add(time.Hour).UnixMilli()}, // sender's clock ahead
	} {
		m := &content.Message{Sent: tc.sent, Timer: tc.timer}
		if got := c.expiryOf(m, now); got != tc.want {
			t.Errorf("sent %v, timer %v: deadline %d, want %d", tc.sent, tc.timer, got, tc.want)
		}
	}
}
