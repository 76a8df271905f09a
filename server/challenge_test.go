package server_test

import (
	"testing"

	"parley.dev/internal/pgtest"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// signedFor returns an Authorization for GET /v1/prekeys by d over ch.
func signedFor(d *testclient.Device, ch [32]byte) string {
	return testclient.Sign(d.Key, d.Addr, ch, "GET", "/v1/prekeys", nil)
}

// TestChallengesAreStateless: one network taking a thousand challenges
// fills nothing: another network still gets one, and a challenge issued
// before the flood still works.
func TestChallengesAreStateless(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	first, err := alice.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := alice.Challenge(); err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
	}
	other := client(t, r, "127.0.0.2", nil, "")
	ch, err := other.Challenge()
	if err != nil {
		t.Fatalf("another network after the flood: %v", err)
	}
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, ch)); resp.Status != 200 {
		t.Errorf("the other network's challenge: %d %v", resp.Status, resp.Code())
	}
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, first)); resp.Status != 200 {
		t.Errorf("a challenge from before the flood: %d %v", resp.Status, resp.Code())
	}
}

// TestChallengeOfAnotherRelayRefused: a challenge MACed by another
// deployment's key is never accepted.
func TestChallengeOfAnotherRelayRefused(t *testing.T) {
	r1, r2 := startRelay(t), startRelay(t)
	at1 := register(t, r1, "alice")
	at2 := register(t, r2, "alice")
	ch, err := at1.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	at2.Key = at1.Key // even with a key that relay knows
	if resp, _ := at2.Raw("GET", "/v1/prekeys", nil, signedFor(at2, ch)); resp.Code() != wire.CodeUnauthorized {
		t.Errorf("another relay's challenge: %d %v", resp.Status, resp.Code())
	}
}

// TestChallengesAcrossRestart: the MAC key and the used challenges are in
// the store, so a challenge issued before a restart works after it, and
// a proof used before it does not work again.
func TestChallengesAcrossRestart(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk))
	alice := register(t, r, "alice")
	unused, _ := alice.Challenge()
	used, _ := alice.Challenge()
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, used)); resp.Status != 200 {
		t.Fatalf("genuine request: %d", resp.Status)
	}
	r.Restart(t)
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, used)); resp.Code() != wire.CodeUnauthorized {
		t.Errorf("proof replayed after a restart: %d %v", resp.Status, resp.Code())
	}
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, unused)); resp.Status != 200 {
		t.Errorf("challenge issued before the restart: %d %v", resp.Status, resp.Code())
	}
	late, _ := alice.Challenge()
	clk.Advance(server.DefaultChallengeTTL)
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, signedFor(alice, late)); resp.Code() != wire.CodeUnauthorized {
		t.Errorf("challenge used at its expiry: %d %v", resp.Status, resp.Code())
	}
}

// TestChallengesSharedAcrossNodes (issue 11): two relay nodes on one
// PostgreSQL database accept each other's challenges, and a proof used on
// one is refused by the other.
func TestChallengesSharedAcrossNodes(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	onPG := func(s *server.Server) { s.StoreDSN = dsn }
	a, b := startRelay(t, onPG), startRelay(t, onPG)
	alice := register(t, a, "alice")
	atB := testclient.NewDevice(t, b.URL, b.ClientTLS(), alice.User, alice.Identity)
	atB.Key, atB.Cert, atB.Addr = alice.Key, alice.Cert, alice.Addr

	ch, err := alice.Challenge() // issued by node A
	if err != nil {
		t.Fatal(err)
	}
	auth := signedFor(alice, ch)
	if resp, _ := atB.Raw("GET", "/v1/prekeys", nil, auth); resp.Status != 200 {
		t.Fatalf("node B refused node A's challenge: %d %v", resp.Status, resp.Code())
	}
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, auth); resp.Code() != wire.CodeUnauthorized {
		t.Errorf("node A accepted a proof node B had used: %d %v", resp.Status, resp.Code())
	}
	ch, _ = atB.Challenge()
	auth = signedFor(alice, ch)
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, auth); resp.Status != 200 {
		t.Fatalf("node A refused node B's challenge: %d", resp.Status)
	}
	if resp, _ := atB.Raw("GET", "/v1/prekeys", nil, auth); resp.Code() != wire.CodeUnauthorized {
		t.Errorf("node B accepted a proof node A had used: %d %v", resp.Status, resp.Code())
	}
}
