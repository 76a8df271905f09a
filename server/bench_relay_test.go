package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server/internal/testclient"
)

// The relay benchmarks run the relay in a child process (the test binary
// re-executed, see TestMain), so that the figures they report are the
// relay's own: its CPU time and allocations per envelope, its memory per
// connection. The clients run in the benchmark's process.

// BenchmarkRelayEnvelope measures fully cycled 1 KiB envelopes: submit
// (stored with fsync before the SubmitResult), deliver over the
// recipient's WebSocket, ack (deleted, confirmed by AckResult). Each
// sender has its own device and connection and sends one envelope at a
// time to its own recipient, which acks whatever deliveries it has read,
// in one Ack frame, as the SDK does.
//
//	go test -run='^$' -bench=RelayEnvelope -benchtime=20000x ./server
//
// relay-cpu-µs/envelope and relay-allocs/envelope are the child relay's
// CPU time (user+system) and heap allocations divided by the envelopes:
// steadier on a shared machine than envelopes/s. clients-cpu-µs/envelope
// is the benchmark's own clients' CPU time, on the same cores: envelopes/s
// is bounded by the cores over the sum of the two.
func BenchmarkRelayEnvelope(b *testing.B) {
	for _, senders := range []int{1, 64, 256} {
		b.Run("senders="+strconv.Itoa(senders), func(b *testing.B) { benchCycle(b, senders) })
	}
}

// benchPair is one sender's and one recipient's connection.
type benchPair struct {
	out, in *testclient.WS
	to      addr.Address
}

// benchPairs starts a child relay and connects n sender/recipient pairs.
func benchPairs(b *testing.B, n int) (*childRelay, []benchPair) {
	dir := b.TempDir()
	child := startChild(b, dir)
	conf := caTLS(b, dir)
	pairs := make([]benchPair, n)
	for i := range pairs {
		s := testclient.NewDevice(b, child.url, conf, addr.UserID(fmt.Sprintf("s%d", i)), testclient.NewIdentity(b))
		r := testclient.NewDevice(b, child.url, conf, addr.UserID(fmt.Sprintf("r%d", i)), testclient.NewIdentity(b))
		s.Register(b, "")
		r.Register(b, "")
		pairs[i] = benchPair{out: s.Dial(b), in: r.DialQuiet(b), to: r.Addr}
		drain(b, pairs[i].out)
		drain(b, pairs[i].in)
	}
	return child, pairs
}

