package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley.dev/internal/fanout/fanouttest"
	"parley.dev/internal/pgtest"
)

// startTimeout bounds a node's start, migrations included.
const startTimeout = 30 * time.Second

// generousLimits lift the relay's rate limits: every client of these
// tests comes from 127.0.0.1.
var generousLimits = []string{
	"--register-rate", "1000000/1h", "--challenge-rate", "1000000/1m", "--device-rate", "1000000/1m", "--request-rate", "1000000/1m",
	"--request-rate", "1000000/1m", "--bundle-rate", "1000000/1m",
}

// cluster is parleyd nodes sharing a store and a NATS subject prefix.
// The first node makes a development CA in its data directory; the
// others serve its certificate, so clients trusting CAFile reach all.
type cluster struct {
	nodes  []*node
	CAFile string
}

// clusterConfig is what the nodes share.
type clusterConfig struct {
	store  string // the PostgreSQL DSN (default: a fresh schema)
	nats   string // NATS URL(s) (default: the machine's server)
	prefix string // NATS subject prefix (default: a fresh one)
}

// startCluster starts n nodes and waits until each is ready.
func startCluster(t *testing.T, n int, cfg clusterConfig) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("runs parleyd processes: not with -short")
	}
	if cfg.store == "" {
		cfg.store, _ = pgtest.Schema(t)
	}
	if cfg.nats == "" {
		cfg.nats = fanouttest.SharedNATS(t)
	}
	if cfg.prefix == "" {
		cfg.prefix = fanouttest.UniquePrefix()
	}
	c := &cluster{}
	first := t.TempDir()
	c.CAFile = filepath.Join(first, "ca.pem")
	for i := range n {
		args := []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
			"--store", cfg.store, "--nats", cfg.nats, "--nats-prefix", cfg.prefix, "--log-level", "warn"}
		if i == 0 {
			args = append(args, "--dev", "--data", first)
		} else {
			args = append(args, "--data", t.TempDir(),
				"--tls-cert", filepath.Join(first, "server.pem"), "--tls-key", filepath.Join(first, "server-key.pem"))
		}
		c.nodes = append(c.nodes, startNode(t, fmt.Sprintf("node%d", i+1), c.CAFile, append(args, generousLimits...)))
	}
	return c
}

// urls returns the URLs of the given nodes, comma-separated (a
// client.Client's Server, in order of preference).
func urls(nodes ...*node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.URL)
	}
	return strings.Join(s, ",")
}

// node is one parleyd process.
type node struct {
	Name       string
	URL        string // https://127.0.0.1:PORT
	MetricsURL string // http://127.0.0.1:PORT/metrics
	cmd        *exec.Cmd
	out        *lockedBuffer
	exited     chan struct{}
}

// startNode runs parleyd with args until the test ends (SIGTERM, then
// SIGKILL if it lingers) and waits until it answers /readyz. Its output
// is logged if the test fails.
func startNode(t *testing.T, name, caFile string, args []string) *node {
	t.Helper()
	n := &node{Name: name, out: &lockedBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(parleyd, args...)
	dieWithTest(n.cmd)
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("%s's output:\n%s", n.Name, n.out.String())
		}
	})
	n.URL, n.MetricsURL = greeting(stdout, n.out)
	if n.URL == "" || n.MetricsURL == "" {
		n.stop()
		t.Fatalf("%s did not start:\n%s", name, n.out.String())
	}
	go io.Copy(n.out, stdout)
	n.waitReady(t, caFile)
	return n
}

// greeting reads parleyd's greeting from r (copying it to log) until it
// has named its relay URL and its metrics URL.
func greeting(r io.Reader, log io.Writer) (url, metrics string) {
	sc := bufio.NewScanner(r)
	for (url == "" || metrics == "") && sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if _, rest, ok := strings.Cut(line, "relay listening on "); ok {
			url, _, _ = strings.Cut(rest, " ")
		}
		if _, rest, ok := strings.Cut(line, "metrics on "); ok {
			metrics = rest
		}
	}
	return url, metrics
}

// waitReady polls the node's /readyz until it answers 200.
func (n *node) waitReady(t *testing.T, caFile string) {
	t.Helper()
	hc := trusting(t, caFile)
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := hc.Get(n.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v", n.Name, startTimeout, err)
		}
		select {
		case <-n.exited:
			t.Fatalf("%s exited while starting:\n%s", n.Name, n.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill ends the process with SIGKILL: no graceful shutdown, no chance to
// close a connection or finish a commit.
func (n *node) kill(t *testing.T) {
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Error(err) // (from any goroutine)
	}
	<-n.exited
	t.Logf("killed %s", n.Name)
}

// stop ends the process with SIGTERM, or SIGKILL after 10 s.
func (n *node) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// metric returns the value of the node's unlabelled metric name, as
// text.
func (n *node) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := metricsClient.Get(n.MetricsURL)
	if err != nil {
		t.Fatalf("%s metrics: %v", n.Name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	t.Fatalf("%s serves no metric %s", n.Name, name)
	return ""
}

// waitMetric waits (up to 20 s) until the node's metric name is want.
func (n *node) waitMetric(t *testing.T, name, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for n.metric(t, name) != want {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s stayed %s, want %s", n.Name, name, n.metric(t, name), want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// trusting returns an HTTP client trusting only the CA in caFile.
func trusting(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
