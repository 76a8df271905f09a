package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const exposition = `# HELP parley_connections Open WebSocket connections.
# TYPE parley_connections gauge
parley_connections 3
parley_envelopes_queued_total 1200
parley_rejected_total{reason="mailbox-full"} 7
parley_rejected_total{reason="rate-limited"} 0
parley_store_seconds_bucket{op="submit",le="+Inf"} 12 1700000000000
process_cpu_seconds_total 2.5
process_resident_memory_bytes 4.5e+07
`

func TestParseExposition(t *testing.T) {
	m, err := parseExposition(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		"parley_connections":                                 3,
		`parley_rejected_total{reason="mailbox-full"}`:       7,
		`parley_store_seconds_bucket{op="submit",le="+Inf"}`: 12,
		"process_resident_memory_bytes":                      45e6,
		"process_cpu_seconds_total":                          2.5,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	for _, bad := range []string{"novalue", "name{unclosed 1", "name notanumber"} {
		if _, err := parseExposition(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestRelayFigures(t *testing.T) {
	before, _ := parseExposition(strings.NewReader(exposition))
	after, _ := parseExposition(strings.NewReader(strings.NewReplacer(
		"queued_total 1200", "queued_total 3200",
		`"mailbox-full"} 7`, `"mailbox-full"} 9`,
		"cpu_seconds_total 2.5", "cpu_seconds_total 3.5",
	).Replace(exposition)))
	t0 := time.Now()
	f, problem := relayFigures(sample{at: t0, series: before}, sample{at: t0.Add(2 * time.Second), series: after}, nil)
	if problem != "" || f.Queued != 2000 || f.CPUPerEnvelope != 500*time.Microsecond || f.CPUCores != 0.5 ||
		len(f.Rejected) != 1 || f.Rejected["mailbox-full"] != 2 {
		t.Errorf("figures %+v, %q", f, problem)
	}
	delete(after, "process_cpu_seconds_total")
	if _, problem := relayFigures(sample{series: before}, sample{series: after}, nil); problem == "" {
		t.Error("no word about the missing CPU figures")
	}
}

// TestScrapeSumsNodes: with several nodes' metrics URLs, a scrape is the
// sum of their series; one node failing fails the scrape.
func TestScrapeSumsNodes(t *testing.T) {
	node := func(body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) }))
		t.Cleanup(s.Close)
		return s.URL + "/metrics"
	}
	a, b := node(exposition), node("parley_envelopes_queued_total 34\nprocess_cpu_seconds_total 1\n")
	m, err := newScraper(Target{MetricsURL: a + "," + b})
	if err != nil {
		t.Fatal(err)
	}
	smp := m.scrape(context.Background())
	if smp.err != nil || smp.series[seriesQueued] != 1234 || smp.series[seriesCPU] != 3.5 || smp.series[seriesConnections] != 3 {
		t.Errorf("scrape = %v, %v", smp.series, smp.err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	m, _ = newScraper(Target{MetricsURL: a + "," + down.URL})
	if smp := m.scrape(context.Background()); smp.err == nil {
		t.Error("a node down went unnoticed")
	}
}

// TestPairsCrossNodes: with several nodes, every pair's receiver is on
// another node than its sender, and each node has as many of each.
func TestPairsCrossNodes(t *testing.T) {
	for nodes := 1; nodes <= 4; nodes++ {
		senders, receivers := make([]int, nodes), make([]int, nodes)
		for i := range 4 * nodes {
			s, r := SenderNode(i, nodes), ReceiverNode(i, nodes)
			if nodes > 1 && s == r {
				t.Errorf("%d nodes: pair %d on node %d only", nodes, i, s)
			}
			senders[s]++
			receivers[r]++
		}
		for n := range nodes {
			if senders[n] != 4 || receivers[n] != 4 {
				t.Errorf("%d nodes: node %d has %d senders and %d receivers", nodes, n, senders[n], receivers[n])
			}
		}
	}
}

// FuzzParseExposition: the metrics text comes from the relay, which the
// bench need not trust. It must never panic.
func FuzzParseExposition(f *testing.F) {
	f.Add(exposition)
	f.Fuzz(func(t *testing.T, s string) { parseExposition(strings.NewReader(s)) })
}
