// Package fanout carries wake-ups between the relay's connections: "device
// X has mail", "device X was revoked", "device X is running out of
// prekeys". Whoever changes a mailbox publishes an Event; the connection
// serving that device subscribes to its address and reacts.
//
// A wake-up carries no data. The store is always the source of truth: a
// lost or duplicated event only delays delivery until the connection's next
// periodic re-check or reconnect, so an implementation may drop events
// under pressure and may deliver one twice.
//
// The Fanout interface is small so that it can span nodes: Memory is the
// in-process implementation (one relay node), NATS the one across nodes. Every implementation passes the
// fanouttest conformance suite. The shape follows centrifuge's Broker: a
// publish side, a per-key subscribe side, and handlers that must not block.
package fanout

import (
	"context"
	"errors"
	"strconv"

	"parley.dev/internal/addr"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("fanout: closed")

// Kind says what happened to a device.
type Kind uint8

const (
	// Mail: the device's mailbox has new envelopes.
	Mail Kind = 1
	// Revoked: the device was revoked; close its connections.
	Revoked Kind = 2
	// PreKeysLow: the device's one-time prekeys fell below the low-water
	// mark; tell it to upload more.
	PreKeysLow Kind = 3
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Mail:
		return "mail"
	case Revoked:
		return "revoked"
	case PreKeysLow:
		return "prekeys-low"
	}
	return "kind-" + strconv.Itoa(int(k))
}

// Event is one wake-up for one device.
type Event struct {
	Device addr.Address
	Kind   Kind
	// Seq is, for Mail, the mailbox Seq of the envelope that caused the
	// wake-up, or 0 if unknown. A connection that has already sent the
	// device everything up to Seq need not read the mailbox. An
	// implementation that cannot carry it delivers 0, which is always
	// correct.
	Seq int64
}

// Handler receives the events of one subscription. It must not block: it
// is called on the publisher's or the implementation's goroutine, possibly
// concurrently with itself, and must not call back into the Fanout. A
// typical handler does a non-blocking send on
// a channel of capacity one.
type Handler func(Event)

// Fanout publishes wake-ups and delivers them to the subscribers of the
// device they name. Implementations are safe for concurrent use.
type Fanout interface {
	// Publish delivers e to every current subscriber of e.Device, on this
	// node or others. It does not wait for handlers to act. Having no
	// subscriber is not an error.
	Publish(ctx context.Context, e Event) error
	// Subscribe calls h for every event published for device a until
	// unsubscribe is called; after unsubscribe returns, h is not called
	// again. unsubscribe may be called more than once, but not from h.
	Subscribe(a addr.Address, h Handler) (unsubscribe func(), err error)
	// Close stops all delivery; later Publish and Subscribe calls fail
	// with ErrClosed.
	Close() error
}
