package server

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"parley.dev/internal/addr"
	"parley.dev/internal/push"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// Push wake-ups (internal/push; docs/protocol.md "Push wake-ups"). A
// device leaves its push token with PUT /v1/push or OpPushRegister; when
// an envelope is stored for a device with no connection to this node,
// the relay asks the push gateway (Server.PushGateway) to wake it. The
// push path runs after the envelope is committed and answered, on the
// Notifier's goroutines: the gateway never delays or loses an envelope.

// maxPushBody fits the largest PushRegister frame.
const maxPushBody = wire.HeaderLen + 3 + wire.MaxPushToken

var errPushDisabled = wire.Errorf(wire.CodePushDisabled, "this relay has no push gateway")

// openPush starts the push notifier when a gateway is configured.
func (r *relay) openPush(s *Server) error {
	if s.PushGateway == "" {
		if len(s.PushSecret) > 0 {
			return fmt.Errorf("server: PushSecret without PushGateway")
		}
		return nil
	}
	n, err := push.New(push.Config{
		Gateway: s.PushGateway,
		Secret:  s.PushSecret,
		Store:   r.store,
		Window:  s.PushWindow,
		Logger:  r.log,
		Now:     r.now,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	r.push = n
	r.metrics.push = n.Stats
	return nil
}

func (r *relay) closePush() {
	if r.push != nil {
		r.push.Close()
	}
}

// pushMail asks for a wake-up of a device that has no connection here.
func (r *relay) pushMail(a addr.Address) {
	if r.push != nil && !r.conns.has(a) {
		r.push.Mail(a)
	}
}

// pushOnline restarts a device's coalescing window as it connects.
func (r *relay) pushOnline(a addr.Address) {
	if r.push != nil {
		r.push.Online(a)
	}
}

func (r *relay) pushRoutes(mux *http.ServeMux) {
	mux.Handle("PUT "+wire.PathPush, r.authed(r.handlePushRegister, maxPushBody))
	mux.Handle("DELETE "+wire.PathPush, r.authed(r.handlePushClear, 0))
}

func (r *relay) handlePushRegister(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	f, err := wire.ParseAs[*wire.PushRegister](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	ok, werr := r.setPush(req.Context(), dev.Address, f)
	r.answer(w, ok, werr)
}

func (r *relay) handlePushClear(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	ok, werr := r.clearPush(req.Context(), dev.Address)
	r.answer(w, ok, werr)
}

func (r *relay) setPush(ctx context.Context, dev addr.Address, f *wire.PushRegister) (wire.Frame, *wire.Error) {
	if r.push == nil {
		return nil, errPushDisabled
	}
	err := r.store.SetPush(ctx, dev, store.PushToken{Platform: f.Platform.String(), Token: f.Token})
	if err != nil {
		return nil, r.internal("set push token", err)
	}
	r.log.Info("push: token set", "device", dev.String(), "platform", f.Platform.String())
	return &wire.OK{}, nil
}

// clearPush deletes the device's token; it works without a gateway too,
// so that a device can always take its token back.
func (r *relay) clearPush(ctx context.Context, dev addr.Address) (wire.Frame, *wire.Error) {
	had, err := r.store.ClearPush(ctx, dev)
	if err != nil {
		return nil, r.internal("clear push token", err)
	}
	if had {
		r.log.Info("push: token cleared", "device", dev.String())
	}
	return &wire.OK{}, nil
}

// has reports whether the device has a connection on this node.
func (s *connSet) has(a addr.Address) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.devices[a]) > 0
}

func (m *metrics) writePush(w io.Writer) {
	var st push.Stats
	if m.push != nil {
		st = m.push()
	}
	counter(w, "parley_push_sent_total", "Wake-ups the push gateway accepted.", st.Sent)
	counter(w, "parley_push_failed_total", "Wake-ups given up: refused, out of attempts, or dropped at a full queue.", st.Failed)
	counter(w, "parley_push_coalesced_total", "Wake-ups not sent: the device was woken within the window, or has no token.", st.Coalesced)
	counter(w, "parley_push_retried_total", "Requests to the push gateway retried after a failure.", st.Retried)
}

// DefaultPushWindow is Server.PushWindow's default.
const DefaultPushWindow = push.DefaultWindow
