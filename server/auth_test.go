package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// endpoint is one authenticated request of the relay API.
type endpoint struct {
	method, path string
	body         []byte
}

func (e endpoint) String() string { return e.method + " " + e.path }

// authEndpoints lists every authenticated endpoint, aimed at alice/1.
func authEndpoints(t *testing.T, alice *testclient.Device) []endpoint {
	up, err := wire.Marshal(alice.PreKeys(t, false, 500, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	return []endpoint{
		{"GET", "/v1/users/alice/devices", nil},
		{"DELETE", "/v1/users/alice/devices/1", nil},
		{"POST", "/v1/users/alice/devices/1/bundle", nil},
		{"PUT", "/v1/prekeys", up},
		{"GET", "/v1/prekeys", nil},
		{"GET", "/v1/ws", nil},
	}
}

// attempt sends e with an Authorization header (or, for the WebSocket,
// also in the query) and reports whether the relay accepted it, and the
// HTTP status of a refusal.
func attempt(t *testing.T, d *testclient.Device, e endpoint, auth string, inQuery bool) (bool, int) {
	t.Helper()
	if e.path == "/v1/ws" {
		ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
		defer cancel()
		header, query := auth, ""
		if inQuery {
			header, query = "", "?"+wire.AuthQuery+"="+url.QueryEscape(trimScheme(auth))
		}
		c, resp, err := d.DialRaw(ctx, header, query)
		if err == nil {
			c.CloseNow()
			return true, http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return false, resp.StatusCode
	}
	resp, err := d.Raw(e.method, e.path, e.body, auth)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status == http.StatusOK, resp.Status
}

func trimScheme(auth string) string {
	if len(auth) > len(wire.AuthScheme)+1 {
		return auth[len(wire.AuthScheme)+1:]
	}
	return auth
}

// TestAttack15AuthMatrix: missing, malformed, forged, replayed, expired,
// never-issued, revoked and another device's credentials, and proofs for
// another request, get 0 accepted requests on every authenticated
// endpoint and on the WebSocket upgrade; the victim's account, prekeys and
// mailbox are untouched.
func TestAttack15AuthMatrix(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk))
	alice, bob, mallory := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "mallory")
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, true, 1, 5, 5)); err != nil {
		t.Fatal(err)
	}
	mustStore(t, bob.Dial(t), alice.Addr, msgID(1), []byte("for alice only"))
	revoked := sibling(t, r, alice)
	if _, err := alice.Call("DELETE", fmt.Sprintf("/v1/users/alice/devices/%d", revoked.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}

	sign := func(key *keys.DeviceKey, as addr.Address, ch [32]byte, e endpoint) string {
		return testclient.Sign(key, as, ch, e.method, e.path, e.body)
	}
	fresh := func() [32]byte {
		ch, err := mallory.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	other := func(e endpoint) endpoint { // a different request
		if e.method == "GET" {
			return endpoint{"DELETE", e.path, e.body}
		}
		return endpoint{"GET", e.path, e.body}
	}
	cases := []struct {
		name string
		auth func(e endpoint) string
	}{
		{"missing", func(endpoint) string { return "" }},
		{"malformed", func(endpoint) string { return "Parley !!not-base64!!" }},
		{"other scheme", func(endpoint) string { return "Bearer " + testclient.B64.EncodeToString([]byte("token")) }},
		{"forged signature", func(e endpoint) string {
			p := &wire.Proof{Address: alice.Addr, Challenge: fresh()}
			rand.Read(p.Signature[:])
			h, _ := p.Authorization()
			return h
		}},
		{"another device's key", func(e endpoint) string { return sign(mallory.Key, alice.Addr, fresh(), e) }},
		{"registration-style proof", func(e endpoint) string { return sign(alice.Key, addr.Address{User: "alice"}, fresh(), e) }},
		{"replayed", func(e endpoint) string {
			h := sign(alice.Key, alice.Addr, fresh(), e)
			alice.Raw("GET", "/v1/prekeys", nil, h) // first presentation (elsewhere) consumes it
			return h
		}},
		{"expired challenge", func(e endpoint) string {
			h := sign(alice.Key, alice.Addr, fresh(), e)
			clk.Advance(server.DefaultChallengeTTL + time.Second)
			return h
		}},
		{"challenge with a later expiry written in", func(e endpoint) string {
			ch := fresh()
			ch[0]++ // about 194 days later; the MAC no longer matches
			return sign(alice.Key, alice.Addr, ch, e)
		}},
		{"never issued challenge", func(e endpoint) string {
			var ch [32]byte
			rand.Read(ch[:])
			return sign(alice.Key, alice.Addr, ch, e)
		}},
		{"revoked device", func(e endpoint) string { return sign(revoked.Key, revoked.Addr, fresh(), e) }},
		{"proof for another request", func(e endpoint) string { return sign(alice.Key, alice.Addr, fresh(), other(e)) }},
		{"proof for another body", func(e endpoint) string {
			return sign(alice.Key, alice.Addr, fresh(), endpoint{e.method, e.path, append([]byte{1}, e.body...)})
		}},
	}
	accepted := 0
	for _, e := range authEndpoints(t, alice) {
		for _, tc := range cases {
			queries := []bool{false}
			if e.path == "/v1/ws" && tc.name != "missing" {
				queries = append(queries, true)
			}
			for _, q := range queries {
				ok, status := attempt(t, mallory, e, tc.auth(e), q)
				if ok || status != http.StatusUnauthorized {
					accepted += map[bool]int{true: 1}[ok]
					t.Errorf("%v with %s (query %v): accepted %v, status %d", e, tc.name, q, ok, status)
				}
			}
		}
	}
	if accepted != 0 {
		t.Fatalf("%d forged requests accepted", accepted)
	}
	checkAliceUntouched(t, alice, bob)
}

// checkAliceUntouched checks that alice/1 still exists, still has all 5
// one-time prekeys of each kind, and still has bob's envelope queued.
func checkAliceUntouched(t *testing.T, alice, bob *testclient.Device) {
	t.Helper()
	f, err := bob.Call("GET", "/v1/users/alice/devices", nil)
	if err != nil || len(f.(*wire.DeviceList).Devices) != 1 {
		t.Fatalf("alice's devices: %v %v", f, err)
	}
	f, err = alice.Call("GET", "/v1/prekeys", nil)
	if st, ok := f.(*wire.PreKeyStatus); err != nil || !ok || st.OneTimeEC != 5 || st.OneTimeKEM != 5 {
		t.Fatalf("alice's prekeys: %v %v", f, err)
	}
	got := drain(t, alice.Dial(t))
	if len(got) != 1 || string(got[0].Payload) != "for alice only" {
		t.Fatalf("alice's mailbox: %v", got)
	}
}

// TestAttack07LeakedTranscript: whoever captures a complete successful
// request (headers, body, the WebSocket upgrade's query) cannot use it
// again, on the same endpoint or another.
func TestAttack07LeakedTranscript(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if _, err := bob.Call("PUT", "/v1/prekeys", bob.PreKeys(t, true, 1, 3, 3)); err != nil {
		t.Fatal(err)
	}
	eps := []endpoint{
		{"GET", "/v1/users/bob/devices", nil},
		{"POST", "/v1/users/bob/devices/1/bundle", nil},
		{"GET", "/v1/prekeys", nil},
	}
	for _, e := range eps {
		auth, err := alice.Authorization(e.method, e.path, e.body)
		if err != nil {
			t.Fatal(err)
		}
		if ok, status := attempt(t, alice, e, auth, false); !ok {
			t.Fatalf("%v: the genuine request failed: %d", e, status)
		}
		for _, replay := range eps {
			if ok, _ := attempt(t, alice, replay, auth, false); ok {
				t.Errorf("proof captured from %v accepted again on %v", e, replay)
			}
		}
	}
	// The WebSocket upgrade, with the proof in the query as a browser
	// sends it (and as a proxy might log it).
	ws := endpoint{"GET", "/v1/ws", nil}
	auth, _ := alice.Authorization("GET", "/v1/ws", nil)
	if ok, status := attempt(t, alice, ws, auth, true); !ok {
		t.Fatalf("genuine upgrade failed: %d", status)
	}
	for _, q := range []bool{true, false} {
		if ok, _ := attempt(t, alice, ws, auth, q); ok {
			t.Errorf("captured upgrade proof accepted again (query %v)", q)
		}
	}
	// A bundle fetch replayed would have taken another one-time key.
	f, _ := bob.Call("GET", "/v1/prekeys", nil)
	if st := f.(*wire.PreKeyStatus); st.OneTimeEC != 2 {
		t.Errorf("bob has %d one-time keys left, want 2 (one genuine fetch)", st.OneTimeEC)
	}
}

// TestChallengeConsumedWhateverTheOutcome: a request that fails for any
// reason after its proof is read still uses up the challenge.
func TestChallengeConsumedWhateverTheOutcome(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	ch, err := alice.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	// Signed for the right request but sent with an oversized body.
	auth := testclient.Sign(alice.Key, alice.Addr, ch, "GET", "/v1/prekeys", nil)
	if resp, _ := alice.Raw("GET", "/v1/prekeys", make([]byte, 100), auth); resp.Status == 200 {
		t.Fatal("request with an unsigned body accepted")
	}
	if resp, _ := alice.Raw("GET", "/v1/prekeys", nil, auth); resp.Code() != wire.CodeUnauthorized {
		t.Fatalf("the same proof after a failed use: %v, want unauthorized", resp.Code())
	}
}

func TestChallengeRateLimit(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.ChallengeRate = server.Rate{Burst: 5, Per: time.Minute}
	})
	d := newDevice(t, r, "alice")
	for i := range 5 {
		if _, err := d.Challenge(); err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
	}
	resp, _ := d.Raw("POST", "/v1/challenge", nil, "")
	if resp.Code() != wire.CodeRateLimited || resp.Status != http.StatusTooManyRequests {
		t.Fatalf("sixth challenge in a minute: %d %v", resp.Status, resp.Code())
	}
	clk.Advance(12 * time.Second) // one challenge refills
	if _, err := d.Challenge(); err != nil {
		t.Fatalf("after 12s: %v", err)
	}
	if resp, _ := d.Raw("POST", "/v1/challenge", nil, ""); resp.Code() != wire.CodeRateLimited {
		t.Fatalf("second after 12s: %v", resp.Code())
	}
}

