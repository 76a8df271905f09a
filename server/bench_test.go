package server_test

import (
	"strconv"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// benchPayload is the envelope size of the throughput benchmarks, as in
// the brief's store measurements.
const benchPayload = 1 << 10

// BenchmarkDrainBacklog measures how long a reconnecting device takes to
// receive and acknowledge a backlog of 10,000 queued 1 KiB envelopes
// (the brief aims at about a second).
//
//	go test -run='^$' -bench=DrainBacklog -benchtime=1x ./server
func BenchmarkDrainBacklog(b *testing.B) {
	const backlog = 10_000
	for range b.N {
		b.StopTimer()
		r := startRelay(b)
		alice, bob := register(b, r, "alice"), register(b, r, "bob")
		bws := bob.Dial(b)
		drain(b, bws)
		payload := make([]byte, benchPayload)
		go func() {
			for i := range backlog {
				var id addr.MessageID
				id[0] = 2
				copy(id[8:], strconv.Itoa(i))
				if err := bws.Send(&wire.Submit{To: alice.Addr, ID: id, Payload: payload}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		for stored := 0; stored < backlog; {
			if res := next[*wire.SubmitResult](b, bws); res.Code != wire.CodeOK {
				b.Fatalf("submit: %v", res.Code)
			}
			stored++
		}
		b.StartTimer()
		start := time.Now()
		if got := drainAcking(b, alice.Dial(b)); len(got) != backlog {
			b.Fatalf("drained %d of %d", len(got), backlog)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/10k-backlog")
	}
}
