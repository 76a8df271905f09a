package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout/fanouttest"
	"parley.dev/internal/wire"
	"parley.dev/server/internal/testclient"
)

// BenchmarkIdleConnections measures the relay process's memory per idle
// authenticated TLS 1.3 WebSocket: Go heap+stack in use after a GC (of
// which go-unused: free slots in spans in use, fragmentation), the Go
// runtime's own memory outside the heap, and resident set size, before
// and after PARLEY_BENCH_CONNS (default 1,000) connections, and
// goroutines per connection. The connections belong to devices of
// PARLEY_BENCH_CONNS_PER_DEVICE each (default 4, the per-device cap; 1
// counts each device's own state, such as its wake-up subscription, once
// per connection), and come from source addresses spread over
// 127.0.0.2-127.0.0.17, so that tens of thousands do not exhaust one
// address's ephemeral ports. Go raises the soft open-file limit to the
// hard one at start; the hard limit bounds how many connections one
// process can hold (20,000 on the machine these figures come from, so
// 19,000 is the most measured there; BenchmarkIdleConnectionsCluster
// spreads more over several processes).
//
//	PARLEY_BENCH_CONNS=19000 go test -run='^$' -bench=IdleConnections -benchtime=1x -timeout=30m ./server
func BenchmarkIdleConnections(b *testing.B) {
	conns := envInt(b, "PARLEY_BENCH_CONNS", 1000)
	per := envInt(b, "PARLEY_BENCH_CONNS_PER_DEVICE", 4)
	for range b.N {
		dir := b.TempDir()
		child := startChild(b, dir)
		devices := registerMany(b, child.url, caTLS(b, dir), "idle", (conns+per-1)/per)
		before := child.settled(b)
		dialIdle(b, devices, conns, per)
		after := child.settled(b)
		child.heapProfile(b)
		reportIdle(b, conns, before, after)
	}
}

// BenchmarkIdleConnectionsCluster measures the same over
// PARLEY_BENCH_NODES relay processes (default 3) on one PostgreSQL schema
// and one NATS subject prefix, as parleyd --store postgres://...
// --nats nats://... runs them: PARLEY_BENCH_CONNS connections in all
// (default 300), an equal share on each node, one per device unless
// PARLEY_BENCH_CONNS_PER_DEVICE says otherwise, so that every connection
// holds its device's NATS subscription on its node. Each node's share is
// dialed by a dialer process of its own (the test binary re-executed to
// run BenchmarkIdleDialer), so that no process holds more sockets than
// the open-file limit allows: three nodes and three dialers hold 50,000
// connections where one process may hold 20,000. The figures are the
// nodes' sums per connection; max-rss-B/conn is the worst node's.
//
//	PARLEY_BENCH_CONNS=50000 go test -run='^$' -bench=IdleConnectionsCluster -benchtime=1x -timeout=60m ./server
func BenchmarkIdleConnectionsCluster(b *testing.B) {
	conns := envInt(b, "PARLEY_BENCH_CONNS", 300)
	nodes := envInt(b, "PARLEY_BENCH_NODES", 3)
	per := envInt(b, "PARLEY_BENCH_CONNS_PER_DEVICE", 1)
	for range b.N {
		dir := b.TempDir() // the nodes' development CA; the store is PostgreSQL
		env := []string{childStoreEnv + "=" + pgSchema(b), childNATSEnv + "=" + fanouttest.SharedNATS(b),
			childPrefixEnv + "=" + fanouttest.UniquePrefix()}
		relays := make([]*childRelay, nodes)
		for i := range relays { // one at a time: the first makes the CA that all serve
			relays[i] = startChild(b, dir, env...)
		}
		dialers := make([]*idleDialer, nodes)
		for i, r := range relays {
			dialers[i] = startDialer(b, r.url, dir, fmt.Sprintf("node%didle", i), share(conns, nodes, i), per)
		}
		for _, d := range dialers {
			d.await(b, "registered")
		}
		before := settledAll(b, relays)
		for _, d := range dialers {
			d.tell(b, "dial")
		}
		for _, d := range dialers {
			d.await(b, "dialed")
		}
		after := settledAll(b, relays)
		var total [2]childMem
		worst := 0.0
		for i := range relays {
			total[0], total[1] = total[0].plus(before[i]), total[1].plus(after[i])
			worst = max(worst, float64(after[i].rss-before[i].rss)/float64(share(conns, nodes, i)))
		}
		reportIdle(b, conns, total[0], total[1])
		b.ReportMetric(worst, "max-rss-B/conn")
	}
}

