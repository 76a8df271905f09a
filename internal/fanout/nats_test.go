package fanout_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/fanout/fanouttest"
)

func newNATS(t *testing.T, url, prefix string, poll time.Duration) *fanout.NATS {
	t.Helper()
	n, err := fanout.NewNATS(url, fanout.NATSOptions{Prefix: prefix, Poll: poll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestNATS(t *testing.T) {
	url := fanouttest.SharedNATS(t)
	fanouttest.Run(t, func(t *testing.T) fanout.Fanout {
		return newNATS(t, url, fanouttest.UniquePrefix(), 0)
	})
}

// TestNATSAcrossNodes: two relay nodes on one server and prefix each
// reach the other's subscribers, and only those of the device named.
func TestNATSAcrossNodes(t *testing.T) {
	url := fanouttest.SharedNATS(t)
	prefix := fanouttest.UniquePrefix()
	a, b := newNATS(t, url, prefix, 0), newNATS(t, url, prefix, 0)
	other := newNATS(t, url, fanouttest.UniquePrefix(), 0) // another deployment
	dev := addr.Address{User: "carol.smith", Device: 7}
	near, far, stranger := make(chan fanout.Event, 8), make(chan fanout.Event, 8), make(chan fanout.Event, 8)
	sub(t, a, dev, near)
	sub(t, b, dev, far)
	sub(t, other, dev, stranger)
	barrier := make(chan fanout.Event, 8)
	sub(t, b, addr.Address{User: "carol", Device: 7}, barrier)
	flush(t, b) // b's subscriptions have reached the server

	if err := a.Publish(t.Context(), fanout.Event{Device: dev, Kind: fanout.Revoked}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan fanout.Event{near, far} {
		waitKind(t, ch, fanout.Revoked) // after any Mail from connecting
	}
	// "carol.smith/7" and "carol/7" are different subjects.
	a.Publish(t.Context(), fanout.Event{Device: addr.Address{User: "carol", Device: 7}, Kind: fanout.PreKeysLow})
	waitKind(t, barrier, fanout.PreKeysLow)
	for name, ch := range map[string]chan fanout.Event{"far": far, "near": near, "other deployment": stranger} {
		for len(ch) > 0 {
			if e := <-ch; e.Kind != fanout.Mail || e.Device != dev {
				t.Fatalf("stray event at %s: %+v", name, e)
			}
		}
	}
}

func sub(t *testing.T, f fanout.Fanout, a addr.Address, ch chan fanout.Event) {
	t.Helper()
	unsub, err := f.Subscribe(a, func(e fanout.Event) {
		select {
		case ch <- e:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
}

// flush waits until the server has processed n's subscriptions (a PING
// round trip on n's connection).
func flush(t *testing.T, n *fanout.NATS) {
	t.Helper()
	if err := n.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, ch chan fanout.Event) fanout.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(fanouttest.Timeout):
		t.Fatal("no event within the timeout")
		return fanout.Event{}
	}
}

// waitHealth waits until n reports healthy (or not).
func waitHealth(t *testing.T, n *fanout.NATS, want bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for n.Healthy() != want {
		select {
		case <-n.Changed():
		case <-deadline:
			t.Fatalf("Healthy stayed %v", !want)
		}
	}
}

// TestNATSOutage stops the NATS server under two nodes: both report it,
// their subscribers are woken every Poll meanwhile (so connections
// re-read their mailboxes), and when the server is back both reconnect
// by themselves, wake everyone once and carry events across again.
func TestNATSOutage(t *testing.T) {
	srv := fanouttest.StartNATS(t, 0)
	prefix := fanouttest.UniquePrefix()
	const poll = 20 * time.Millisecond
	a, b := newNATS(t, srv.URL(), prefix, poll), newNATS(t, srv.URL(), prefix, poll)
	dev := addr.Address{User: "dave", Device: 1}
	ch := make(chan fanout.Event, 64)
	sub(t, b, dev, ch)
	flush(t, b)
	if !a.Healthy() || !b.Healthy() {
		t.Fatal("not healthy while the server runs")
	}
	a.Publish(t.Context(), fanout.Event{Device: dev, Kind: fanout.PreKeysLow})
	waitKind(t, ch, fanout.PreKeysLow) // after any Mail from connecting

	srv.Stop()
	waitHealth(t, a, false)
	waitHealth(t, b, false)
	drain(ch)
	for range 3 { // polling wake-ups keep coming while NATS is down
		if e := recv(t, ch); e.Kind != fanout.Mail || e.Device != dev {
			t.Fatalf("got %+v while NATS is down", e)
		}
	}
	// Local delivery does not need NATS.
	b.Publish(t.Context(), fanout.Event{Device: dev, Kind: fanout.Revoked})
	waitKind(t, ch, fanout.Revoked)

	fanouttest.StartNATS(t, srv.Port)
	waitHealth(t, a, true)
	waitHealth(t, b, true)
	flush(t, b)
	drain(ch)
	a.Publish(t.Context(), fanout.Event{Device: dev, Kind: fanout.PreKeysLow})
	waitKind(t, ch, fanout.PreKeysLow)
}

// TestNATSStartsWithoutServer: a node started while NATS is down runs
// unhealthy (polling) and connects when the server appears.
func TestNATSStartsWithoutServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := newNATS(t, fmt.Sprintf("nats://127.0.0.1:%d", port), fanouttest.UniquePrefix(), 20*time.Millisecond)
	if n.Healthy() {
		t.Fatal("healthy without a server")
	}
	dev := addr.Address{User: "erin", Device: 2}
	ch := make(chan fanout.Event, 64)
	sub(t, n, dev, ch)
	if e := recv(t, ch); e.Kind != fanout.Mail {
		t.Fatalf("got %+v", e)
	}
	fanouttest.StartNATS(t, port)
	waitHealth(t, n, true)
}

func TestNATSRefusesBadInput(t *testing.T) {
	if _, err := fanout.NewNATS("nats://127.0.0.1:1", fanout.NATSOptions{Prefix: "a.*"}); err == nil {
		t.Error("wildcard prefix accepted")
	}
	if _, err := fanout.NewNATS("nats://127.0.0.1:1", fanout.NATSOptions{Prefix: "a..b"}); err == nil {
		t.Error("empty token in prefix accepted")
	}
	n := newNATS(t, "nats://127.0.0.1:1", fanouttest.UniquePrefix(), 0)
	if err := n.Publish(context.Background(), fanout.Event{Device: addr.Address{User: "a>b", Device: 1}}); err == nil {
		t.Error("invalid device published")
	}
	if _, err := n.Subscribe(addr.Address{User: "x", Device: 0}, func(fanout.Event) {}); err == nil {
		t.Error("invalid device subscribed")
	}
}

func drain(ch chan fanout.Event) {
	for len(ch) > 0 {
		<-ch
	}
}

// waitKind receives until an event of kind k arrives (polling wake-ups
// may come first).
func waitKind(t *testing.T, ch chan fanout.Event, k fanout.Kind) {
	t.Helper()
	for {
		if e := recv(t, ch); e.Kind == k {
			return
		}
	}
}
