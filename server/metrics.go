package server

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"parley.dev/internal/push"
	"parley.dev/internal/wire"
)

// metrics are the relay's counters, written in the Prometheus text
// exposition format (version 0.0.4) by hand. All fields are safe for
// concurrent use.
type metrics struct {
	connections      atomic.Int64 // open WebSocket connections
	connectionsTotal atomic.Int64
	connDisplaced    atomic.Int64 // closed for a newer connection of the same device
	connRefused      atomic.Int64 // refused at the global cap
	maxConns         int64        // the caps, shown as gauges
	maxDeviceConns   int64
	registrations    atomic.Int64
	queued           atomic.Int64 // envelopes stored (not counting duplicates)
	duplicates       atomic.Int64
	delivered        atomic.Int64 // Deliver frames sent
	acked            atomic.Int64
	expired          atomic.Int64
	// rejected counts refusals by code: one counter for every code wire
	// defines (the map is built once and only read afterwards), and
	// rejectedOther for any other.
	rejected      map[wire.Code]*atomic.Int64
	rejectedOther atomic.Int64

	challenges atomic.Int64      // issued
	fanoutUp   func() int64      // 1 while wake-ups reach every node
	push       func() push.Stats // nil without a push gateway

	storeMu sync.Mutex
	store   map[string]*histogram // by store operation
}

// latencyBuckets are the upper bounds, in seconds, of the store latency
// histogram.
var latencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Int64 // one per bucket, then +Inf
	sumNs  atomic.Int64
	count  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
	h.count.Add(1)
}

func newMetrics() *metrics {
	m := &metrics{store: make(map[string]*histogram), fanoutUp: func() int64 { return 1 },
		rejected: make(map[wire.Code]*atomic.Int64)}
	for _, c := range wire.ErrorCodes() {
		m.rejected[c] = new(atomic.Int64)
	}
	return m
}

// reject counts one refused request or envelope.
func (m *metrics) reject(c wire.Code) {
	if n := m.rejected[c]; n != nil {
		n.Add(1)
		return
	}
	m.rejectedOther.Add(1)
}

// storeOp records the latency of one store call.
func (m *metrics) storeOp(op string, start time.Time) {
	m.storeMu.Lock()
	h := m.store[op]
	if h == nil {
		h = new(histogram)
		m.store[op] = h
	}
	m.storeMu.Unlock()
	h.observe(time.Since(start))
}

// ServeHTTP writes the exposition.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	m.write(bw)
	bw.Flush()
}

func (m *metrics) write(w io.Writer) {
	gauge(w, "parley_connections", "Open WebSocket connections.", m.connections.Load())
	gauge(w, "parley_fanout_up", "1 while wake-ups reach every relay node (NATS connected, or one node); 0 while connections poll.", m.fanoutUp())
	gauge(w, "parley_connections_max", "Most WebSocket connections the relay holds (--max-conns).", m.maxConns)
	gauge(w, "parley_device_connections_max", "Most WebSocket connections per device (--max-device-conns); a newer one displaces the oldest.", m.maxDeviceConns)
	counter(w, "parley_connections_total", "WebSocket connections accepted.", m.connectionsTotal.Load())
	counter(w, "parley_connections_displaced_total", "WebSocket connections closed for a newer one of the same device.", m.connDisplaced.Load())
	counter(w, "parley_connections_refused_total", "WebSocket connections refused at the global cap.", m.connRefused.Load())
	counter(w, "parley_registrations_total", "Devices registered.", m.registrations.Load())
	counter(w, "parley_challenges_issued_total", "Challenges issued (stateless: none is kept).", m.challenges.Load())
	counter(w, "parley_envelopes_queued_total", "Envelopes durably stored.", m.queued.Load())
	counter(w, "parley_envelopes_duplicate_total", "Envelopes resubmitted and stored once.", m.duplicates.Load())
	counter(w, "parley_envelopes_delivered_total", "Envelopes sent to their device (including redeliveries).", m.delivered.Load())
	counter(w, "parley_envelopes_acked_total", "Envelopes acknowledged and deleted.", m.acked.Load())
	counter(w, "parley_envelopes_expired_total", "Envelopes expired undelivered.", m.expired.Load())
	m.writePush(w)
	m.writeRejected(w)
	m.writeStore(w)
	writeProcess(w)
}

func (m *metrics) writeRejected(w io.Writer) {
	header(w, "parley_rejected_total", "counter", "Requests and envelopes refused, by error code.")
	for _, c := range wire.ErrorCodes() {
		fmt.Fprintf(w, "parley_rejected_total{reason=%q} %d\n", c.String(), m.rejected[c].Load())
	}
	fmt.Fprintf(w, "parley_rejected_total{reason=\"other\"} %d\n", m.rejectedOther.Load())
}

func (m *metrics) writeStore(w io.Writer) {
	header(w, "parley_store_seconds", "histogram", "Latency of store operations.")
	m.storeMu.Lock()
	ops := maps.Clone(m.store)
	m.storeMu.Unlock()
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		h := ops[op]
		var cum int64
		for i, le := range latencyBuckets {
			cum += h.counts[i].Load()
			fmt.Fprintf(w, "parley_store_seconds_bucket{op=%q,le=%q} %d\n", op, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		cum += h.counts[len(latencyBuckets)].Load()
		fmt.Fprintf(w, "parley_store_seconds_bucket{op=%q,le=\"+Inf\"} %d\n", op, cum)
		fmt.Fprintf(w, "parley_store_seconds_sum{op=%q} %s\n", op, strconv.FormatFloat(time.Duration(h.sumNs.Load()).Seconds(), 'g', -1, 64))
		fmt.Fprintf(w, "parley_store_seconds_count{op=%q} %d\n", op, h.count.Load())
	}
}

func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func gauge(w io.Writer, name, help string, v int64) {
	header(w, name, "gauge", help)
	fmt.Fprintf(w, "%s %d\n", name, v)
}

func counter(w io.Writer, name, help string, v int64) {
	header(w, name, "counter", help)
	fmt.Fprintf(w, "%s %d\n", name, v)
}

// writeProcess writes the standard process metrics that the platform
// provides (Prometheus' names, so dashboards and "parley bench" read them
// without configuration): CPU seconds used, resident memory, open file
// descriptors. A figure the platform cannot provide is left out.
func writeProcess(w io.Writer) {
	p := readProcess()
	if p.cpu >= 0 {
		header(w, "process_cpu_seconds_total", "counter", "User and system CPU time spent by the relay process, in seconds.")
		fmt.Fprintf(w, "process_cpu_seconds_total %s\n", strconv.FormatFloat(p.cpu.Seconds(), 'f', 6, 64))
	}
	if p.rss >= 0 {
		gauge(w, "process_resident_memory_bytes", "Resident memory of the relay process, in bytes.", p.rss)
	}
	if p.fds >= 0 {
		gauge(w, "process_open_fds", "Open file descriptors of the relay process.", p.fds)
	}
}
