package mobile_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/mobile"
)

// drainLen is the backlog of one background drain (issue 9).
const drainLen = 1000

// counter is a Listener that counts the messages reported to it.
type counter struct{ messages int }

func (c *counter) OnMessage(*mobile.Message)          { c.messages++ }
func (c *counter) OnDelivery(string, string)          {}
func (c *counter) OnIdentityChanged(string, bool)     {}
func (c *counter) OnGroupChanged(*mobile.GroupChange) {}
func (c *counter) OnTimer(string, int64, bool)        {}
func (c *counter) OnError(string, string)             {}
func (c *counter) OnConnection(string)                {}

// BenchmarkWakeDrain1k measures what a phone does on a push wake-up in
// the background: drainLen messages waiting at an in-process relay (real
// TLS 1.3 on loopback, SQLite) received by one Wake through the mobile
// facade: connected, decrypted, stored in the vault, acknowledged,
// reported to the Listener, disconnected. One op is one drain; the
// sender queues the backlog with the timer stopped.
func BenchmarkWakeDrain1k(b *testing.B) {
	r := startRelay(b)
	ctx := context.Background()
	alice := &client.Client{Home: filepath.Join(b.TempDir(), "alice"), Server: r.URL, CAFile: r.CAFile}
	if err := alice.Create(ctx, pin); err != nil {
		b.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Register(ctx, "alice", client.RegisterOptions{}); err != nil {
		b.Fatal(err)
	}
	bob := register(b, r, "bob")
	l := &counter{}
	bob.SetListener(l)
	texts := make([]string, drainLen)
	for i := range texts {
		texts[i] = fmt.Sprintf("hello, this is background message %d", i)
	}
	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		res, err := alice.SendMany(ctx, "bob", texts)
		if err != nil {
			b.Fatal(err)
		}
		for i, s := range res {
			if s.Err != nil {
				b.Fatalf("message %d: %v", i, s.Err)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		w, err := bob.Wake(120_000)
		wall += time.Since(t0)
		if err != nil || w.Messages != drainLen {
			b.Fatalf("Wake = %+v, %v; want %d messages", w, err, drainLen)
		}
	}
	b.StopTimer()
	if l.messages != b.N*drainLen {
		b.Fatalf("the Listener got %d messages, want %d", l.messages, b.N*drainLen)
	}
	p, err := bob.History("alice", "", int32(b.N*drainLen+1))
	if err != nil {
		b.Fatal(err)
	}
	if p.Size() != int32(b.N*drainLen) {
		b.Fatalf("History holds %d messages, want %d", p.Size(), b.N*drainLen)
	}
	b.ReportMetric(float64(b.N*drainLen)/wall.Seconds(), "msgs/s")
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/drain")
	b.ReportMetric(0, "ns/op")
}
