package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/push"
	"parley.dev/internal/push/gateway"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

var pushSecret = []byte("push secret push secret push sec")

// fakeGateway is the reference push gateway (internal/push/gateway, as
// cmd/parley-push runs it) with a Sender that records the raw bodies it
// was handed. With hang set the Sender never returns; with fail set it
// fails, and the gateway answers 502.
type fakeGateway struct {
	*httptest.Server
	h *gateway.Handler

	mu         sync.Mutex
	bodies     []string
	hang, fail bool
}

type rawBody struct{}

// newFakeGateway starts a gateway reading the clock now (nil: time.Now),
// which must be the relay's.
func newFakeGateway(t *testing.T, now func() time.Time) *fakeGateway {
	v, err := push.NewVerifier(pushSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{}
	g.h = gateway.New(v, g, nil)
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

// serve keeps the raw body beside the request for Send.
func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, push.MaxBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	g.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rawBody{}, string(body))))
}

// Send is the gateway's Sender.
func (g *fakeGateway) Send(ctx context.Context, _ push.Request) error {
	g.mu.Lock()
	hang, fail := g.hang, g.fail
	if !hang && !fail {
		g.bodies = append(g.bodies, ctx.Value(rawBody{}).(string))
	}
	g.mu.Unlock()
	switch {
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case fail:
		return errors.New("notification service down")
	}
	return nil
}

func (g *fakeGateway) received() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.bodies...)
}

func (g *fakeGateway) set(hang, fail bool) {
	g.mu.Lock()
	g.hang, g.fail = hang, fail
	g.mu.Unlock()
}

func withPush(g *fakeGateway) func(*server.Server) {
	return func(s *server.Server) { s.PushGateway, s.PushSecret = g.URL, pushSecret }
}

// pushCount reads one parley_push_*_total counter.
func pushCount(t *testing.T, r *servertest.Relay, what string) int {
	t.Helper()
	m := metricsText(t, r.Client(), r.MetricsURL)
	for _, line := range strings.Split(m, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "parley_push_"+what+"_total %d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no parley_push_%s_total metric", what)
	return 0
}

// pushed waits until the relay has settled want wake-up requests (sent,
// coalesced or failed) in total.
func pushed(t *testing.T, r *servertest.Relay, want int) {
	t.Helper()
	waitFor(t, func() bool {
		return pushCount(t, r, "sent")+pushCount(t, r, "coalesced")+pushCount(t, r, "failed") >= want
	})
}

func registerPush(t *testing.T, d *testclient.Device, platform wire.PushPlatform, token string) {
	t.Helper()
	if _, err := d.Call(http.MethodPut, wire.PathPush, &wire.PushRegister{Platform: platform, Token: token}); err != nil {
		t.Fatalf("register push: %v", err)
	}
}

// TestPushOncePerWindow: envelopes stored for an offline device reach the
// gateway as one wake-up per window, whose body is the token and the
// platform and nothing else; a device connected gets none, and its
// connection restarts the window.
func TestPushOncePerWindow(t *testing.T) {
	clk := servertest.NewClock(epoch)
	g := newFakeGateway(t, clk.Now)
	r := startRelay(t, withClock(clk), withPush(g))
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	registerPush(t, bob, wire.PushFCM, "bob-token:1")
	aws := alice.Dial(t)
	for i := range 3 {
		mustStore(t, aws, bob.Addr, msgID(i), []byte("secret payload"))
	}
	pushed(t, r, 3)
	want := `{"platform":"fcm","token":"bob-token:1"}`
	if got := g.received(); len(got) != 1 || got[0] != want {
		t.Fatalf("gateway got %q, want one %s", got, want)
	}
	clk.Advance(push.DefaultWindow - time.Second)
	mustStore(t, aws, bob.Addr, msgID(3), []byte("x"))
	pushed(t, r, 4)
	if len(g.received()) != 1 {
		t.Fatal("a second wake-up within the window")
	}
	clk.Advance(time.Second)
	mustStore(t, aws, bob.Addr, msgID(4), []byte("x"))
	pushed(t, r, 5)
	if len(g.received()) != 2 {
		t.Fatalf("gateway got %d wake-ups after the window, want 2", len(g.received()))
	}

	// Connected: no wake-up. Once it leaves, the next mail wakes it at
	// once (its connection restarted the window).
	bws := bob.Dial(t)
	drain(t, bws)
	mustStore(t, aws, bob.Addr, msgID(5), []byte("x"))
	next[*wire.Deliver](t, bws)
	bws.Conn.CloseNow()
	waitFor(t, func() bool { return connections(t, r) == 1 })
	mustStore(t, aws, bob.Addr, msgID(6), []byte("x"))
	pushed(t, r, 6)
	if got := g.received(); len(got) != 3 || pushCount(t, r, "sent") != 3 {
		t.Fatalf("gateway got %d wake-ups, want 3 (none while connected)", len(got))
	}
	if n := g.h.Stats.Refused.Load() + g.h.Stats.Malformed.Load(); n != 0 {
		t.Fatalf("gateway refused %d requests", n)
	}
}

