package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// TestAttack14MalformedFrames: garbage, truncated, unknown-version and
// out-of-place frames on the WebSocket get a clear error and a close; the
// relay keeps serving everyone else.
func TestAttack14MalformedFrames(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	good, _ := wire.Marshal(&wire.Submit{To: alice.Addr, ID: msgID(1), Payload: []byte("x")})
	deliver, _ := wire.Marshal(&wire.Deliver{Seq: 1, From: bob.Addr, ID: msgID(1), Kind: wire.KindMessage, Queued: epoch, Payload: []byte("x")})
	for _, tc := range []struct {
		name string
		msg  []byte
		text bool
		code wire.Code
	}{
		{"garbage", []byte("\xff\xfe garbage"), false, wire.CodeUnsupportedVersion},
		{"empty", []byte{}, false, wire.CodeMalformed},
		{"unknown version", append([]byte{2}, good[1:]...), false, wire.CodeUnsupportedVersion},
		{"unknown type", []byte{wire.Version, 0xee}, false, wire.CodeMalformed},
		{"truncated", good[:len(good)-1], false, wire.CodeMalformed},
		{"trailing byte", append(append([]byte{}, good...), 0), false, wire.CodeMalformed},
		{"a relay-to-device frame", deliver, false, wire.CodeMalformed},
		{"text message", []byte("hello"), true, wire.CodeMalformed},
	} {
		ws := bob.Dial(t)
		typ := websocket.MessageBinary
		if tc.text {
			typ = websocket.MessageText
		}
		ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
		if err := ws.Conn.Write(ctx, typ, tc.msg); err != nil {
			t.Fatal(err)
		}
		cancel()
		e := next[*wire.Error](t, ws)
		if e.Code != tc.code {
			t.Errorf("%s: error %v, want %v", tc.name, e, tc.code)
		}
		if s := closedWith(t, ws); s != websocket.StatusPolicyViolation {
			t.Errorf("%s: closed with %v, want policy violation", tc.name, s)
		}
	}
	checkServing(t, r, alice, bob)
}

// checkServing checks that the relay still serves: bob reaches alice.
func checkServing(t *testing.T, r *servertest.Relay, alice, bob *testclient.Device) {
	t.Helper()
	aws := alice.Dial(t)
	for {
		f := next[wire.Frame](t, aws)
		if _, ok := f.(*wire.Synced); ok {
			break
		}
		if d, ok := f.(*wire.Deliver); ok {
			ack(t, aws, d.Seq)
		}
	}
	id := msgID(int(time.Now().UnixNano() & 0xffff))
	mustStore(t, bob.Dial(t), alice.Addr, id, []byte("still serving"))
	if d := next[*wire.Deliver](t, aws); d.ID != id {
		t.Fatalf("alice got %v, want the new message", d.ID)
	}
}

// TestAttack14HTTPBodies: malformed, unknown-version and oversized HTTP
// bodies are refused with their codes and change nothing.
func TestAttack14HTTPBodies(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	up, _ := wire.Marshal(alice.PreKeys(t, true, 1, 1, 1))
	for _, tc := range []struct {
		name   string
		body   []byte
		code   wire.Code
		status int
	}{
		{"garbage", []byte("garbage"), wire.CodeUnsupportedVersion, 400},
		{"unknown version", append([]byte{7}, up[1:]...), wire.CodeUnsupportedVersion, 400},
		{"truncated", up[:len(up)-10], wire.CodeMalformed, 400},
		{"wrong frame type", mustMarshal(t, &wire.OK{}), wire.CodeMalformed, 400},
		{"an error frame", mustMarshal(t, &wire.Error{Code: wire.CodeInternal}), wire.CodeInternal, 500},
		{"oversized", make([]byte, 600<<10), wire.CodeTooLarge, 413},
	} {
		resp, err := alice.Do("PUT", "/v1/prekeys", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code() != tc.code || resp.Status != tc.status {
			t.Errorf("%s: %d %v, want %d %v", tc.name, resp.Status, resp.Code(), tc.status, tc.code)
		}
	}
	f, err := alice.Call("GET", "/v1/prekeys", nil)
	if err != nil || f.(*wire.PreKeyStatus).OneTimeEC != 0 {
		t.Fatalf("after refused uploads: %v %v", f, err)
	}
}

func mustMarshal(t *testing.T, f wire.Frame) []byte {
	b, err := wire.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttack14OversizedMessage: a WebSocket message beyond the relay's
// limit closes that connection with "message too big", nothing else.
func TestAttack14OversizedMessage(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.MaxEnvelope = 4 << 10 })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	ws := bob.Dial(t)
	big, _ := wire.Marshal(&wire.Submit{To: alice.Addr, ID: msgID(1), Payload: make([]byte, 64<<10)})
	// The relay may cut the connection while the client is still writing.
	writeErr := ws.SendRaw(big)
	if s := closedWith(t, ws); s != websocket.StatusMessageTooBig && (writeErr == nil || s != -1) {
		t.Errorf("closed with %v (write error %v), want message too big", s, writeErr)
	}
	waitFor(t, func() bool {
		m := metricsText(t, r.Client(), r.MetricsURL)
		return strings.Contains(m, `parley_rejected_total{reason="too-large"} 1`)
	})
	checkServing(t, r, alice, bob)
}

// TestAttack14StalledReader: a device that stops reading its WebSocket
// while the relay has much to deliver is disconnected after the write
// timeout, and meanwhile everyone else is served.
func TestAttack14StalledReader(t *testing.T) {
	const envelopes, size = 80, 200 << 10 // 16 MB: more than loopback socket buffers hold
	r := startRelay(t, func(s *server.Server) { s.WriteTimeout = 300 * time.Millisecond })
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	bws := bob.Dial(t)
	payload := make([]byte, size)
	for i := range envelopes {
		mustStore(t, bws, alice.Addr, msgID(i), payload)
	}
	normal := alice.HTTP
	alice.SetReceiveBuffer(16 << 10)
	stalled := alice.Dial(t) // and never read again
	alice.HTTP = normal
	checkServing(t, r, carol, bob)
	// The relay cut the stalled connection: only bob (twice) and carol remain.
	waitFor(t, func() bool { return connections(t, r) == 3 })
	stalled.Conn.CloseNow()
	// Nothing was lost: reconnecting delivers everything.
	if got := drain(t, alice.Dial(t)); len(got) != envelopes {
		t.Fatalf("after reconnecting alice got %d envelopes, want %d", len(got), envelopes)
	}
}

// connections reads the parley_connections gauge.
func connections(t *testing.T, r *servertest.Relay) int {
	m := metricsText(t, r.Client(), r.MetricsURL)
	var n int
	for _, line := range strings.Split(m, "\n") {
		if _, err := fmt.Sscanf(line, "parley_connections %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no parley_connections metric")
	return 0
}

// waitFor polls cond until it holds, failing t after a deadline. It waits
// for an observable state change, never for a fixed time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testclient.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before the deadline")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
