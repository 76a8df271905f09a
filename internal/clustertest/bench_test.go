package clustertest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestBenchAcrossNodes runs parley bench against three nodes: each
// pair's receiver is on the node after its sender's, so every node
// stores messages and delivers some, every message arrives, and the
// relay figures are the three nodes' sums.
func TestBenchAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, clusterConfig{})
	var metrics []string
	for _, n := range c.nodes {
		metrics = append(metrics, n.MetricsURL)
	}
	cmd := exec.Command(parley, "bench", "--json", "--mode", "raw", "--server", urls(c.nodes...), "--ca", c.CAFile,
		"--metrics", strings.Join(metrics, ","), "--senders", "3", "--duration", "1s", "--drain", "10s")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parley bench: %v\n%s", err, out)
	}
	var res struct {
		Sent, Acked, Delivered int64
		Errors                 map[string]int64
		Relay                  struct{ Queued int64 }
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%s", out)
	if res.Acked == 0 || res.Delivered != res.Acked || len(res.Errors) != 0 {
		t.Errorf("sent %d, acked %d, delivered %d, errors %v", res.Sent, res.Acked, res.Delivered, res.Errors)
	}
	var queued int64
	for _, n := range c.nodes {
		q, _ := strconv.ParseInt(n.metric(t, "parley_envelopes_queued_total"), 10, 64)
		d, _ := strconv.ParseInt(n.metric(t, "parley_envelopes_delivered_total"), 10, 64)
		if q == 0 || d == 0 {
			t.Errorf("%s stored %d envelopes and delivered %d: not every node had a sender and a receiver", n.Name, q, d)
		}
		queued += q
	}
	if res.Relay.Queued != queued {
		t.Errorf("bench reports %d envelopes stored by the relay, the nodes %d in all", res.Relay.Queued, queued)
	}
}
