package store

import (
	"context"
	"crypto/rand"
	"runtime"
	"testing"
	"time"
)

// BenchmarkUseChallenge measures the store's part of every authenticated
// request: recording its challenge as used, durably, from 64 callers at
// once (group commit), as the relay's request handlers do.
func BenchmarkUseChallenge(b *testing.B) {
	s, _, _ := benchStore(b, Options{}, 0)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		var ch [32]byte
		for pb.Next() {
			rand.Read(ch[:])
			if err := s.UseChallenge(ctx, ch, exp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, int64(b.N), "challenges/s")
	cpu.report(b, int64(b.N), "cpu-µs/challenge")
	reportBatch(b, s)
}