// TestPushRevokedDevice: revoking a device deletes its token; nothing
// wakes it afterwards.
func TestPushRevokedDevice(t *testing.T) {
	clk := servertest.NewClock(epoch)
	g := newFakeGateway(t, clk.Now)
	r := startRelay(t, withClock(clk), withPush(g))
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	phone := sibling(t, r, bob)
	registerPush(t, phone, wire.PushAPNs, strings.Repeat("ab", 32))
	aws := alice.Dial(t)
	mustStore(t, aws, phone.Addr, msgID(1), []byte("x"))
	pushed(t, r, 1)
	if len(g.received()) != 1 {
		t.Fatal("no wake-up before revocation")
	}
	if _, err := bob.Call(http.MethodDelete, fmt.Sprintf("/v1/users/bob/devices/%d", phone.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if res := submit(t, aws, phone.Addr, msgID(2), []byte("x")); res.Code != wire.CodeUnknownDevice {
		t.Fatalf("submit to a revoked device: %v", res.Code)
	}
	mustStore(t, aws, bob.Addr, msgID(3), []byte("x")) // bob has no token: coalesced
	pushed(t, r, 2)
	if len(g.received()) != 1 {
		t.Fatalf("gateway got %d wake-ups, want the one before revocation", len(g.received()))
	}
}

// TestPushGatewayDownDelaysNothing: a gateway that hangs or fails delays
// no submission and loses no envelope.
func TestPushGatewayDownDelaysNothing(t *testing.T) {
	g := newFakeGateway(t, nil)
	r := startRelay(t, withPush(g))
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	carol := register(t, r, "carol")
	registerPush(t, bob, wire.PushFCM, "b")
	registerPush(t, carol, wire.PushFCM, "c")
	aws := alice.Dial(t)
	for i, dev := range []*testclient.Device{bob, carol} {
		g.set(i == 0, i == 1)
		start := time.Now()
		for j := range 20 {
			mustStore(t, aws, dev.Addr, msgID(100*i+j), []byte("x"))
		}
		if d := time.Since(start); d > push.DefaultTimeout/2 {
			t.Fatalf("20 submissions took %v with the gateway down", d)
		}
		if got := drain(t, dev.Dial(t)); len(got) != 20 {
			t.Fatalf("%s got %d envelopes, want 20", dev.User, len(got))
		}
	}
	waitFor(t, func() bool { return pushCount(t, r, "retried") > 0 })
	if len(g.received()) != 0 {
		t.Fatal("the gateway accepted a request while down")
	}
}

// TestPushRegistration: the token goes over HTTP or the WebSocket; bad
// tokens are refused; a relay without a gateway refuses to keep one.
func TestPushRegistration(t *testing.T) {
	g := newFakeGateway(t, nil)
	r := startRelay(t, withPush(g))
	bob := register(t, r, "bob")
	ws := bob.Dial(t)
	call := func(id uint32, req *wire.Request) wire.Frame {
		req.ID = id
		if err := ws.Send(req); err != nil {
			t.Fatal(err)
		}
		resp := next[*wire.Response](t, ws)
		if resp.ID != id {
			t.Fatalf("response %d to request %d", resp.ID, id)
		}
		return resp.Answer
	}
	if _, ok := call(1, &wire.Request{Op: wire.OpPushRegister, Push: &wire.PushRegister{Platform: wire.PushAPNs, Token: "00ff"}}).(*wire.OK); !ok {
		t.Fatal("push registration over the WebSocket refused")
	}
	if _, ok := call(2, &wire.Request{Op: wire.OpPushClear}).(*wire.OK); !ok {
		t.Fatal("push clear over the WebSocket refused")
	}
	bad := []byte{wire.Version, byte(wire.TypePushRegister), 3, 0, 1, 't'}
	if resp, err := bob.Do(http.MethodPut, wire.PathPush, bad); err != nil || resp.Code() != wire.CodeMalformed {
		t.Fatalf("unknown platform: %v, %v", resp.Code(), err)
	}
	if _, err := bob.Call(http.MethodDelete, wire.PathPush, nil); err != nil {
		t.Fatalf("clear over HTTP: %v", err)
	}

	plain := startRelay(t)
	dave := register(t, plain, "dave")
	_, err := dave.Call(http.MethodPut, wire.PathPush, &wire.PushRegister{Platform: wire.PushFCM, Token: "t"})
	if codeOf(err) != wire.CodePushDisabled {
		t.Fatalf("relay without a gateway: %v, want push-disabled", err)
	}
	if _, err := dave.Call(http.MethodDelete, wire.PathPush, nil); err != nil {
		t.Fatalf("clearing works without a gateway: %v", err)
	}
}
