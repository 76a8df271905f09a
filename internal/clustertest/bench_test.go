package clustertest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// benchResult is what these tests read of parley bench --json.
type benchResult struct {
	Sent, Acked, Delivered int64
	Errors                 map[string]int64
	Relay                  struct{ Queued int64 }
}

// bench runs parley bench --json against every node of c.
func bench(t *testing.T, c *cluster, args ...string) benchResult {
	t.Helper()
	var metrics []string
	for _, n := range c.nodes {
		metrics = append(metrics, n.MetricsURL)
	}
	args = append([]string{"bench", "--json", "--server", urls(c.nodes...), "--ca", c.CAFile,
		"--metrics", strings.Join(metrics, ","), "--duration", "1s", "--drain", "10s"}, args...)
	out, err := exec.Command(parley, args...).Output()
	if err != nil {
		t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var res benchResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%s", out)
	if res.Acked == 0 || res.Delivered != res.Acked || len(res.Errors) != 0 {
		t.Errorf("sent %d, acked %d, delivered %d, errors %v", res.Sent, res.Acked, res.Delivered, res.Errors)
	}
	return res
}

// TestBenchAcrossNodes runs parley bench against three nodes, in both
// modes: each pair's receiver is on the node after its sender's, so every
// node stores messages and delivers some, and every message arrives. The
// relay figures are the three nodes' sums (raw: the nodes' counters
// exactly).
func TestBenchAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, clusterConfig{})
	for _, mode := range []string{"raw", "e2ee"} {
		before := nodeCounts(t, c)
		res := bench(t, c, "--mode", mode, "--senders", "3")
		after := nodeCounts(t, c)
		var queued int64
		for i, n := range c.nodes {
			q, d := after[i][0]-before[i][0], after[i][1]-before[i][1]
			if q == 0 || d == 0 {
				t.Errorf("%s: %s stored %d envelopes and delivered %d: not every node had a sender and a receiver", mode, n.Name, q, d)
			}
			queued += q
		}
		// (e2ee's setup exchange, before the run, is not in its figures)
		if mode == "raw" && res.Relay.Queued != queued {
			t.Errorf("%s: bench reports %d envelopes stored by the relay, the nodes %d in all", mode, res.Relay.Queued, queued)
		}
	}
}

// nodeCounts returns each node's envelopes stored and delivered so far.
func nodeCounts(t *testing.T, c *cluster) [][2]int64 {
	t.Helper()
	var counts [][2]int64
	for _, n := range c.nodes {
		q, err1 := strconv.ParseInt(n.metric(t, "parley_envelopes_queued_total"), 10, 64)
		d, err2 := strconv.ParseInt(n.metric(t, "parley_envelopes_delivered_total"), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s's counters: %v, %v", n.Name, err1, err2)
		}
		counts = append(counts, [2]int64{q, d})
	}
	return counts
}
