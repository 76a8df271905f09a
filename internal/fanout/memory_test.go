package fanout_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/fanout/fanouttest"
)

func TestMemory(t *testing.T) {
	fanouttest.Run(t, func(t *testing.T) fanout.Fanout { return fanout.NewMemory() })
}

func TestMemoryZeroValue(t *testing.T) {
	fanouttest.Run(t, func(t *testing.T) fanout.Fanout { return new(fanout.Memory) })
}

// TestMemoryUnsubscribeWaitsForHandler checks the promise that after
// unsubscribe returns the handler is not running and will not run again.
func TestMemoryUnsubscribeWaitsForHandler(t *testing.T) {
	m := fanout.NewMemory()
	a := addr.Address{User: "alice", Device: 1}
	entered, release := make(chan struct{}), make(chan struct{})
	var running atomic.Bool
	var calls atomic.Int32
	unsub, _ := m.Subscribe(a, func(fanout.Event) {
		if calls.Add(1) == 1 {
			running.Store(true)
			close(entered)
			<-release
			running.Store(false)
		}
	})
	go m.Publish(context.Background(), fanout.Event{Device: a, Kind: fanout.Mail})
	<-entered
	done := make(chan bool)
	go func() { unsub(); done <- running.Load() }()
	for range 100 {
		runtime.Gosched() // let a wrong unsubscribe return while the handler runs
	}
	close(release)
	if <-done {
		t.Fatal("unsubscribe returned while the handler was running")
	}
	m.Publish(context.Background(), fanout.Event{Device: a, Kind: fanout.Mail})
	if calls.Load() != 1 || m.Subscribers(a) != 0 {
		t.Fatalf("calls = %d, subscribers = %d", calls.Load(), m.Subscribers(a))
	}
}

// Each unsubscribe removes its own subscription once, and a device whose
// last subscriber has left is forgotten (an idle relay does not keep an
// entry per device that ever connected).
func TestMemoryUnsubscribeCounts(t *testing.T) {
	m := fanout.NewMemory()
	a, b := addr.Address{User: "alice", Device: 1}, addr.Address{User: "bob", Device: 1}
	var unsubs []func()
	for range 3 {
		u, err := m.Subscribe(a, func(fanout.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		unsubs = append(unsubs, u)
	}
	if _, err := m.Subscribe(b, func(fanout.Event) {}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []func(){unsubs[1], unsubs[1], unsubs[0], unsubs[2]} {
		u()
		want := []int{2, 2, 1, 0}[i]
		if got := m.Subscribers(a); got != want {
			t.Fatalf("after unsubscribe %d: %d subscribers, want %d", i, got, want)
		}
		if got := m.Subscribers(b); got != 1 {
			t.Fatalf("after unsubscribe %d: the other device has %d subscribers, want 1", i, got)
		}
	}
	if ds := m.Devices(); len(ds) != 1 || ds[0] != b {
		t.Fatalf("devices with subscribers: %v, want only %v", ds, b)
	}
}