// BenchmarkIdleDialer is BenchmarkIdleConnectionsCluster's dialer
// process; run by anything else it skips. It registers its devices on
// the relay at $PARLEY_BENCH_DIALER and says so on stdout, dials its
// connections when its stdin says "dial" and says so, and holds them
// until its stdin closes.
func BenchmarkIdleDialer(b *testing.B) {
	url := os.Getenv(dialerEnv)
	if url == "" {
		b.Skip("BenchmarkIdleConnectionsCluster's dialer process")
	}
	conns := envInt(b, "PARLEY_BENCH_CONNS", 0)
	per := envInt(b, "PARLEY_BENCH_CONNS_PER_DEVICE", 1)
	in := bufio.NewScanner(os.Stdin)
	devices := registerMany(b, url, caTLS(b, os.Getenv(dialerDirEnv)), os.Getenv(dialerUsersEnv), (conns+per-1)/per)
	fmt.Println(dialerSays + "registered")
	if !in.Scan() || in.Text() != "dial" {
		b.Fatalf("dialer told %q, not to dial", in.Text())
	}
	dialIdle(b, devices, conns, per)
	fmt.Println(dialerSays + "dialed")
	for in.Scan() {
	}
}

const (
	// childStoreEnv, childNATSEnv and childPrefixEnv make a child relay
	// (see runChildRelay) a node on a PostgreSQL store and NATS.
	childStoreEnv  = "PARLEY_TEST_RELAY_STORE"
	childNATSEnv   = "PARLEY_TEST_RELAY_NATS"
	childPrefixEnv = "PARLEY_TEST_RELAY_NATS_PREFIX"
	// dialerEnv (the relay's URL), dialerDirEnv (the directory of its
	// development CA) and dialerUsersEnv (the prefix of the user IDs it
	// registers) set BenchmarkIdleDialer to work.
	dialerEnv      = "PARLEY_BENCH_DIALER"
	dialerDirEnv   = "PARLEY_BENCH_DIALER_DIR"
	dialerUsersEnv = "PARLEY_BENCH_DIALER_USERS"
	dialerSays     = "idle dialer: "
)

// idleDialer is a BenchmarkIdleDialer process.
type idleDialer struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startDialer starts a dialer of conns connections, per per device, to
// the relay at url, whose CA is in dir.
func startDialer(b *testing.B, url, dir, users string, conns, per int) *idleDialer {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkIdleDialer$", "-test.benchtime=1x", "-test.timeout=0")
	cmd.Env = append(os.Environ(), dialerEnv+"="+url, dialerDirEnv+"="+dir, dialerUsersEnv+"="+users,
		"PARLEY_BENCH_CONNS="+strconv.Itoa(conns), "PARLEY_BENCH_CONNS_PER_DEVICE="+strconv.Itoa(per))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return &idleDialer{in: in, out: bufio.NewScanner(out)}
}

// await reads the dialer's output up to its saying word.
func (d *idleDialer) await(b *testing.B, word string) {
	for d.out.Scan() {
		if d.out.Text() == dialerSays+word {
			return
		}
	}
	b.Fatalf("dialer ended before saying %q: %v", word, d.out.Err())
}

func (d *idleDialer) tell(b *testing.B, word string) {
	if _, err := io.WriteString(d.in, word+"\n"); err != nil {
		b.Fatal(err)
	}
}

func settledAll(b *testing.B, relays []*childRelay) []childMem {
	m := make([]childMem, len(relays))
	for i, r := range relays {
		m[i] = r.settled(b)
	}
	return m
}

