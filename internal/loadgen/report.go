package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is what a run measured. It marshals to the JSON "parley bench
// --json" prints (durations in milliseconds or seconds as named).
type Result struct {
	Mode    string
	Loop    string // "closed" or "open"
	Senders int
	Rate    float64 // open loop: messages per second scheduled
	Payload int
	Idle    int

	// Interrupted: the run's context ended before the schedule did; the
	// figures cover the part that ran.
	Interrupted bool

	Setup    time.Duration // registering and connecting every device
	Duration time.Duration // the schedule's length
	Elapsed  time.Duration // from the first send to the last ack or delivery

	Sent, Acked, Delivered, Duplicates int64
	SubmitAck, SubmitDeliver           Percentiles
	// Errors counts failures by wire code name or Code* constant.
	Errors map[string]int64

	// ClientCPU is the CPU time this process (every virtual device) used
	// over the run, and ClientCPUCores the same per second: on a machine
	// shared with the relay, what the clients took from it.
	ClientCPU      time.Duration
	ClientCPUCores float64

	// Relay holds the relay's own figures, from its metrics; RelayError
	// says why some or all are missing.
	Relay      *RelayFigures
	RelayError string
}

// RelayFigures are the relay's metrics over the run (differences between
// a scrape before the load and one after it).
type RelayFigures struct {
	Queued, Delivered, Acked int64
	Rejected                 map[string]int64
	Connections              int64 // open at the end, idle ones included
	CPUSeconds               float64
	CPUCores                 float64       // CPU seconds per second of the run
	CPUPerEnvelope           time.Duration // CPU time per envelope queued
	RSSBefore, RSSAfter      int64         // resident memory, bytes
	IdleRSSPerConn           float64       // resident memory added per idle connection, bytes
}

// AckedPerSecond is the rate of messages the relay stored durably.
func (r *Result) AckedPerSecond() float64 { return perSecond(r.Acked, r.Elapsed) }

