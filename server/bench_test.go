package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server/internal/testclient"
)

// benchPayload is the envelope size of the throughput benchmarks, as in
// the brief's store measurements.
const benchPayload = 1 << 10

// BenchmarkRelayEnvelope measures full envelope round trips through the
// in-process relay over TLS: submit (durable before the SubmitResult),
// deliver over the recipient's WebSocket, ack (confirmed by AckResult).
//
//	go test -run='^$' -bench=RelayEnvelope -benchtime=2000x ./server
func BenchmarkRelayEnvelope(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchPairs(b, 1) })
	b.Run("concurrent64", func(b *testing.B) { benchPairs(b, 64) })
}

// benchPairs runs senders concurrent senders, one connection each (all of
// one device), each sending one envelope at a time to its own recipient
// device, which acks every delivery.
func benchPairs(b *testing.B, senders int) {
	r := startRelay(b)
	sender := register(b, r, "sender")
	recipients := make([]*testclient.Device, senders)
	for i := range recipients {
		recipients[i] = register(b, r, addr.UserID(fmt.Sprintf("r%d", i)))
	}
	type pair struct{ out, in *testclient.WS }
	pairs := make([]pair, senders)
	for i := range pairs {
		pairs[i] = pair{sender.Dial(b), recipients[i].Dial(b)}
		drain(b, pairs[i].in)
		drain(b, pairs[i].out)
	}
	payload := make([]byte, benchPayload)
	b.SetBytes(benchPayload)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, p := range pairs {
		n := b.N / senders
		if i < b.N%senders {
			n++
		}
		wg.Add(2)
		go func() { defer wg.Done(); sendN(b, p.out, recipients[i].Addr, n, payload) }()
		go func() { defer wg.Done(); receiveN(b, p.in, n) }()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}

func sendN(b *testing.B, ws *testclient.WS, to addr.Address, n int, payload []byte) {
	for i := range n {
		var id addr.MessageID
		id[0] = 1
		copy(id[8:], strconv.Itoa(i))
		if err := ws.Send(&wire.Submit{To: to, ID: id, Payload: payload}); err != nil {
			b.Error(err)
			return
		}
		for {
			f, err := ws.Next()
			if err != nil {
				b.Error(err)
				return
			}
			if res, ok := f.(*wire.SubmitResult); ok {
				if res.Code != wire.CodeOK {
					b.Errorf("submit: %v", res.Code)
				}
				break
			}
		}
	}
}

// receiveN acks every delivery at once and returns when n acks are
// confirmed.
func receiveN(b *testing.B, ws *testclient.WS, n int) {
	for confirmed := 0; confirmed < n; {
		f, err := ws.Next()
		if err != nil {
			b.Error(err)
			return
		}
		switch f := f.(type) {
		case *wire.Deliver:
			if err := ws.Send(&wire.Ack{Seqs: []uint64{f.Seq}}); err != nil {
				b.Error(err)
				return
			}
		case *wire.AckResult:
			confirmed += len(f.Seqs)
		}
	}
}

// BenchmarkIdleConnections measures the relay process's memory per idle
// authenticated WebSocket. The relay runs in a child process (the test
// binary re-executed, see TestMain), so that the clients' memory is not
// counted; it reports Go heap+stack in use after a GC, and resident set
// size, before and after PARLEY_BENCH_CONNS (default 1,000) connections.
//
//	go test -run='^$' -bench=IdleConnections -benchtime=1x ./server
func BenchmarkIdleConnections(b *testing.B) {
	conns := 1000
	if s := os.Getenv("PARLEY_BENCH_CONNS"); s != "" {
		conns, _ = strconv.Atoi(s)
	}
	for range b.N {
		dir := b.TempDir()
		child := startChild(b, dir)
		d := testclient.NewDevice(b, child.url, caTLS(b, dir), "idle", testclient.NewIdentity(b))
		d.Register(b, "")
		if _, err := d.Call("PUT", "/v1/prekeys", d.PreKeys(b, true, 1, 20, 20)); err != nil {
			b.Fatal(err)
		}
		before := child.mem(b)
		for range conns {
			drain(b, d.Dial(b))
		}
		after := child.mem(b)
		b.ReportMetric(float64(after.goBytes-before.goBytes)/float64(conns), "go-B/conn")
		b.ReportMetric(float64(after.rss-before.rss)/float64(conns), "rss-B/conn")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(conns), "goroutines/conn")
	}
}

// childMem is what a child relay reports about its memory.
type childMem struct {
	goBytes, rss, goroutines int64
}

func (c *childRelay) mem(b *testing.B) childMem {
	resp, err := http.Get(c.memURL)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m childMem
	if _, err := fmt.Sscanf(string(body), "%d %d %d", &m.goBytes, &m.rss, &m.goroutines); err != nil {
		b.Fatalf("child memory report %q: %v", body, err)
	}
	return m
}

// rssBytes reads this process's resident set size.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

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