func (m childMem) plus(o childMem) childMem {
	return childMem{goBytes: m.goBytes + o.goBytes, rss: m.rss + o.rss, goroutines: m.goroutines + o.goroutines,
		heapUnused: m.heapUnused + o.heapUnused, runtimeSys: m.runtimeSys + o.runtimeSys}
}

// reportIdle reports the growth from before to after per connection.
func reportIdle(b *testing.B, conns int, before, after childMem) {
	per := func(a, z int64) float64 { return float64(z-a) / float64(conns) }
	b.ReportMetric(per(before.goBytes, after.goBytes), "go-B/conn")
	b.ReportMetric(per(before.rss, after.rss), "rss-B/conn")
	b.ReportMetric(per(before.goroutines, after.goroutines), "goroutines/conn")
	b.ReportMetric(per(before.heapUnused, after.heapUnused), "go-unused-B/conn")
	b.ReportMetric(per(before.runtimeSys, after.runtimeSys), "runtime-B/conn")
}

// envInt reads a positive count from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

// benchWorkers is how many connections or registrations the idle
// benchmarks make at once.
const benchWorkers = 8

// registerMany registers n devices, wire.MaxDevices per user, as users
// named users0, users1, ...: several users at a time, each user's
// devices one after another (the first creates the user).
func registerMany(b *testing.B, url string, conf *tls.Config, users string, n int) []*testclient.Device {
	const perUser = wire.MaxDevices
	devices := make([]*testclient.Device, n)
	hc := &http.Client{Timeout: testclient.Timeout, Transport: &http.Transport{TLSClientConfig: conf, MaxIdleConnsPerHost: benchWorkers}}
	defer hc.CloseIdleConnections() // not counted among the idle connections
	var wg sync.WaitGroup
	for w := range benchWorkers {
		wg.Go(func() {
			for u := w; u*perUser < n; u += benchWorkers {
				user, id := addr.UserID(fmt.Sprintf("%s%d", users, u)), testclient.NewIdentity(b)
				for i := u * perUser; i < min(n, (u+1)*perUser); i++ {
					d := testclient.NewDevice(b, url, conf, user, id)
					d.HTTP = hc
					if r, err := d.RegisterRaw(""); err != nil || r.Err() != nil {
						b.Errorf("register %d: %v %v", i, err, r.Err())
						return
					}
					devices[i] = d
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return devices
}

// dialIdle opens n WebSockets, per per device, several at a time, and
// reads each one's backlog (none) up to Synced. The connections stay open
// until the benchmark ends.
func dialIdle(b *testing.B, devices []*testclient.Device, n, per int) {
	const sources = 16
	transports := make([]*http.Client, sources)
	for i := range transports {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		transports[i] = &http.Client{Timeout: testclient.Timeout, Transport: &http.Transport{
			TLSClientConfig: devices[0].TLS.Clone(), DialContext: dialer.DialContext,
			MaxIdleConnsPerHost: benchWorkers, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	}
	var (
		mu   sync.Mutex
		open []*websocket.Conn
	)
	b.Cleanup(func() {
		for _, c := range open {
			c.CloseNow()
		}
	})
	next := make(chan int)
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for i := range next {
				d := *devices[i/per]
				d.HTTP = transports[i%sources]
				ws, err := dialOne(&d)
				if err != nil {
					b.Errorf("connection %d: %v", i, err)
					continue
				}
				mu.Lock()
				open = append(open, ws.Conn)
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for _, hc := range transports { // the challenges' keep-alive connections
		hc.CloseIdleConnections()
	}
}

// dialOne dials like Device.Dial, without registering a cleanup per
// connection, and reads up to Synced.
func dialOne(d *testclient.Device) (*testclient.WS, error) {
	auth, err := d.Authorization("GET", "/v1/ws", nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
	defer cancel()
	c, _, err := d.DialRaw(ctx, auth, "")
	if err != nil {
		return nil, err
	}
	ws := &testclient.WS{Conn: c}
	for {
		f, err := ws.NextCtx(ctx)
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		if _, ok := f.(*wire.Synced); ok {
			return ws, nil
		}
	}
}
