package server

import (
	"errors"
	"io"
	"net/http"
)

// pathReady answers whether a load balancer should send the relay new
// clients; pathHealth only whether the process serves at all.
const pathReady = "/readyz"

// Readiness errors (Ready).
var (
	// ErrStarting: Start has not finished opening (and migrating) the
	// stores.
	ErrStarting = errors.New("server: starting")
	// ErrDraining: Drain or Shutdown has begun.
	ErrDraining = errors.New("server: draining")
)

// Ready reports whether the relay should be sent new clients: nil once
// Start has opened and migrated its stores, ErrStarting before that, and
// ErrDraining from Drain or Shutdown on. It is safe for concurrent use.
func (s *Server) Ready() error {
	// Atomics, not s.mu: Start holds s.mu while the stores open.
	switch {
	case s.draining.Load():
		return ErrDraining
	case !s.started.Load():
		return ErrStarting
	}
	return nil
}

// Drain marks the relay not ready (/readyz answers 503) while it goes on
// serving everything else, so that a load balancer stops sending it new
// clients before Shutdown closes the connections it has. It cannot be
// undone.
func (s *Server) Drain() { s.draining.Store(true) }

// ReadyHandler answers as the relay's /readyz does: 200 "ready", or 503
// with the reason ("starting", "draining"). Unlike the relay's own
// listener, which opens only after Start, a private listener serving it
// (parleyd's --metrics-listen) can answer while the stores open.
func (s *Server) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setHeaders(w.Header(), req.TLS != nil)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch err := s.Ready(); {
		case errors.Is(err, ErrStarting):
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "starting\n")
		case err != nil:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
		default:
			io.WriteString(w, "ready\n")
		}
	})
}