// DeliveredPerSecond is the rate of messages fully cycled: stored,
// delivered and handled by their receiver.
func (r *Result) DeliveredPerSecond() float64 { return perSecond(r.Delivered, r.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (r *run) fill(res *Result, elapsed time.Duration) {
	res.Mode, res.Loop = r.drv.Name(), "closed"
	if r.cfg.Rate > 0 {
		res.Loop, res.Rate = "open", r.cfg.Rate
	}
	res.Senders, res.Payload, res.Duration, res.Elapsed = r.cfg.Senders, r.cfg.Payload, r.cfg.Duration, elapsed
	res.Sent, res.Acked = r.counts.sent.Load(), r.counts.acked.Load()
	res.Delivered, res.Duplicates = r.counts.delivered.Load(), r.counts.duplicates.Load()
	res.SubmitAck, res.SubmitDeliver = r.ackLat.percentiles(), r.deliverLat.percentiles()
	res.Errors = r.counts.errorCounts()
}

// jsonResult is Result's JSON form.
type jsonResult struct {
	Mode          string           `json:"mode"`
	Loop          string           `json:"loop"`
	Senders       int              `json:"senders"`
	Rate          float64          `json:"rate,omitempty"`
	Payload       int              `json:"payload_bytes"`
	Idle          int              `json:"idle"`
	Interrupted   bool             `json:"interrupted,omitempty"`
	SetupS        float64          `json:"setup_s"`
	DurationS     float64          `json:"duration_s"`
	ElapsedS      float64          `json:"elapsed_s"`
	Sent          int64            `json:"sent"`
	Acked         int64            `json:"acked"`
	Delivered     int64            `json:"delivered"`
	Duplicates    int64            `json:"duplicates"`
	AckedPerS     float64          `json:"acked_per_s"`
	DeliveredPerS float64          `json:"delivered_per_s"`
	SubmitAck     jsonPercentiles  `json:"submit_ack_ms"`
	SubmitDeliver jsonPercentiles  `json:"submit_deliver_ms"`
	Errors        map[string]int64 `json:"errors"`
	ClientCPUS    float64          `json:"client_cpu_s"`
	ClientCores   float64          `json:"client_cpu_cores"`
	Relay         *jsonRelay       `json:"relay,omitempty"`
	RelayError    string           `json:"relay_error,omitempty"`
}

type jsonPercentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

type jsonRelay struct {
	Queued         int64            `json:"queued"`
	Delivered      int64            `json:"delivered"`
	Acked          int64            `json:"acked"`
	Rejected       map[string]int64 `json:"rejected"`
	Connections    int64            `json:"connections"`
	CPUSeconds     float64          `json:"cpu_s"`
	CPUCores       float64          `json:"cpu_cores"`
	CPUPerEnvelope float64          `json:"cpu_us_per_envelope"`
	RSSBefore      int64            `json:"rss_bytes_before"`
	RSSAfter       int64            `json:"rss_bytes_after"`
	IdleRSSPerConn float64          `json:"idle_rss_bytes_per_conn,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (p Percentiles) json() jsonPercentiles {
	return jsonPercentiles{Count: p.Count, P50: ms(p.P50), P90: ms(p.P90), P99: ms(p.P99), P999: ms(p.P999), Max: ms(p.Max), Mean: ms(p.Mean)}
}

// MarshalJSON writes the result as "parley bench --json" prints it.
func (r *Result) MarshalJSON() ([]byte, error) {
	j := jsonResult{
		Mode: r.Mode, Loop: r.Loop, Senders: r.Senders, Rate: r.Rate, Payload: r.Payload, Idle: r.Idle, Interrupted: r.Interrupted,
		SetupS: r.Setup.Seconds(), DurationS: r.Duration.Seconds(), ElapsedS: r.Elapsed.Seconds(),
		Sent: r.Sent, Acked: r.Acked, Delivered: r.Delivered, Duplicates: r.Duplicates,
		AckedPerS: r.AckedPerSecond(), DeliveredPerS: r.DeliveredPerSecond(),
		SubmitAck: r.SubmitAck.json(), SubmitDeliver: r.SubmitDeliver.json(),
		Errors: r.Errors, RelayError: r.RelayError,
		ClientCPUS: r.ClientCPU.Seconds(), ClientCores: r.ClientCPUCores,
	}
	if j.Errors == nil {
		j.Errors = map[string]int64{}
	}
	if f := r.Relay; f != nil {
		j.Relay = &jsonRelay{Queued: f.Queued, Delivered: f.Delivered, Acked: f.Acked, Rejected: f.Rejected,
			Connections: f.Connections, CPUSeconds: f.CPUSeconds, CPUCores: f.CPUCores,
			CPUPerEnvelope: float64(f.CPUPerEnvelope) / float64(time.Microsecond),
			RSSBefore:      f.RSSBefore, RSSAfter: f.RSSAfter, IdleRSSPerConn: f.IdleRSSPerConn}
		if j.Relay.Rejected == nil {
			j.Relay.Rejected = map[string]int64{}
		}
	}
	return json.Marshal(j)
}

// WriteText writes the result as a short human-readable report.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	loop := "closed loop"
	if r.Loop == "open" {
		loop = fmt.Sprintf("open loop at %s/s", count(r.Rate))
	}
	fmt.Fprintf(&b, "mode %s, %s, %d senders, %d-byte payloads, %v (setup %v)\n",
		r.Mode, loop, r.Senders, r.Payload, r.Duration, r.Setup.Round(time.Millisecond))
	fmt.Fprintf(&b, "messages   sent %s, acked %s (%s/s), delivered %s (%s/s) in %v\n",
		count(float64(r.Sent)), count(float64(r.Acked)), count(r.AckedPerSecond()),
		count(float64(r.Delivered)), count(r.DeliveredPerSecond()), r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "%-15s %8s %8s %8s %8s %8s  (ms)\n", "latency", "p50", "p90", "p99", "p99.9", "max")
	for _, l := range []struct {
		name string
		p    Percentiles
	}{{"submit→ack", r.SubmitAck}, {"submit→deliver", r.SubmitDeliver}} {
		fmt.Fprintf(&b, "%-15s %8s %8s %8s %8s %8s\n", l.name,
			msText(l.p.P50), msText(l.p.P90), msText(l.p.P99), msText(l.p.P999), msText(l.p.Max))
	}
	fmt.Fprintf(&b, "errors     %s\n", countsText(r.Errors))
	if r.Duplicates > 0 {
		fmt.Fprintf(&b, "duplicates %s redelivered (counted once)\n", count(float64(r.Duplicates)))
	}
	if r.ClientCPU > 0 {
		fmt.Fprintf(&b, "clients    CPU %.2f s (%.2f cores) in this process\n", r.ClientCPU.Seconds(), r.ClientCPUCores)
	}
	r.writeRelay(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Result) writeRelay(b *strings.Builder) {
	if f := r.Relay; f != nil {
		if f.CPUSeconds > 0 {
			fmt.Fprintf(b, "relay      CPU %.2f s (%.2f cores), %s per envelope; RSS %s → %s\n",
				f.CPUSeconds, f.CPUCores, durText(f.CPUPerEnvelope), bytesText(float64(f.RSSBefore)), bytesText(float64(f.RSSAfter)))
		}
		fmt.Fprintf(b, "relay      queued %s, delivered %s, acked %s, refused %s; %d connections\n",
			count(float64(f.Queued)), count(float64(f.Delivered)), count(float64(f.Acked)), countsText(f.Rejected), f.Connections)
		switch {
		case r.Idle == 0:
		case f.IdleRSSPerConn <= 0:
			fmt.Fprintf(b, "idle       %s connections; the relay's RSS did not grow meanwhile (too few to measure, or it returned memory): use more connections\n", count(float64(r.Idle)))
		default:
			fmt.Fprintf(b, "idle       %s connections, relay RSS %s per connection\n", count(float64(r.Idle)), bytesText(f.IdleRSSPerConn))
		}
	}
	if r.RelayError != "" {
		fmt.Fprintf(b, "relay      %s\n", r.RelayError)
	}
}

// String is the progress line: the phase, then the counts so far.
func (p Progress) String() string {
	el := p.Elapsed.Round(time.Second)
	if p.Phase == "setup" || p.Phase == "idle" {
		return fmt.Sprintf("%s %v, %s devices ready", p.Phase, el, count(float64(p.Ready)))
	}
	return fmt.Sprintf("%s %v/%v  sent %s  acked %s  delivered %s  errors %s  p99 ack %s ms",
		p.Phase, el, p.Duration, count(float64(p.Sent)), count(float64(p.Acked)),
		count(float64(p.Delivered)), count(float64(p.Errors)), msText(p.P99Ack))
}

// count writes n with thousands separators, or as "12.3k" from 100,000.
func count(n float64) string {
	switch {
	case n >= 100_000:
		return fmt.Sprintf("%.1fk", n/1000)
	case n != float64(int64(n)):
		n = float64(int64(n + 0.5))
	}
	s := fmt.Sprintf("%d", int64(n))
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func msText(d time.Duration) string { return fmt.Sprintf("%.2f", ms(d)) }

func durText(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", ms(d))
}

// bytesText writes a byte count in decimal units (kB = 1,000 bytes), the
// units BENCHMARKS.md uses for memory per connection.
func bytesText(n float64) string {
	switch a := max(n, -n); {
	case a >= 1e9:
		return fmt.Sprintf("%.2f GB", n/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1f MB", n/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
	return fmt.Sprintf("%.0f B", n)
}

// countsText writes "none" or "name n, name n" in name order.
func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, count(float64(m[k]))))
	}
	return strings.Join(parts, ", ")
}
