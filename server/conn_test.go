package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// TestDeviceConnectionCap: a device's connection beyond the cap displaces
// its oldest, which is told why; the others keep working, and the metrics
// show the cap and the displacement.
func TestDeviceConnectionCap(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.MaxDeviceConns = 2 })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	first := alice.Dial(t)
	drain(t, first)
	second := alice.Dial(t)
	drain(t, second)
	third := alice.Dial(t)
	drain(t, third)
	if e := next[*wire.Error](t, first); e.Code != wire.CodeDisplaced {
		t.Fatalf("displaced connection got %v", e)
	}
	if s := closedWith(t, first); s != websocket.StatusPolicyViolation {
		t.Errorf("displaced connection closed with %v", s)
	}
	mustStore(t, bob.Dial(t), alice.Addr, msgID(1), []byte("to both"))
	for _, ws := range []*testclient.WS{second, third} {
		if d := next[*wire.Deliver](t, ws); d.ID != msgID(1) {
			t.Fatalf("got %v", d.ID)
		}
	}
	m := metricsText(t, r.Client(), r.MetricsURL)
	for _, want := range []string{"parley_device_connections_max 2", "parley_connections_displaced_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestConnectionLimit: beyond the relay's connection cap an upgrade is
// refused with connection-limit, and counted.
func TestConnectionLimit(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.MaxConns = 2 })
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	drain(t, alice.Dial(t))
	drain(t, bob.Dial(t))
	auth, err := carol.Authorization("GET", "/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
	defer cancel()
	c, resp, err := carol.DialRaw(ctx, auth, "")
	if err == nil {
		c.CloseNow()
		t.Fatal("a connection beyond the cap was accepted")
	}
	if resp == nil || resp.StatusCode != 503 {
		t.Fatalf("refused with %v", resp)
	}
	m := metricsText(t, r.Client(), r.MetricsURL)
	for _, want := range []string{"parley_connections_max 2", "parley_connections_refused_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestLiveDeliveryInOrder: envelopes submitted concurrently by many
// senders reach a connected recipient each exactly once, in mailbox
// order, whether they go straight to it or through a mailbox read.
func TestLiveDeliveryInOrder(t *testing.T) {
	const senders, each = 8, 40
	r := startRelay(t)
	alice := register(t, r, "alice")
	aws := alice.Dial(t)
	drain(t, aws)
	var wg sync.WaitGroup
	for s := range senders {
		d := register(t, r, addr.UserID("s"+string(rune('a'+s))))
		ws := d.Dial(t)
		drain(t, ws)
		wg.Go(func() {
			for i := range each {
				if err := ws.Send(&wire.Submit{To: alice.Addr, ID: msgID(s*1000 + i), Payload: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
			for got := 0; got < each; {
				f, err := ws.Next()
				if err != nil {
					t.Error(err)
					return
				}
				if res, ok := f.(*wire.SubmitResult); ok {
					if res.Code != wire.CodeOK {
						t.Errorf("submit: %v", res.Code)
					}
					got++
				}
			}
		})
	}
	var last uint64
	seen := map[addr.MessageID]bool{}
	for len(seen) < senders*each {
		f, err := aws.Next()
		if err != nil {
			t.Fatal(err)
		}
		d, ok := f.(*wire.Deliver)
		if !ok {
			continue // AckResult, PreKeyStatus
		}
		if d.Seq <= last || seen[d.ID] {
			t.Fatalf("delivery %d (%v) after %d: out of order or repeated", d.Seq, d.ID, last)
		}
		last, seen[d.ID] = d.Seq, true
		if err := aws.Send(&wire.Ack{Seqs: []uint64{d.Seq}}); err != nil { // keep the window open
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// TestRequestsOverWebSocket: a connected device lists devices, takes
// bundles, uploads prekeys, reads their status and revokes a device over
// its WebSocket, spending no challenge: over a hundred requests pass on a
// challenge budget that the setup (3 registrations, an upload, 2 dials)
// and one last challenge exhaust.
func TestRequestsOverWebSocket(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.ChallengeRate = server.Rate{Burst: 7, Per: time.Hour} })
	phone, bob := register(t, r, "alice"), register(t, r, "bob")
	laptop := sibling(t, r, phone)
	if _, err := bob.Call("PUT", "/v1/prekeys", bob.PreKeys(t, true, 1, 100, 100)); err != nil {
		t.Fatal(err)
	}
	ws := phone.Dial(t)
	drain(t, ws)
	call := func(id uint32, req *wire.Request) wire.Frame {
		t.Helper()
		req.ID = id
		if err := ws.Send(req); err != nil {
			t.Fatal(err)
		}
		res := next[*wire.Response](t, ws)
		if res.ID != id {
			t.Fatalf("response %d to request %d", res.ID, id)
		}
		return res.Answer
	}
	for i := range 100 {
		l, ok := call(uint32(i), &wire.Request{Op: wire.OpDevices, User: "bob"}).(*wire.DeviceList)
		if !ok || l.User != "bob" || len(l.Devices) != 1 {
			t.Fatalf("request %d: %v", i, l)
		}
	}
	b, ok := call(200, &wire.Request{Op: wire.OpBundle, Target: bob.Addr}).(*wire.Bundle)
	if !ok || b.Address != bob.Addr || b.OneTimeEC == nil {
		t.Fatalf("bundle: %v", b)
	}
	st, ok := call(201, &wire.Request{Op: wire.OpPreKeyUpload, Upload: phone.PreKeys(t, true, 1, 3, 2)}).(*wire.PreKeyStatus)
	if !ok || st.OneTimeEC != 3 || st.OneTimeKEM != 2 {
		t.Fatalf("upload: %v", st)
	}
	if st, ok := call(202, &wire.Request{Op: wire.OpPreKeyStatus}).(*wire.PreKeyStatus); !ok || st.OneTimeEC != 3 {
		t.Fatalf("status: %v", st)
	}
	if e, ok := call(203, &wire.Request{Op: wire.OpRevoke, Target: bob.Addr}).(*wire.Error); !ok || e.Code != wire.CodeForbidden {
		t.Fatalf("revoking another user's device: %v", e)
	}
	if e, ok := call(204, &wire.Request{Op: wire.OpDevices, User: "nobody"}).(*wire.Error); !ok || e.Code != wire.CodeUnknownUser {
		t.Fatalf("unknown user: %v", e)
	}
	lws := laptop.Dial(t)
	drain(t, lws)
	if _, ok := call(205, &wire.Request{Op: wire.OpRevoke, Target: laptop.Addr}).(*wire.OK); !ok {
		t.Fatal("revoking one's own other device failed")
	}
	if e := next[*wire.Error](t, lws); e.Code != wire.CodeUnauthorized {
		t.Errorf("revoked connection got %v", e)
	}
	// The budget is untouched by all of this: HTTP still gets its last
	// challenge, and then none.
	if _, err := phone.Challenge(); err != nil {
		t.Errorf("challenge after 106 requests over the WebSocket: %v", err)
	}
	if _, err := phone.Challenge(); err == nil {
		t.Error("the challenge budget is not what the test assumes")
	}
}

// TestRequestsOverWebSocketCountPerDevice: requests over the WebSocket
// spend the device's allowance of WebSocket requests (RequestRate), so the
// WebSocket is no way around a per-device limit; they do not spend the
// tighter allowance of authenticated HTTP requests (DeviceRate).
func TestRequestsOverWebSocketCountPerDevice(t *testing.T) {
	r := startRelay(t, func(s *server.Server) {
		s.DeviceRate = server.Rate{Burst: 1, Per: time.Hour} // the upgrade only
		s.RequestRate = server.Rate{Burst: 3, Per: time.Hour}
	})
	alice := register(t, r, "alice")
	ws := alice.Dial(t)
	drain(t, ws)
	for i, want := range []wire.Code{wire.CodeOK, wire.CodeOK, wire.CodeOK, wire.CodeRateLimited} {
		if got := wsRequest(t, ws, uint32(i)); got != want {
			t.Errorf("request %d: %v, want %v", i+1, got, want)
		}
	}
}

// TestBurstOfRequestsAtDefaults: a burst of 200 sends, each listing
// devices over the WebSocket, is not refused at the default limits (it
// would be by the 60 a minute of DefaultDeviceRate).
func TestBurstOfRequestsAtDefaults(t *testing.T) {
	r := servertest.Start(t, func(s *server.Server) { // DeviceRate and RequestRate at their defaults
		s.ChallengeRate = server.Rate{Burst: 1 << 20, Per: time.Second}
		s.RegisterRate = server.Rate{Burst: 1 << 20, Per: time.Second}
	})
	alice := register(t, r, "alice")
	ws := alice.Dial(t)
	drain(t, ws)
	for i := range 200 {
		if got := wsRequest(t, ws, uint32(i)); got != wire.CodeOK {
			t.Fatalf("request %d of a burst of 200: %v", i+1, got)
		}
	}
}

// wsRequest lists alice's devices over ws and returns the answer's code.
func wsRequest(t *testing.T, ws *testclient.WS, id uint32) wire.Code {
	t.Helper()
	if err := ws.Send(&wire.Request{ID: id, Op: wire.OpDevices, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if e, ok := next[*wire.Response](t, ws).Answer.(*wire.Error); ok {
		return e.Code
	}
	return wire.CodeOK
}