func benchCycle(b *testing.B, senders int) {
	child, pairs := benchPairs(b, senders)
	payload := make([]byte, benchPayload)
	b.SetBytes(benchPayload)
	before, clientsBefore := child.stats(b), cpuNs()
	child.profile(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, p := range pairs {
		n := share(b.N, senders, i)
		wg.Go(func() { sendN(b, p.out, p.to, n, payload) })
		wg.Go(func() { receiveN(b, p.in, n) })
	}
	wg.Wait()
	b.StopTimer()
	after, clientsAfter := child.stats(b), cpuNs()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
	b.ReportMetric(float64(after.cpuNs-before.cpuNs)/1e3/float64(b.N), "relay-cpu-µs/envelope")
	b.ReportMetric(float64(after.mallocs-before.mallocs)/float64(b.N), "relay-allocs/envelope")
	b.ReportMetric(float64(clientsAfter-clientsBefore)/1e3/float64(b.N), "clients-cpu-µs/envelope")
}

// cpuNs is this process's CPU time (user+system, ns): the benchmark's
// clients, which share the machine with the relay.
func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// share is part i of n (envelopes, connections) split in parts.
func share(n, senders, i int) int {
	s := n / senders
	if i < n%senders {
		s++
	}
	return s
}

func benchID(sender, i int) addr.MessageID {
	var id addr.MessageID
	id[0] = 1
	copy(id[4:], strconv.Itoa(sender))
	copy(id[10:], strconv.Itoa(i))
	return id
}

func sendN(b *testing.B, ws *testclient.WS, to addr.Address, n int, payload []byte) {
	for i := 0; i < n && !b.Failed(); i++ {
		exchange(b, ws, &wire.Submit{To: to, ID: benchID(0, i), Payload: payload}, func(f wire.Frame) bool {
			res, ok := f.(*wire.SubmitResult)
			if ok && res.Code != wire.CodeOK {
				b.Errorf("submit: %v", res.Code)
			}
			return ok
		})
	}
}

// exchange sends f and reads frames until answer accepts one.
func exchange(b *testing.B, ws *testclient.WS, f wire.Frame, answer func(wire.Frame) bool) {
	if err := ws.Send(f); err != nil {
		b.Error(err)
		return
	}
	for {
		g, err := ws.Next()
		if err != nil {
			b.Error(err)
			return
		}
		if answer(g) {
			return
		}
	}
}

// receiveN reads deliveries and acks them in batches, as the SDK does:
// a second goroutine sends one Ack (quiet, if the relay takes them) for
// every delivery read since its last one. It returns when the acks of n
// deliveries are confirmed: the quiet ones by an answered Ack of the last
// Seq again, as relay.Conn.Settled does.
func receiveN(b *testing.B, ws *testclient.WS, n int) {
	quiet := ws.Welcome.QuietAcks
	seqs := make(chan uint64, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]uint64, 0, wire.MaxAckBatch)
		for q := range seqs {
			batch = append(batch[:0], q)
		more:
			for len(batch) < wire.MaxAckBatch {
				select {
				case q, ok := <-seqs:
					if !ok {
						break more
					}
					batch = append(batch, q)
				default:
					break more
				}
			}
			if err := ws.Send(&wire.Ack{Seqs: batch, Quiet: quiet}); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	var last uint64
	for delivered, confirmed := 0, 0; confirmed < n; {
		f, err := ws.Next()
		if err != nil {
			b.Error(err)
			break
		}
		switch f := f.(type) {
		case *wire.Deliver:
			seqs <- f.Seq
			last = f.Seq
			if delivered++; quiet && delivered == n {
				confirmed = n
			}
		case *wire.AckResult:
			confirmed += len(f.Seqs)
		}
	}
	close(seqs)
	<-done
	if quiet && last != 0 && !b.Failed() {
		confirmLast(b, ws, last)
	}
}

// confirmLast acks seq again with an answered Ack and waits for its
// AckResult, which confirms every Ack the connection sent before it.
func confirmLast(b *testing.B, ws *testclient.WS, seq uint64) {
	exchange(b, ws, &wire.Ack{Seqs: []uint64{seq}}, func(f wire.Frame) bool {
		_, ok := f.(*wire.AckResult)
		return ok
	})
}

// BenchmarkRelayLatency measures submit→SubmitResult latency in an open
// loop: 64 senders submit at a fixed total rate (PARLEY_BENCH_RATE
// envelopes/s, default 9,000: half the aim of 18k/s) on a schedule that
// does not wait for answers, and each latency is counted from the
// scheduled send time, so a stall delays every later envelope too (no
// coordinated omission). Recipients ack in batches.
//
//	go test -run='^$' -bench=RelayLatency -benchtime=45000x ./server
func BenchmarkRelayLatency(b *testing.B) {
	const senders = 64
	rate := 9000
	if s := os.Getenv("PARLEY_BENCH_RATE"); s != "" {
		rate, _ = strconv.Atoi(s)
	}
	child, pairs := benchPairs(b, senders)
	child.profile(b)
	payload := make([]byte, benchPayload)
	lat := make([][]time.Duration, senders)
	before := child.stats(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range pairs {
		n := share(b.N, senders, i)
		// Sender i's k-th envelope is due at start + (k*senders+i)/rate.
		due := func(k int) time.Time {
			return start.Add(time.Duration(float64(k*senders+i) / float64(rate) * float64(time.Second)))
		}
		wg.Go(func() { lat[i] = openLoopSender(b, p, i, n, payload, due) })
		wg.Go(func() { receiveN(b, p.in, n) })
	}
	wg.Wait()
	b.StopTimer()
	after := child.stats(b)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(after.cpuNs-before.cpuNs)/1e3/float64(b.N), "relay-cpu-µs/envelope")
}

// openLoopSender submits n envelopes at their due times, without waiting
// for results, and returns each one's latency from its due time to its
// SubmitResult.
func openLoopSender(b *testing.B, p benchPair, sender, n int, payload []byte, due func(int) time.Time) []time.Duration {
	lat := make([]time.Duration, 0, n)
	results := make(chan struct{})
	go func() {
		defer close(results)
		for len(lat) < n {
			f, err := p.out.Next()
			if err != nil {
				b.Error(err)
				return
			}
			if res, ok := f.(*wire.SubmitResult); ok {
				k, _ := strconv.Atoi(string(trimZero(res.ID[10:])))
				lat = append(lat, time.Since(due(k)))
			}
		}
	}()
	for k := range n {
		time.Sleep(time.Until(due(k)))
		if err := p.out.Send(&wire.Submit{To: p.to, ID: benchID(sender, k), Payload: payload}); err != nil {
			b.Error(err)
			break
		}
	}
	<-results
	return lat
}

func trimZero(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// profile makes the child relay write a CPU profile of the rest of the
// benchmark to $PARLEY_BENCH_RELAY_PROFILE, if set.
//
//	PARLEY_BENCH_RELAY_PROFILE=/tmp/relay.prof go test -run='^$' -bench=RelayEnvelope/senders=64 -benchtime=20000x ./server
//	go tool pprof -top /tmp/relay.prof
func (c *childRelay) profile(b *testing.B) {
	file := os.Getenv("PARLEY_BENCH_RELAY_PROFILE")
	if file == "" {
		return
	}
	resp, err := http.Get(c.memURL + "profile/start?file=" + url.QueryEscape(file))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	b.Cleanup(func() {
		if resp, err := http.Get(c.memURL + "profile/stop"); err == nil {
			resp.Body.Close()
		}
	})
}

// settled waits out the relay's read linger (well over it), then until the child's
// goroutines stop falling (the HTTP connections a benchmark closed are
// gone), and reports its memory.
func (c *childRelay) settled(b *testing.B) childMem {
	time.Sleep(1500 * time.Millisecond)
	m := c.mem(b)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		n := c.mem(b)
		if n.goroutines >= m.goroutines {
			return n
		}
		m = n
	}
	return m
}

// heapProfile saves the child relay's heap profile to
// $PARLEY_BENCH_RELAY_HEAP, if set.
func (c *childRelay) heapProfile(b *testing.B) {
	file := os.Getenv("PARLEY_BENCH_RELAY_HEAP")
	if file == "" {
		return
	}
	resp, err := http.Get(c.memURL + "heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// childStats is what a child relay reports about its CPU and allocations.
type childStats struct {
	cpuNs, mallocs int64
}

func (c *childRelay) stats(b *testing.B) childStats {
	var s childStats
	c.get(b, c.memURL+"stats", "%d %d", &s.cpuNs, &s.mallocs)
	return s
}

// childMem is what a child relay reports about its memory (see
// reportMemory).
type childMem struct {
	goBytes, rss, goroutines, heapUnused, runtimeSys int64
}

func (c *childRelay) mem(b *testing.B) childMem {
	var m childMem
	c.get(b, c.memURL, "%d %d %d %d %d", &m.goBytes, &m.rss, &m.goroutines, &m.heapUnused, &m.runtimeSys)
	return m
}

func (c *childRelay) get(b *testing.B, url, format string, out ...any) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if _, err := fmt.Sscanf(string(body), format, out...); err != nil {
		b.Fatalf("child report %q: %v", body, err)
	}
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