// TestAttack15PerDeviceLimit: authenticated requests, WebSocket upgrades
// included, are limited per device at the configured rate; another device
// on the same network is not affected; the allowance refills.
func TestAttack15PerDeviceLimit(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.DeviceRate = server.Rate{Burst: 4, Per: time.Minute}
	})
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	for i := range 3 {
		if _, err := alice.Call("GET", "/v1/prekeys", nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	alice.Dial(t) // the fourth
	resp, err := alice.Do("GET", "/v1/prekeys", nil)
	if err != nil || resp.Code() != wire.CodeRateLimited || resp.Status != http.StatusTooManyRequests {
		t.Fatalf("fifth request in a minute: %v %v", resp, err)
	}
	auth, _ := alice.Authorization("GET", "/v1/ws", nil)
	if ok, status := attempt(t, alice, endpoint{"GET", "/v1/ws", nil}, auth, false); ok || status != http.StatusTooManyRequests {
		t.Fatalf("upgrade past the limit: accepted %v, status %d", ok, status)
	}
	// bob, on the same network, has his own allowance.
	for i := range 4 {
		if _, err := bob.Call("GET", "/v1/prekeys", nil); err != nil {
			t.Fatalf("bob's request %d: %v", i, err)
		}
	}
	clk.Advance(15 * time.Second) // one request refills
	if _, err := alice.Call("GET", "/v1/prekeys", nil); err != nil {
		t.Fatalf("after 15 s: %v", err)
	}
	if resp, _ := alice.Do("GET", "/v1/prekeys", nil); resp.Code() != wire.CodeRateLimited {
		t.Fatalf("second request after 15 s: %v", resp.Code())
	}
}

// TestAttack15ForgedProofsSpendNoAllowance: requests naming a device but
// failing its proof (forged, another device's key, replayed) do not count
// against that device, so an attacker cannot lock it out.
func TestAttack15ForgedProofsSpendNoAllowance(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.DeviceRate = server.Rate{Burst: 3, Per: time.Hour} })
	alice, mallory := register(t, r, "alice"), register(t, r, "mallory")
	e := endpoint{"GET", "/v1/prekeys", nil}
	for range 10 {
		ch, err := mallory.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := attempt(t, mallory, e, testclient.Sign(mallory.Key, alice.Addr, ch, e.method, e.path, nil), false); ok {
			t.Fatal("forged proof accepted")
		}
	}
	for i := range 3 {
		if _, err := alice.Call("GET", "/v1/prekeys", nil); err != nil {
			t.Fatalf("alice's request %d after mallory's forgeries: %v", i, err)
		}
	}
}
