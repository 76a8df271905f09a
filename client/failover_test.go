package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/fanout/fanouttest"
	"parley.dev/internal/pgtest"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestFailoverAcrossNodes: two relay nodes on one PostgreSQL schema and
// one NATS prefix; each client lists both nodes, alice preferring the
// first and bob the second. A message crosses nodes while both run; when
// alice's node stops, her next sends go to the other node, and bob's
// listening connection, whose node still runs, receives them all once.
func TestFailoverAcrossNodes(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	natsURL, prefix := fanouttest.SharedNATS(t), fanouttest.UniquePrefix()
	node := func(dir string) *servertest.Relay {
		return startRelay(t, func(s *server.Server) {
			s.StoreDSN, s.NATSURL, s.NATSPrefix = dsn, natsURL, prefix
			s.RecheckInterval = time.Hour // only wake-ups deliver
			if dir != "" {
				s.DataDir = dir // the first node's development CA
			}
		})
	}
	a := node("")
	b := node(a.Dir)
	both := func(first, second *servertest.Relay) func(*client.Client) {
		return func(c *client.Client) { c.Server = first.URL + "," + second.URL }
	}
	alice := register(t, a, "alice", both(a, b))
	bob := register(t, a, "bob", both(b, a))
	client.SetBackoff(bob, 10*time.Millisecond)
	events, stop := listen(t, bob)
	next(t, events, client.EventSynced)

	send(t, alice, "bob", "while both nodes run")
	if e := next(t, events, client.EventMessage); e.Message.Text != "while both nodes run" {
		t.Fatalf("bob got %q", e.Message.Text)
	}
	a.Stop(t)
	for _, text := range []string{"after node A stopped", "and again"} {
		send(t, alice, "bob", text)
		if e := next(t, events, client.EventMessage); e.Message.Text != text {
			t.Fatalf("bob got %q, want %q", e.Message.Text, text)
		}
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("bob's Listen: %v", err)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "while both nodes run", "after node A stopped", "and again")
}
