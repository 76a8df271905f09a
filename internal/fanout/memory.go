package fanout

import (
	"context"
	"slices"
	"sync"

	"parley.dev/internal/addr"
)

// Memory is the in-process Fanout: Publish calls the handlers of the
// device's subscribers directly, on the publisher's goroutine. Its zero
// value is ready to use; it is safe for concurrent use.
type Memory struct {
	mu sync.RWMutex
	// subs are each device's subscriptions: a slice, not a set, as a
	// device has one to a few (one per connection). An idle connection
	// costs about 120 bytes less than with a map per device.
	subs   map[addr.Address][]*subscription
	closed bool
}

type subscription struct {
	h    Handler
	mu   sync.RWMutex // held for reading while h runs, for writing to cancel
	done bool
}

var _ Fanout = (*Memory)(nil)

// NewMemory returns an empty in-process fanout.
func NewMemory() *Memory { return &Memory{} }

// Publish calls the handler of every subscriber of e.Device.
func (m *Memory) Publish(ctx context.Context, e Event) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	for _, s := range m.subs[e.Device] {
		s.call(e)
	}
	return nil
}

func (s *subscription) call(e Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.done {
		s.h(e)
	}
}

// Subscribe registers h for events of device a.
func (m *Memory) Subscribe(a addr.Address, h Handler) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.subs == nil {
		m.subs = make(map[addr.Address][]*subscription)
	}
	s := &subscription{h: h}
	m.subs[a] = append(m.subs[a], s)
	return func() { m.unsubscribe(a, s) }, nil
}

func (m *Memory) unsubscribe(a addr.Address, s *subscription) {
	s.mu.Lock() // waits for a running handler, then stops further calls
	s.done = true
	s.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := m.subs[a]
	if i := slices.Index(subs, s); i >= 0 {
		subs = slices.Delete(subs, i, i+1)
		if len(subs) == 0 {
			delete(m.subs, a)
		} else {
			m.subs[a] = subs
		}
	}
}

// Close drops every subscription.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.subs = nil
	return nil
}

// Subscribers returns how many subscriptions device a has, for tests and
// metrics.
func (m *Memory) Subscribers(a addr.Address) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.subs[a])
}

// Devices lists the devices that have a subscriber.
func (m *Memory) Devices() []addr.Address {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]addr.Address, 0, len(m.subs))
	for a := range m.subs {
		out = append(out, a)
	}
	return out
}

// wakeAll sends every subscriber a Mail wake-up.
func (m *Memory) wakeAll() {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for a, subs := range m.subs {
		for _, s := range subs {
			s.call(Event{Device: a, Kind: Mail})
		}
	}
}
