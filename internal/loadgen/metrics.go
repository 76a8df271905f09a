package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scraper reads the relay's Prometheus text exposition: each node's,
// summed.
type scraper struct {
	urls []string
	hc   *http.Client
}

// maxMetrics bounds the exposition read.
const maxMetrics = 4 << 20

// errNoMetricsURL: a run told of no metrics endpoint has no relay figures.
var errNoMetricsURL = errors.New("no metrics URL given")

func newScraper(t Target) (*scraper, error) {
	if t.MetricsURL == "" {
		return &scraper{}, nil
	}
	urls := strings.Split(t.MetricsURL, ",")
	for _, u := range urls {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, fmt.Errorf("loadgen: metrics URL %q: want http:// or https://", u)
		}
	}
	// An https endpoint (behind a proxy, say) is trusted like the relay.
	e, err := newEndpoint(Target{URL: "https://metrics", Roots: t.Roots})
	if err != nil {
		return nil, err
	}
	return &scraper{urls: urls, hc: e.hc}, nil
}

// sample is one scrape: series ("name" or `name{label="v"}`, as the relay
// writes them) to values, or why there is none.
type sample struct {
	at     time.Time
	series map[string]float64
	err    error
}

func (s *scraper) scrape(ctx context.Context) sample {
	smp := sample{at: time.Now()}
	if len(s.urls) == 0 {
		smp.err = errNoMetricsURL
		return smp
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	smp.series = make(map[string]float64)
	for _, u := range s.urls {
		series, err := s.scrapeOne(ctx, u)
		if err != nil {
			return sample{at: smp.at, err: err}
		}
		for k, v := range series {
			smp.series[k] += v
		}
	}
	return smp
}

// scrapeOne reads one node's metrics.
func (s *scraper) scrapeOne(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return parseExposition(io.LimitReader(resp.Body, maxMetrics))
}

// settleWait bounds how long settled waits for the relay's ack counter.
const settleWait = time.Second

// settled scrapes until the relay has counted at least delivered acks
// since before (a client confirms its last acks a little after handling
// the deliveries), for at most settleWait, and returns the last scrape.
func (s *scraper) settled(ctx context.Context, before sample, delivered int64) sample {
	deadline := time.Now().Add(settleWait)
	for {
		after := s.scrape(ctx)
		if after.err != nil || before.err != nil || int64(delta(before, after, seriesAcked)) >= delivered ||
			time.Now().After(deadline) || ctx.Err() != nil {
			return after
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parseExposition reads the Prometheus text format's samples, keyed by
// their series text; comments and timestamps are skipped.
func parseExposition(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := cutSeries(line)
		if !ok {
			return nil, fmt.Errorf("loadgen: metrics line %q does not parse", line)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("loadgen: metrics line %q: %v", line, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// cutSeries splits "name{labels} value [timestamp]".
func cutSeries(line string) (series, value string, ok bool) {
	end := strings.IndexAny(line, " {")
	if end < 0 {
		return "", "", false
	}
	if line[end] == '{' {
		close := strings.LastIndexByte(line, '}')
		if close < end {
			return "", "", false
		}
		end = close + 1
	}
	fields := strings.Fields(line[end:])
	if len(fields) == 0 {
		return "", "", false
	}
	return line[:end], fields[0], true
}

// delta is after − before for one series (0 when either lacks it).
func delta(before, after sample, series string) float64 {
	return after.series[series] - before.series[series]
}

// Series the report reads.
const (
	seriesCPU         = "process_cpu_seconds_total"
	seriesRSS         = "process_resident_memory_bytes"
	seriesConnections = "parley_connections"
	seriesQueued      = "parley_envelopes_queued_total"
	seriesDelivered   = "parley_envelopes_delivered_total"
	seriesAcked       = "parley_envelopes_acked_total"
	seriesRejected    = "parley_rejected_total{reason="
)

// relayFigures builds the relay's part of the report from the scrapes
// around the load. idle carries the figures of the idle connections, if
// any were measured.
func relayFigures(before, after sample, idle *RelayFigures) (*RelayFigures, string) {
	if err := firstErr(before.err, after.err); err != nil {
		return idle, "metrics unavailable: " + err.Error()
	}
	f := idle
	if f == nil {
		f = new(RelayFigures)
	}
	f.Queued = int64(delta(before, after, seriesQueued))
	f.Delivered = int64(delta(before, after, seriesDelivered))
	f.Acked = int64(delta(before, after, seriesAcked))
	f.Connections = int64(after.series[seriesConnections])
	for s, v := range after.series {
		if reason, ok := strings.CutPrefix(s, seriesRejected); ok {
			if n := int64(v - before.series[s]); n > 0 {
				if f.Rejected == nil {
					f.Rejected = make(map[string]int64)
				}
				f.Rejected[strings.Trim(reason, `"}`)] = n
			}
		}
	}
	_, hasCPU := after.series[seriesCPU]
	if hasCPU {
		f.CPUSeconds = delta(before, after, seriesCPU)
		f.CPUCores = f.CPUSeconds / after.at.Sub(before.at).Seconds()
		if f.Queued > 0 {
			f.CPUPerEnvelope = time.Duration(f.CPUSeconds / float64(f.Queued) * float64(time.Second))
		}
	}
	f.RSSBefore, f.RSSAfter = int64(before.series[seriesRSS]), int64(after.series[seriesRSS])
	if !hasCPU {
		return f, "its metrics carry no process_cpu_seconds_total (no CPU figures)"
	}
	return f, ""
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
