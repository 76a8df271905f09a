// Package gateway is the reference push gateway's request handling: the
// small HTTP service an operator runs between parleyd and Google's or
// Apple's notification service (cmd/parley-push).
//
// The relay POSTs a signed JSON body holding a device's push platform and
// token and nothing else (package push). Handler checks the signature,
// the timestamp and that the request is new (push.Verifier), reads the body
// strictly (push.ParseRequest) and hands it to a Sender, which asks FCM or
// APNs to wake the app. It answers:
//
//   - 204 once the Sender took the wake-up;
//   - 401 for a missing, forged, stale or replayed signature;
//   - 400 for a body that is not exactly {platform, token};
//   - 405 for any method but POST, 413 for a body over push.MaxBody;
//   - 502 when the Sender failed (the relay retries with backoff).
//
// Nothing is sent for a refused request. Logs never carry a token: only
// its platform and a short hash that tells two devices apart.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"parley.dev/internal/push"
)

// Sender wakes one device through its platform's notification service.
// The wake-up carries no content: the app connects and drains its mailbox.
type Sender interface {
	Send(ctx context.Context, r push.Request) error
}

// Stats counts a Handler's outcomes.
type Stats struct {
	Sent, Refused, Malformed, Failed atomic.Int64
}

// Handler serves the gateway's one endpoint. Make one with New.
type Handler struct {
	v      *push.Verifier
	sender Sender
	log    *slog.Logger
	Stats  Stats
}

// New returns a Handler that verifies requests with v and wakes devices
// through s; log may be nil (slog.Default()).
func New(v *push.Verifier, s Sender, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{v: v, sender: s, log: log}
}

// ServeHTTP handles one wake-up request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, http.StatusMethodNotAllowed, &h.Stats.Malformed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, push.MaxBody))
	if err != nil {
		h.refuse(w, http.StatusRequestEntityTooLarge, &h.Stats.Malformed, "body too large")
		return
	}
	if err := h.v.Verify(r.Header, body); err != nil {
		h.refuse(w, http.StatusUnauthorized, &h.Stats.Refused, err.Error())
		return
	}
	req, err := push.ParseRequest(body)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, &h.Stats.Malformed, err.Error())
		return
	}
	if err := h.sender.Send(r.Context(), req); err != nil {
		h.Stats.Failed.Add(1)
		h.log.Warn("wake-up failed", "platform", req.Platform, "device", TokenTag(req.Token), "err", err)
		http.Error(w, "the notification service failed", http.StatusBadGateway)
		return
	}
	h.Stats.Sent.Add(1)
	h.log.Info("wake-up sent", "platform", req.Platform, "device", TokenTag(req.Token))
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) refuse(w http.ResponseWriter, status int, n *atomic.Int64, why string) {
	n.Add(1)
	h.log.Warn("request refused", "status", status, "why", why)
	http.Error(w, http.StatusText(status), status)
}

// TokenTag is a short, stable tag of a push token for logs: 8 hex digits
// of its SHA-256. It tells devices apart without revealing the token,
// which anyone could use to wake the device.
func TokenTag(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// LogSender is a Sender that only logs each wake-up (platform and
// TokenTag): for trying the path end to end, or as the model of a real
// one. It never fails.
type LogSender struct{ Log *slog.Logger }

// Send logs r.
func (s LogSender) Send(_ context.Context, r push.Request) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("wake-up (log sender: nothing forwarded)", "platform", r.Platform, "device", TokenTag(r.Token))
	return nil
}
