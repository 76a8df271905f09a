package clustertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/fanout/fanouttest"
	"parley.dev/internal/pgtest"
)

// pollBound is issue 11's bound on delivery across nodes while NATS is
// down: the fallback poll (one second) and then some.
const pollBound = 2 * time.Second

// sendTimed sends text from c to user and returns how long it took bob's
// inbox to receive it from the start of the send.
func sendTimed(t *testing.T, c *client.Client, user, text string, in *inbox) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Send(t.Context(), user, text); err != nil {
		t.Fatalf("Send(%q): %v", text, err)
	}
	a := in.next(t)
	if a.text != text {
		t.Fatalf("received %q, want %q", a.text, text)
	}
	return a.at.Sub(start)
}

// TestNATSStopped: two nodes on a private NATS server, which the test
// stops. Messages from node 1 to a listener on node 2 still arrive, each
// within the poll bound; when NATS is back on the same port the nodes
// reconnect (parley_fanout_up 1) and wake-ups deliver again, faster than
// any poll could.
func TestNATSStopped(t *testing.T) {
	ns := fanouttest.StartNATS(t, 0)
	c := startCluster(t, 2, clusterConfig{nats: ns.URL()})
	n1, n2 := c.nodes[0], c.nodes[1]
	alice := newClient(t, c, "alice", n1.URL)
	bob := newClient(t, c, "bob", n2.URL)
	in := listen(t, bob)
	sendTimed(t, alice, "bob", "before", in)

	ns.Stop()
	n1.waitMetric(t, "parley_fanout_up", "0")
	n2.waitMetric(t, "parley_fanout_up", "0")
	for i := range 4 {
		if d := sendTimed(t, alice, "bob", fmt.Sprint("without NATS ", i), in); d > pollBound {
			t.Errorf("without NATS, message %d took %v, more than %v", i, d, pollBound)
		}
	}

	fanouttest.StartNATS(t, ns.Port)
	n1.waitMetric(t, "parley_fanout_up", "1")
	n2.waitMetric(t, "parley_fanout_up", "1")
	var lat []time.Duration
	for i := range 20 {
		lat = append(lat, sendTimed(t, alice, "bob", fmt.Sprint("NATS back ", i), in))
	}
	checkWakeLatency(t, "NATS back", lat)
}

// outage is how long the proxy refuses PostgreSQL connections, and
// outageAfter how long after the test's sends begin.
const (
	outage      = 2 * time.Second
	outageAfter = 300 * time.Millisecond
)

// outcome names a Send's result for the log.
func outcome(err error) string {
	switch {
	case err == nil:
		return "sent"
	}
	return err.Error()
}

// TestPostgresRestarted: two nodes reach PostgreSQL through a proxy that
// cuts every connection and refuses new ones for two seconds, as a
// database restart does, while alice sends without pause over node 1.
// Sends the relay could not commit wait in her outbox; none whose send
// succeeded is lost; once the database is back both nodes serve again by
// themselves (alice's send through node 1 and bob's reply through node 2
// succeed; nothing is restarted), and every message arrives once.
func TestPostgresRestarted(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	proxy, proxied := startPGProxy(t, dsn)
	c := startCluster(t, 2, clusterConfig{store: proxied})
	n1, n2 := c.nodes[0], c.nodes[1]
	alice := newClient(t, c, "alice", n1.URL)
	bob := newClient(t, c, "bob", n2.URL)
	in := listen(t, bob)
	// alice listens too, so her sends go over her open WebSocket, whose
	// authentication is done: during the outage they reach the store.
	alicesInbox := listen(t, alice)
	sendTimed(t, alice, "bob", "before", in)
	stored := []string{"before"}

	// alice sends without pause while the outage starts (so that it may
	// cut a submission between its store call and its commit) and until
	// it has ended.
	ended := make(chan struct{})
	time.AfterFunc(outageAfter, func() {
		proxy.startOutage()
		time.AfterFunc(outage, func() {
			proxy.endOutage()
			close(ended)
		})
	})
	outcomes := make(map[string]int)
	for i := 0; ; i++ {
		select {
		case <-ended:
			t.Logf("sends around the outage: %v", outcomes)
			goto after
		default:
		}
		text := fmt.Sprint("around ", i)
		ctx, cancel := context.WithTimeout(t.Context(), outage)
		_, err := alice.Send(ctx, "bob", text)
		cancel()
		outcomes[outcome(err)]++
		if err == nil || errors.Is(err, client.ErrQueued) {
			stored = append(stored, text)
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond) // a failed Send returns at once: no busy loop
		}
	}
after:

	stored = append(stored, sendUntilSent(t, alice, "bob", "after"))
	in.waitAll(t, stored)
	historyOnce(t, bob, "alice", stored)
	reply := sendUntilSent(t, bob, "alice", "reply")
	alicesInbox.waitAll(t, []string{reply})
}

// sendUntilSent sends text and, while the relay answers that it is
// queued, retries the outbox with Sync until it has gone out (a node
// whose database just came back may refuse the first tries).
func sendUntilSent(t *testing.T, c *client.Client, user, text string) string {
	t.Helper()
	_, err := c.Send(t.Context(), user, text)
	deadline := time.Now().Add(deliveryTimeout)
	for errors.Is(err, client.ErrQueued) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		err = flushed(t, c, text, user)
	}
	if err != nil {
		t.Fatalf("%q not sent after the outage: %v", text, err)
	}
	return text
}

// flushed has c try its outbox again (Sync, unless a Listen is running,
// which does so itself) and returns nil once text to user has gone out,
// client.ErrQueued while it waits.
func flushed(t *testing.T, c *client.Client, text, user string) error {
	t.Helper()
	if _, err := c.Sync(t.Context()); err != nil && !errors.Is(err, client.ErrListening) {
		t.Logf("Sync: %v", err)
	}
	h, err := c.History(t.Context(), user)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	for _, m := range h {
		if m.Text == text {
			if m.Status == client.StatusQueued {
				return client.ErrQueued
			}
			if m.Status != client.StatusSent {
				return fmt.Errorf("%q is %v", text, m.Status)
			}
			return nil
		}
	}
	return fmt.Errorf("%q not in the history", text)
}
