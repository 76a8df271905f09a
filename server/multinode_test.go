package server_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/jackc/pgx/v5/stdlib"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout/fanouttest"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// Two relay nodes on one PostgreSQL schema and one NATS subject prefix,
// as parleyd --store postgres://... --nats nats://... runs them. These
// tests need both servers: they skip when either is unreachable, except
// under CI=true, where they fail.

// needServer skips t (or fails it under CI=true) with err.
func needServer(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %v", what, err)
	}
	t.Skipf("%s unreachable: %v", what, err)
}

// pgSchema makes a fresh schema in PARLEY_TEST_POSTGRES and returns a
// DSN selecting it; the schema is dropped when t ends.
func pgSchema(t testing.TB) string {
	t.Helper()
	base := cmp.Or(os.Getenv("PARLEY_TEST_POSTGRES"), "postgres://127.0.0.1:5432/test")
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		needServer(t, "PostgreSQL at "+base, err)
	}
	schema := "multinode_" + addr.NewMessageID().String()[:12]
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// cluster is N relay nodes sharing a store and a NATS prefix. They share
// a data directory too, for the development CA only.
type cluster struct {
	nodes []*servertest.Relay
}

func startCluster(t *testing.T, n int, natsURL string, configure ...func(*server.Server)) *cluster {
	t.Helper()
	dsn := pgSchema(t)
	prefix := fanouttest.UniquePrefix()
	c := &cluster{}
	for i := range n {
		conf := append([]func(*server.Server){func(s *server.Server) {
			s.StoreDSN, s.NATSURL, s.NATSPrefix = dsn, natsURL, prefix
			// Only wake-ups (or the fallback poll) may deliver here.
			s.RecheckInterval = time.Hour
			if i > 0 {
				s.DataDir = c.nodes[0].Dir
			}
		}}, configure...)
		c.nodes = append(c.nodes, startRelay(t, conf...))
	}
	return c
}

// on returns d as a client of node i (same keys and address).
func (c *cluster) on(i int, d *testclient.Device) *testclient.Device {
	n := c.nodes[i]
	d2 := *d
	d2.Base, d2.TLS = n.URL, n.ClientTLS()
	d2.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: d2.TLS}, Timeout: testclient.Timeout}
	return &d2
}

// TestCrossNodeDelivery: a message submitted on node A reaches the
// recipient's live connection on node B through a NATS wake-up (the
// periodic re-check is an hour away).
func TestCrossNodeDelivery(t *testing.T) {
	c := startCluster(t, 2, fanouttest.SharedNATS(t))
	alice := register(t, c.nodes[0], "alice")
	bob := c.on(1, register(t, c.nodes[0], "bob"))
	bws := bob.Dial(t)
	drain(t, bws)
	aws := alice.Dial(t)
	for i := range 3 {
		mustStore(t, aws, bob.Addr, msgID(i), []byte(fmt.Sprint("hello ", i)))
		if d := next[*wire.Deliver](t, bws); d.ID != msgID(i) || d.From != alice.Addr {
			t.Fatalf("bob got %+v", d)
		}
	}
}

// TestCrossNodeRevocation: revoking a device through node A closes its
// live connection on node B.
func TestCrossNodeRevocation(t *testing.T) {
	c := startCluster(t, 2, fanouttest.SharedNATS(t))
	phone := register(t, c.nodes[0], "alice")
	laptop := c.on(1, sibling(t, c.nodes[0], phone))
	lws := laptop.Dial(t)
	drain(t, lws)
	if _, err := phone.Call("DELETE", fmt.Sprintf("/v1/users/alice/devices/%d", laptop.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}
	if e := next[*wire.Error](t, lws); e.Code != wire.CodeUnauthorized {
		t.Errorf("revoked connection got %v", e)
	}
	if s := closedWith(t, lws); s != websocket.StatusPolicyViolation {
		t.Errorf("revoked connection closed with %v", s)
	}
}

// TestNATSDownFallsBackToPolling stops the (private) NATS server under
// two nodes: a message across nodes still arrives, by the fallback poll;
// a revocation on A still closes the device's connection on B; and when
// NATS is back, wake-ups carry deliveries again.
func TestNATSDownFallsBackToPolling(t *testing.T) {
	ns := fanouttest.StartNATS(t, 0)
	c := startCluster(t, 2, ns.URL(), func(s *server.Server) { s.FallbackPoll = 50 * time.Millisecond })
	alice := register(t, c.nodes[0], "alice")
	bob := c.on(1, register(t, c.nodes[0], "bob"))
	bobLaptop := c.on(1, sibling(t, c.nodes[0], bob))
	bws, lws := bob.Dial(t), bobLaptop.Dial(t)
	drain(t, bws)
	drain(t, lws)
	aws := alice.Dial(t)

	ns.Stop()
	waitMetric(t, c.nodes[1], "parley_fanout_up 0")
	mustStore(t, aws, bob.Addr, msgID(1), []byte("while NATS is down"))
	if d := next[*wire.Deliver](t, bws); d.ID != msgID(1) {
		t.Fatalf("bob got %+v", d)
	}
	if _, err := alice.Call("GET", "/v1/prekeys", nil); err != nil { // node A still serves
		t.Fatal(err)
	}
	// Revoked through node A while NATS is down: node B finds out by
	// its own check.
	if _, err := c.on(0, bob).Call("DELETE", fmt.Sprintf("/v1/users/bob/devices/%d", bobLaptop.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}
	if s := closedWith(t, lws); s != websocket.StatusPolicyViolation {
		t.Errorf("revoked connection closed with %v", s)
	}

	fanouttest.StartNATS(t, ns.Port)
	waitMetric(t, c.nodes[0], "parley_fanout_up 1")
	waitMetric(t, c.nodes[1], "parley_fanout_up 1")
	mustStore(t, aws, bob.Addr, msgID(2), []byte("NATS is back"))
	if d := next[*wire.Deliver](t, bws); d.ID != msgID(2) {
		t.Fatalf("bob got %+v", d)
	}
}

// waitMetric polls a node's /metrics until it shows line.
func waitMetric(t *testing.T, r *servertest.Relay, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if slices.Contains(strings.Split(metricsText(t, r.Client(), r.MetricsURL), "\n"), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q", line)
		}
		time.Sleep(20 * time.Millisecond) // polling an outside state change
	}
}
