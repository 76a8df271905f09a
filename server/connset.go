package server

import (
	"context"
	"sync"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// connSet tracks the relay's open connections: by device, for the
// per-device cap and for delivering a just-stored envelope straight to
// its device's connections on this node; and in total, for the global cap
// and for shutdown. It is safe for concurrent use.
type connSet struct {
	maxPerDevice, max int

	mu      sync.Mutex
	devices map[addr.Address][]*conn // oldest first
	n       int
	closing bool
	wg      sync.WaitGroup
}

func newConnSet(maxPerDevice, max int) *connSet {
	return &connSet{maxPerDevice: maxPerDevice, max: max, devices: make(map[addr.Address][]*conn)}
}

// Errors refusing a connection.
var (
	errConnLimit    = wire.Errorf(wire.CodeConnLimit, "the relay holds as many connections as it may; retry later")
	errShuttingDown = wire.Errorf(wire.CodeUnavailable, "relay shutting down")
	errDisplaced    = wire.Errorf(wire.CodeDisplaced, "a newer connection of this device replaced this one")
)

// full reports whether a new connection would exceed the global cap: a
// cheap check before the upgrade's work.
func (s *connSet) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n >= s.max
}

// add registers c. If its device already has the most connections
// allowed, the oldest is returned to be displaced.
func (s *connSet) add(c *conn) (displaced *conn, err *wire.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, errShuttingDown
	case s.n >= s.max:
		return nil, errConnLimit
	}
	list := s.devices[c.addr]
	if len(list) >= s.maxPerDevice {
		displaced = list[0]
		list = list[1:]
		s.n--
	}
	s.devices[c.addr] = append(list, c)
	s.n++
	s.wg.Add(1)
	return displaced, nil
}

// remove unregisters c (once; later calls do nothing).
func (s *connSet) remove(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.devices[c.addr]
	for i, d := range list {
		if d == c {
			list = append(list[:i:i], list[i+1:]...)
			s.n--
			break
		}
	}
	if len(list) == 0 {
		delete(s.devices, c.addr)
	} else {
		s.devices[c.addr] = list
	}
}

// done is called once per added connection, when it has ended.
func (s *connSet) done() { s.wg.Done() }

// len returns the number of registered connections.
func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// offer hands a just-committed envelope to its device's connections on
// this node.
func (s *connSet) offer(e *store.Envelope) {
	s.mu.Lock()
	list := s.devices[e.To]
	var one [4]*conn
	conns := append(one[:0], list...)
	s.mu.Unlock()
	for _, c := range conns {
		c.offer(e)
	}
}

// recheckLoop rechecks every connection once per interval (see
// conn.recheck), one after the other: one timer for the relay instead of
// one per connection, and store reads spread out rather than in a burst.
// (While NATS is down the fan-out itself wakes every connection each
// FallbackPoll; see fanout.go.) It returns when ctx ends.
func (s *connSet) recheckLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range s.snapshot() {
			if ctx.Err() != nil {
				return
			}
			c.recheck()
		}
		t.Reset(interval)
	}
}

// snapshot returns the registered connections.
func (s *connSet) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, s.n)
	for _, list := range s.devices {
		conns = append(conns, list...)
	}
	return conns
}

// closeAll drains every connection (submissions being processed finish
// and are answered, then a going-away close) and waits for them; when ctx
// ends it cuts the rest.
func (s *connSet) closeAll(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	conns := s.snapshot()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.ws.CloseNow()
		}
		<-done
	}
}
