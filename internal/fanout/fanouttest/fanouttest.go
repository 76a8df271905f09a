// Package fanouttest is the conformance suite every fanout.Fanout
// implementation passes: events reach exactly the subscribers of the
// device they name, unsubscribing stops them, and Close ends everything.
package fanouttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
)

// Timeout bounds how long the suite waits for an event that should
// arrive; it is a failure deadline, not a sleep.
const Timeout = 5 * time.Second

var (
	dev1 = addr.Address{User: "alice", Device: 1}
	dev2 = addr.Address{User: "alice", Device: 2}
	dev3 = addr.Address{User: "bob", Device: 1}
)

// Run runs the suite. newFanout returns a fresh, empty Fanout for each
// subtest; the suite closes it.
func Run(t *testing.T, newFanout func(t *testing.T) fanout.Fanout) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, f fanout.Fanout)
	}{
		{"ReachesOnlyItsDevice", testReachesOnlyItsDevice},
		{"EverySubscriber", testEverySubscriber},
		{"KindsPreserved", testKindsPreserved},
		{"Unsubscribe", testUnsubscribe},
		{"UnsubscribeOneOfSeveral", testUnsubscribeOneOfSeveral},
		{"NoSubscriber", testNoSubscriber},
		{"Close", testClose},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFanout(t)
			defer f.Close()
			tc.fn(t, f)
		})
	}
}

// recorder collects events without blocking the publisher.
type recorder struct {
	ch chan fanout.Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan fanout.Event, 1024)} }

func (r *recorder) handle(e fanout.Event) {
	select {
	case r.ch <- e:
	default:
	}
}

func (r *recorder) next(t *testing.T) fanout.Event {
	t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(Timeout):
		t.Fatal("no event within the timeout")
		return fanout.Event{}
	}
}

// none checks that nothing is queued. Callers first wait for a later
// barrier event, so anything that would arrive has arrived.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-r.ch:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

func subscribe(t *testing.T, f fanout.Fanout, a addr.Address, r *recorder) func() {
	t.Helper()
	unsub, err := f.Subscribe(a, r.handle)
	if err != nil {
		t.Fatalf("Subscribe(%v): %v", a, err)
	}
	return unsub
}

func publish(t *testing.T, f fanout.Fanout, a addr.Address, k fanout.Kind) {
	t.Helper()
	if err := f.Publish(context.Background(), fanout.Event{Device: a, Kind: k}); err != nil {
		t.Fatalf("Publish(%v, %v): %v", a, k, err)
	}
}

func testReachesOnlyItsDevice(t *testing.T, f fanout.Fanout) {
	r1, r2 := newRecorder(), newRecorder()
	subscribe(t, f, dev1, r1)
	subscribe(t, f, dev2, r2)
	publish(t, f, dev2, fanout.Mail)
	if e := r2.next(t); e.Device != dev2 || e.Kind != fanout.Mail {
		t.Fatalf("got %+v", e)
	}
	publish(t, f, dev1, fanout.Mail) // barrier for r1
	if e := r1.next(t); e.Device != dev1 {
		t.Fatalf("got %+v", e)
	}
	r1.none(t)
	r2.none(t)
}

func testEverySubscriber(t *testing.T, f fanout.Fanout) {
	rs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range rs {
		subscribe(t, f, dev3, r)
	}
	publish(t, f, dev3, fanout.Mail)
	for _, r := range rs {
		if e := r.next(t); e.Device != dev3 {
			t.Fatalf("got %+v", e)
		}
	}
}

func testKindsPreserved(t *testing.T, f fanout.Fanout) {
	r := newRecorder()
	subscribe(t, f, dev1, r)
	kinds := []fanout.Kind{fanout.Mail, fanout.Revoked, fanout.PreKeysLow}
	for _, k := range kinds {
		publish(t, f, dev1, k)
	}
	got := map[fanout.Kind]bool{}
	for range kinds {
		got[r.next(t).Kind] = true
	}
	for _, k := range kinds {
		if !got[k] {
			t.Errorf("kind %v not delivered", k)
		}
	}
}

func testUnsubscribe(t *testing.T, f fanout.Fanout) {
	r, barrier := newRecorder(), newRecorder()
	unsub := subscribe(t, f, dev1, r)
	subscribe(t, f, dev2, barrier)
	publish(t, f, dev1, fanout.Mail)
	r.next(t)
	unsub()
	unsub() // harmless
	publish(t, f, dev1, fanout.Mail)
	publish(t, f, dev2, fanout.Mail)
	barrier.next(t)
	r.none(t)
	// Subscribing again works.
	subscribe(t, f, dev1, r)
	publish(t, f, dev1, fanout.Revoked)
	if e := r.next(t); e.Kind != fanout.Revoked {
		t.Fatalf("got %+v", e)
	}
}

// testUnsubscribeOneOfSeveral: a device's other subscribers (its other
// connections) keep their events, whichever one leaves first.
func testUnsubscribeOneOfSeveral(t *testing.T, f fanout.Fanout) {
	rs := []*recorder{newRecorder(), newRecorder(), newRecorder(), newRecorder()}
	unsubs := make([]func(), len(rs))
	for i, r := range rs {
		unsubs[i] = subscribe(t, f, dev3, r)
	}
	for _, gone := range []int{1, 0, 3} {
		unsubs[gone]()
		publish(t, f, dev3, fanout.Mail)
		for i, r := range rs {
			if unsubs[i] == nil || i == gone {
				continue
			}
			if e := r.next(t); e.Device != dev3 {
				t.Fatalf("subscriber %d got %+v", i, e)
			}
		}
		unsubs[gone] = nil
	}
	for _, r := range rs[:2] { // gone before the last publishes
		r.none(t)
	}
}

func testNoSubscriber(t *testing.T, f fanout.Fanout) {
	publish(t, f, dev3, fanout.Mail)
}

func testClose(t *testing.T, f fanout.Fanout) {
	r := newRecorder()
	subscribe(t, f, dev1, r)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Publish(context.Background(), fanout.Event{Device: dev1, Kind: fanout.Mail}); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := f.Subscribe(dev1, r.handle); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	r.none(t)
}

// testConcurrent races publishers against subscribers coming and going;
// run it with -race.
func testConcurrent(t *testing.T, f fanout.Fanout) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				_ = f.Publish(context.Background(), fanout.Event{Device: dev1, Kind: fanout.Mail})
			}
		}()
		go func() {
			defer wg.Done()
			r := newRecorder()
			for range 50 {
				unsub, err := f.Subscribe([]addr.Address{dev1, dev2}[i%2], r.handle)
				if err != nil {
					t.Error(err)
					return
				}
				unsub()
			}
		}()
	}
	wg.Wait()
	r := newRecorder()
	subscribe(t, f, dev1, r)
	publish(t, f, dev1, fanout.Mail)
	r.next(t)
}
