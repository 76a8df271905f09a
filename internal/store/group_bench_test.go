package store

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

// groupPayload is a typical group message: a 100-byte text padded to 128,
// sealed, with its header and signature.
const groupPayload = 320

// BenchmarkGroupFanout stores one group message for 200 devices per
// operation (a group of 100 members with 2 devices each), as the relay
// does for a GroupSubmit: one Submit of 200 KindGroup envelopes sharing a
// payload. "sequential" is one sender at a time (one commit each);
// "concurrent8" is eight senders at once, group-committed together.
func BenchmarkGroupFanout(b *testing.B) {
	const devices = 200
	run := func(b *testing.B, s Store, from addr.Address, to []addr.Address) []SubmitResult {
		payload := make([]byte, groupPayload)
		envs := make([]Envelope, len(to))
		id := addr.NewMessageID()
		for i, a := range to {
			envs[i] = Envelope{From: from, To: a, ID: id, Kind: KindGroup, Payload: payload}
		}
		res, err := s.Submit(context.Background(), envs)
		if err != nil || res[0].Err != nil || res[0].Duplicate {
			b.Fatal(err, res[0])
		}
		return res
	}
	// drained stores one group message, then (off the clock, and off the
	// CPU count) acks every copy, as online members do: mailboxes stay
	// about empty, as on a relay whose devices keep up, rather than
	// growing by a row per member each iteration.
	drained := func(b *testing.B, s Store, from addr.Address, to []addr.Address, cpu *time.Duration) {
		c := processCPU()
		res := run(b, s, from, to)
		*cpu += processCPU() - c
		b.StopTimer()
		for i, a := range to {
			if n, err := s.Ack(context.Background(), a, []int64{res[i].Seq}); err != nil || n != 1 {
				b.Fatal(n, err)
			}
		}
		b.StartTimer()
	}
	b.Run("sequential", func(b *testing.B) {
		s, from, to := benchStore(b, Options{}, devices)
		cpu := startCPU()
		for b.Loop() {
			run(b, s, from, to)
		}
		reportRate(b, int64(b.N)*devices, "entries/s")
		cpu.report(b, int64(b.N)*devices, "cpu-µs/entry")
	})
	b.Run("drained", func(b *testing.B) {
		s, from, to := benchStore(b, Options{}, devices)
		var cpu time.Duration
		for range b.N {
			drained(b, s, from, to, &cpu)
		}
		reportRate(b, int64(b.N)*devices, "entries/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*devices), "cpu-µs/entry")
	})
	b.Run("concurrent8", func(b *testing.B) {
		s, _, to := benchStore(b, Options{}, devices)
		senders := make([]addr.Address, 8)
		for i := range senders {
			senders[i] = to[i] // members send to the group, themselves included
		}
		var next atomic.Int64
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
		cpu := startCPU()
		b.RunParallel(func(pb *testing.PB) {
			from := senders[int(next.Add(1)-1)%len(senders)]
			for pb.Next() {
				run(b, s, from, to)
			}
		})
		reportRate(b, int64(b.N)*devices, "entries/s")
		cpu.report(b, int64(b.N)*devices, "cpu-µs/entry")
		reportBatch(b, s)
	})
}
