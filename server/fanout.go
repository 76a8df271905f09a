package server

import (
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
)

// Wake-ups across relay nodes. With Server.NATSURL set, the relay's
// fan-out is fanout.NATS; otherwise fanout.Memory, for one node.
//
// While NATS is unreachable the fan-out itself wakes every local
// connection each Server.FallbackPoll, so that each re-reads its mailbox
// (delivery degrades to a bounded poll and loses nothing: the store is
// the source of truth). What it cannot carry meanwhile is revocation by
// another node: the relay's degradedLoop checks, every revokeCheckPolls
// FallbackPolls, that each device connected here still exists, and tells
// the connections of those that do not (fanout.Revoked). (One read per
// connected device: less often than the mailbox poll, which PostgreSQL
// answers in batches.) When NATS comes back, the fan-out wakes every local
// connection once and the checks stop.

// healthReporter is a fan-out that can lose wake-ups from other nodes
// wholesale, and says when.
type healthReporter interface {
	fanout.Fanout
	Healthy() bool
	Changed() <-chan struct{}
	Devices() []addr.Address
}

// DefaultFallbackPoll is Server.FallbackPoll's default.
const DefaultFallbackPoll = fanout.DefaultPoll

// revokeCheckPolls is how many FallbackPolls pass between two checks for
// revoked devices while the fan-out is down (5 s by default).
const revokeCheckPolls = 5

// newFanout makes the relay's fan-out.
func (r *relay) newFanout(s *Server) (fanout.Fanout, error) {
	if s.NATSURL == "" {
		return fanout.NewMemory(), nil
	}
	n, err := fanout.NewNATS(s.NATSURL, fanout.NATSOptions{
		Prefix: s.NATSPrefix,
		Poll:   r.fallbackPoll,
		Logger: r.log,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return n, nil
}

// fanoutHealthy reports whether wake-ups from other nodes are arriving
// (always, with one node).
func (r *relay) fanoutHealthy() bool {
	h, ok := r.fan.(healthReporter)
	return !ok || h.Healthy()
}

// degradedLoop runs while the relay does: whenever the fan-out is down,
// it checks every revokeCheckPolls FallbackPolls for revoked devices
// among those connected here.
func (r *relay) degradedLoop(h healthReporter) {
	defer r.bg.Done()
	t := time.NewTicker(revokeCheckPolls * r.fallbackPoll)
	defer t.Stop()
	for {
		changed := h.Changed()
		if h.Healthy() {
			select {
			case <-changed:
				continue
			case <-r.ctx.Done():
				return
			}
		}
		select {
		case <-t.C:
			r.checkRevoked(h.Devices())
		case <-changed:
		case <-r.ctx.Done():
			return
		}
	}
}

// checkRevoked publishes Revoked for each device that no longer exists.
func (r *relay) checkRevoked(devs []addr.Address) {
	for _, a := range devs {
		if r.ctx.Err() != nil {
			return
		}
		if _, err := r.store.Device(r.ctx, a); errors.Is(err, store.ErrNotFound) {
			r.publish(a, fanout.Revoked)
		}
	}
}

// fanoutUp is the metrics gauge: 1 while wake-ups reach every node.
func (r *relay) fanoutUp() int64 {
	if r.fanoutHealthy() {
		return 1
	}
	return 0
}
