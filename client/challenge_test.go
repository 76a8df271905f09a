package client_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestSendBurstSpendsNoChallenges: with Listen connected, a burst of 100
// sends spends no challenge (device lists and bundles go over the live
// WebSocket) and none is refused, on a challenge budget far below two
// per send.
func TestSendBurstSpendsNoChallenges(t *testing.T) {
	t.Parallel()
	const burst = 100
	r := startRelay(t, func(s *server.Server) { s.ChallengeRate = server.Rate{Burst: 30, Per: time.Hour} })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	aliceEvents, _ := listen(t, alice)
	next(t, aliceEvents, client.EventSynced)
	// alice's Listen runs its callback synchronously: drain her events
	// (delivery states for the burst) so a full buffer cannot stall her
	// live connection, over which the sends' requests travel.
	go func() {
		for range aliceEvents {
		}
	}()
	bobEvents, _ := listen(t, bob)
	next(t, bobEvents, client.EventSynced)
	before := challengesIssued(t, r)
	for i := range burst {
		if _, err := alice.Send(context.Background(), "bob", fmt.Sprintf("message %d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for range burst {
		next(t, bobEvents, client.EventMessage)
	}
	if after := challengesIssued(t, r); after != before {
		t.Fatalf("%d sends over a live connection spent %d challenges", burst, after-before)
	}
}

// challengesIssued reads the relay's parley_challenges_issued_total.
func challengesIssued(t *testing.T, r *servertest.Relay) int {
	t.Helper()
	resp, err := r.Client().Get(r.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "parley_challenges_issued_total %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no parley_challenges_issued_total metric")
	return 0
}

// TestSendAsksOnceForDeviceLists: each Send over a live connection asks
// for the recipient's and this user's device lists in one request, so
// a burst of sends fits a request allowance of one per send (plus the
// few requests of connecting and of starting the session). Two requests
// per send, as before, run out of it halfway.
func TestSendAsksOnceForDeviceLists(t *testing.T) {
	t.Parallel()
	const burst, spare = 60, 10
	r := startRelay(t, func(s *server.Server) { s.RequestRate = server.Rate{Burst: burst + spare, Per: time.Hour} })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	aliceEvents, _ := listen(t, alice)
	next(t, aliceEvents, client.EventSynced)
	go func() {
		for range aliceEvents {
		}
	}()
	for i := range burst {
		if _, err := alice.Send(context.Background(), "bob", fmt.Sprintf("message %d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	bobEvents, _ := listen(t, bob)
	for range burst {
		next(t, bobEvents, client.EventMessage)
	}
}
