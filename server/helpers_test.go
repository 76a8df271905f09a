package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// epoch is the injected clock's start.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// startRelay starts a relay with generous rates (tests that exercise the
// limits set their own) and the given settings.
func startRelay(t testing.TB, configure ...func(*server.Server)) *servertest.Relay {
	t.Helper()
	generous := func(s *server.Server) {
		s.ChallengeRate = server.Rate{Burst: 1 << 20, Per: time.Second}
		s.RegisterRate = server.Rate{Burst: 1 << 20, Per: time.Second}
		s.BundleRate = server.Rate{Burst: 1 << 20, Per: time.Second}
		s.DeviceRate = server.Rate{Burst: 1 << 20, Per: time.Second}
	}
	return servertest.Start(t, append([]func(*server.Server){generous}, configure...)...)
}

// withClock makes the relay read clk.
func withClock(clk *servertest.Clock) func(*server.Server) {
	return func(s *server.Server) { s.Now = clk.Now }
}

// newDevice makes (without registering) a device of user with a fresh
// identity.
func newDevice(t testing.TB, r *servertest.Relay, user addr.UserID) *testclient.Device {
	t.Helper()
	return testclient.NewDevice(t, r.URL, r.ClientTLS(), user, testclient.NewIdentity(t))
}

// register makes and registers a device of user with a fresh identity.
func register(t testing.TB, r *servertest.Relay, user addr.UserID) *testclient.Device {
	t.Helper()
	d := newDevice(t, r, user)
	d.Register(t, "")
	return d
}

// sibling makes and registers another device of d's user, same identity.
func sibling(t testing.TB, r *servertest.Relay, d *testclient.Device) *testclient.Device {
	t.Helper()
	s := testclient.NewDevice(t, r.URL, r.ClientTLS(), d.User, d.Identity)
	s.Register(t, "")
	return s
}

func msgID(n int) addr.MessageID {
	var id addr.MessageID
	id[0], id[14], id[15] = 0xee, byte(n>>8), byte(n)
	return id
}

// next reads the next frame of type F, skipping PreKeyStatus and Synced
// frames (unless F is one of them) and failing t on anything else.
func next[F wire.Frame](t testing.TB, ws *testclient.WS) F {
	t.Helper()
	for {
		f, err := ws.Next()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		if out, ok := f.(F); ok {
			return out
		}
		switch f.(type) {
		case *wire.PreKeyStatus, *wire.Synced:
			continue
		}
		var zero F
		t.Fatalf("got %v frame (%v), want %v", f.Type(), f, zero.Type())
	}
}

// submit sends one envelope and waits for its result.
func submit(t testing.TB, ws *testclient.WS, to addr.Address, id addr.MessageID, payload []byte) *wire.SubmitResult {
	t.Helper()
	if err := ws.Send(&wire.Submit{To: to, ID: id, Payload: payload}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	return next[*wire.SubmitResult](t, ws)
}

// mustStore submits and checks the envelope was stored.
func mustStore(t testing.TB, ws *testclient.WS, to addr.Address, id addr.MessageID, payload []byte) {
	t.Helper()
	if r := submit(t, ws, to, id, payload); r.Code != wire.CodeOK || r.To != to || r.ID != id {
		t.Fatalf("submit to %v: %+v", to, r)
	}
}

// drain reads deliveries until Synced and returns them.
func drain(t testing.TB, ws *testclient.WS) []*wire.Deliver {
	t.Helper()
	var out []*wire.Deliver
	for {
		f, err := ws.Next()
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		switch f := f.(type) {
		case *wire.Deliver:
			out = append(out, f)
		case *wire.Synced:
			return out
		case *wire.PreKeyStatus:
		default:
			t.Fatalf("drain: unexpected %v frame", f.Type())
		}
	}
}

// drainAcking reads and acknowledges deliveries until Synced, and until
// every ack is confirmed, and returns them. Unlike drain it works past
// the delivery window.
func drainAcking(t testing.TB, ws *testclient.WS) []*wire.Deliver {
	t.Helper()
	var out []*wire.Deliver
	pending, synced := 0, false
	for !synced || pending > 0 {
		f, err := ws.Next()
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		switch f := f.(type) {
		case *wire.Deliver:
			out = append(out, f)
			if err := ws.Send(&wire.Ack{Seqs: []uint64{f.Seq}}); err != nil {
				t.Fatal(err)
			}
			pending++
		case *wire.AckResult:
			pending -= len(f.Seqs)
		case *wire.Synced:
			synced = true
		case *wire.PreKeyStatus:
		default:
			t.Fatalf("drain: unexpected %v frame", f.Type())
		}
	}
	return out
}

// ack acknowledges seqs and waits for the confirmation.
func ack(t testing.TB, ws *testclient.WS, seqs ...uint64) {
	t.Helper()
	if err := ws.Send(&wire.Ack{Seqs: seqs}); err != nil {
		t.Fatal(err)
	}
	for {
		switch f := next[wire.Frame](t, ws).(type) {
		case *wire.AckResult:
			if len(f.Seqs) != len(seqs) {
				t.Fatalf("ack result %v, want %v", f.Seqs, seqs)
			}
			return
		case *wire.Synced, *wire.PreKeyStatus:
		default:
			t.Fatalf("waiting for ack result: %v frame", f.Type())
		}
	}
}

// closedWith waits for the relay to close ws and returns the close status.
func closedWith(t testing.TB, ws *testclient.WS) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
	defer cancel()
	for {
		_, err := ws.NextCtx(ctx)
		if err == nil {
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("connection not closed within the timeout")
		}
		return websocket.CloseStatus(err)
	}
}

// codeOf returns the wire code of err (CodeOK for nil).
func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	if err == nil {
		return wire.CodeOK
	}
	return wire.Code(0xffff)
}
