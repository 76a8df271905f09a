package loadgen

import (
	"context"
	"errors"
	"net"

	"parley.dev/internal/wire"
)

// A Driver moves benchmark messages one way (a mode of "parley bench").
type Driver interface {
	// Name is the mode's name, such as "raw".
	Name() string
	// Setup registers and connects pairs sender devices and as many
	// receivers; sender i sends to receiver i. Receivers report every
	// benchmark message they handle to sink.Delivered; setup steps and
	// asynchronous failures go to sink too.
	Setup(ctx context.Context, pairs, payload int, sink *Sink) ([]Sender, error)
	// Settle waits until the receivers' acknowledgements are confirmed by
	// the relay (or ctx ends), so that the relay's counters are final.
	Settle(ctx context.Context) error
	// Close disconnects every device.
	Close() error
}

// A Sender is the sending device of one pair.
type Sender interface {
	// Send submits one message of the configured payload size starting
	// with st's text and returns once the relay has acknowledged it
	// durably, or with why not (a *wire.Error or wire.Code for the
	// relay's refusals). The engine calls it concurrently in the open
	// loop.
	Send(ctx context.Context, st Stamp) error
}

// Sink receives what drivers observe. Its methods are safe for
// concurrent use.
type Sink struct {
	r *run
}

// Delivered reports that a receiver handled the benchmark message that
// carried st (raw: parsed it; e2ee: decrypted and stored it).
func (s *Sink) Delivered(st Stamp) { s.r.delivered(st) }

// Error counts an asynchronous failure by code (see ErrorCode).
func (s *Sink) Error(code string) {
	if code == CodeConnection && s.r.cutOff.Load() {
		return // a connection closed by a send the run cut off
	}
	s.r.counts.fail(code)
}

// Ready counts one device set up, for the progress line.
func (s *Sink) Ready() { s.r.ready.Add(1) }

// Error codes of failures that are not the relay's wire codes.
const (
	// CodeConnection: a connection failed or closed (dial, TLS, reset).
	CodeConnection = "connection"
	// CodeTimeout: no answer before the run's drain deadline.
	CodeTimeout = "timeout"
	// CodeUnsent: the open loop's schedule had not reached this message
	// by the drain deadline (the relay or the clients fell behind).
	CodeUnsent = "unsent"
	// CodeUndelivered: the relay acknowledged the message but it did not
	// reach its receiver by the drain deadline.
	CodeUndelivered = "undelivered"
	// CodeBadPayload: a delivery did not carry a benchmark stamp.
	CodeBadPayload = "bad-payload"
	// CodeClient: the client SDK failed (e2ee mode), for a reason that
	// is not the relay's.
	CodeClient = "client"
)

// CodeError is a failure that a Driver has already named: ErrorCode
// returns its Code.
type CodeError struct {
	Code string
	Err  error
}

func (e *CodeError) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *CodeError) Unwrap() error { return e.Err }

// ErrorCode names err for the error counts: the relay's wire code name
// ("mailbox-full", "rate-limited" ...) or one of the Code* constants.
func ErrorCode(err error) string {
	var we *wire.Error
	var code wire.Code
	var ne net.Error
	var ce *CodeError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.As(err, &we):
		return we.Code.String()
	case errors.As(err, &code):
		return code.String()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &ne) && ne.Timeout():
		return CodeTimeout
	}
	return CodeConnection
}
