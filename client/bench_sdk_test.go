package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server/servertest"
)

// The SDK aims of issue 12, one benchmark each (BENCHMARKS.md, "SDK"):
// a burst of sends to one contact, each persisted; messages received and
// stored; an offline drain of 10,000 messages. Each reports messages per
// second of wall time and per second of process CPU (the in-process
// relay's share included: the figure per core is the lower bound).

// burstLen is the messages of one burst (one op of BenchmarkSendBurst).
const burstLen = 1000

// benchTexts returns n distinct short texts.
func benchTexts(n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = fmt.Sprintf("hello, this is benchmark message %d", i)
	}
	return t
}

// reportRate reports n messages over wall time d and process CPU cpu.
func reportRate(b *testing.B, n int, d, cpu time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), "msgs/s")
	if cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "msgs/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSendBurst measures a burst of burstLen sends to a user with
// one device, session established: every message stored in the history
// and outbox, encrypted, submitted, and marked sent once the relay has
// stored it. "relay": over Listen's live connection to the in-process
// relay (whose CPU counts too); "sdk": the relay's answers stand in
// (InterceptSubmits), so the CPU is the SDK's alone.
//
// Until bob answers, each of alice's messages carries the session's first
// PQXDH header (her identity, her ephemeral key and the 1,568-byte
// ML-KEM ciphertext), as the PQXDH specification requires, so a burst
// into a session bob has not answered stores and sends about 1.8 kB more
// per message than one into a conversation under way. "sdk-answered" is
// the latter: bob has replied once before the burst. "sdk-answered-100k"
// is that into a vault that already holds 100,000 messages, sent before
// the timer starts: the vault's index of record IDs takes each new
// message's entry at a random place, so a burst's commit writes more of
// its pages the more it holds (BENCHMARKS.md, stops 24 and 31).
func BenchmarkSendBurst(b *testing.B) {
	b.Run("relay", func(b *testing.B) { benchSendBurst(b, false, false, 0) })
	b.Run("sdk", func(b *testing.B) { benchSendBurst(b, true, false, 0) })
	b.Run("sdk-answered", func(b *testing.B) { benchSendBurst(b, true, true, 0) })
	b.Run("sdk-answered-100k", func(b *testing.B) { benchSendBurst(b, true, true, 100_000) })
}

// benchSendBurst measures bursts of sends from alice to bob, after
// prefill messages sent the same way.
func benchSendBurst(b *testing.B, sdkOnly, answered bool, prefill int) {
	r := servertest.Start(b, generous)
	alice, bob := benchClient(b, r, "alice"), benchClient(b, r, "bob")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := alice.Send(ctx, "bob", "warm up"); err != nil {
		b.Fatal(err)
	}
	if answered {
		if _, err := bob.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Send(ctx, "alice", "answer"); err != nil {
			b.Fatal(err)
		}
		if _, err := alice.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if sdkOnly {
		client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
			res := make([]*wire.SubmitResult, len(subs))
			for i, s := range subs {
				res[i] = &wire.SubmitResult{To: s.To, ID: s.ID}
			}
			return res
		})
	} else {
		go alice.Listen(ctx, func(client.Event) {})
	}
	texts := benchTexts(burstLen)
	for range prefill / burstLen {
		if err := sendBurst(ctx, alice, "bob", texts); err != nil {
			b.Fatal(err)
		}
	}
	var wall, cpu time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), processCPU()
		if err := sendBurst(ctx, alice, "bob", texts); err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(t0), cpu+processCPU()-c0
	}
	reportRate(b, b.N*burstLen, wall, cpu)
	_ = bob
}

// BenchmarkReceive measures receiving with Sync: a backlog of burstLen
// messages decrypted, stored with the session state, and acknowledged.
func BenchmarkReceive(b *testing.B) { benchDrain(b, burstLen) }

// BenchmarkReceiveSDK measures the SDK's share of receiving, alone: a
// burst of burstLen real envelopes (alice's, captured instead of
// submitted) handed to bob's receive path in batches of 512, as a drain
// over the relay hands them (each batch decrypted and stored in one vault
// transaction, then its unread marks cleared). The CPU is the process's;
// the relay is idle while it is measured.
func BenchmarkReceiveSDK(b *testing.B) {
	r := servertest.Start(b, generous)
	alice, bob := benchClient(b, r, "alice"), benchClient(b, r, "bob")
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "warm up"); err != nil {
		b.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	from, err := alice.Address()
	if err != nil {
		b.Fatal(err)
	}
	var captured []*wire.Deliver
	client.InterceptSubmits(alice, func(subs []*wire.Submit) []*wire.SubmitResult {
		res := make([]*wire.SubmitResult, len(subs))
		for i, s := range subs {
			if s.To.User == "bob" {
				captured = append(captured, &wire.Deliver{Seq: uint64(len(captured) + 1000),
					From: benchAddr(b, from), ID: s.ID, Kind: wire.KindMessage, Queued: time.Now(), Payload: s.Payload})
			}
			res[i] = &wire.SubmitResult{To: s.To, ID: s.ID}
		}
		return res
	})
	texts := benchTexts(burstLen)
	var wall, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		captured = captured[:0]
		if err := sendBurst(ctx, alice, "bob", texts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, c0 := time.Now(), processCPU()
		n := 0
		for batch := range slices.Chunk(captured, 512) {
			evs, err := client.ReceiveDeliveries(bob, batch)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
		}
		wall, cpu = wall+time.Since(t0), cpu+processCPU()-c0
		if n != burstLen {
			b.Fatalf("%d events, want %d", n, burstLen)
		}
	}
	reportRate(b, b.N*burstLen, wall, cpu)
}

// benchAddr converts a client address to the wire's.
func benchAddr(b *testing.B, a client.Address) addr.Address {
	u, err := addr.ParseUserID(a.User)
	if err != nil {
		b.Fatal(err)
	}
	return addr.Address{User: u, Device: addr.DeviceID(a.Device)}
}

// BenchmarkDrain10k measures an offline drain: 10,000 messages queued
// while the device was away, received by one Sync.
func BenchmarkDrain10k(b *testing.B) { benchDrain(b, 10_000) }

func benchDrain(b *testing.B, n int) {
	r := servertest.Start(b, generous)
	alice, bob := benchClient(b, r, "alice"), benchClient(b, r, "bob")
	ctx := context.Background()
	texts := benchTexts(n)
	var wall, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		if err := queueBurst(ctx, alice, "bob", texts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, c0 := time.Now(), processCPU()
		evs, err := bob.Sync(ctx)
		wall, cpu = wall+time.Since(t0), cpu+processCPU()-c0
		if err != nil || len(evs) != n {
			b.Fatalf("Sync: %d events, want %d: %v", len(evs), n, err)
		}
	}
	reportRate(b, b.N*n, wall, cpu)
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/drain")
}
