package clustertest

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
)

var testPIN = []byte("482916")

// deliveryTimeout bounds how long a test waits for one message.
const deliveryTimeout = 30 * time.Second

// newClient registers user through server (comma-separated node URLs, in
// order of preference) with a fresh vault.
func newClient(t *testing.T, c *cluster, user, server string) *client.Client {
	t.Helper()
	cl := &client.Client{Home: filepath.Join(t.TempDir(), user), Server: server, CAFile: c.CAFile}
	if err := cl.Create(t.Context(), testPIN); err != nil {
		t.Fatalf("Create(%s): %v", user, err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.Register(t.Context(), user, client.RegisterOptions{}); err != nil {
		t.Fatalf("Register(%s): %v", user, err)
	}
	return cl
}

// arrival is a message received, and when.
type arrival struct {
	text string
	at   time.Time
}

// inbox is what one client's Listen received.
type inbox struct {
	arrivals chan arrival

	mu     sync.Mutex
	counts map[string]int // message texts, how many times each
}

// listen runs c.Listen until the test ends, from its first EventSynced.
func listen(t *testing.T, c *client.Client) *inbox {
	t.Helper()
	in := &inbox{arrivals: make(chan arrival, 10_000), counts: make(map[string]int)}
	synced := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Listen(ctx, func(e client.Event) {
			switch e.Kind {
			case client.EventSynced:
				once.Do(func() { close(synced) })
			case client.EventMessage:
				in.add(e.Message.Text)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen: %v", err)
		}
	})
	select {
	case <-synced:
	case err := <-done:
		t.Fatalf("Listen: %v", err)
	case <-time.After(deliveryTimeout):
		t.Fatal("Listen: no EventSynced")
	}
	return in
}

func (in *inbox) add(text string) {
	at := time.Now()
	in.mu.Lock()
	in.counts[text]++
	in.mu.Unlock()
	in.arrivals <- arrival{text, at}
}

// next returns the next message received.
func (in *inbox) next(t *testing.T) arrival {
	t.Helper()
	select {
	case a := <-in.arrivals:
		return a
	case <-time.After(deliveryTimeout):
		t.Fatalf("no message within %v", deliveryTimeout)
		return arrival{}
	}
}

// waitAll waits until every text in want was received, and fails t if
// any was received more than once.
func (in *inbox) waitAll(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(deliveryTimeout)
	for {
		in.mu.Lock()
		var missing, twice []string
		for _, w := range want {
			switch n := in.counts[w]; {
			case n == 0:
				missing = append(missing, w)
			case n > 1:
				twice = append(twice, w)
			}
		}
		in.mu.Unlock()
		if len(twice) > 0 {
			t.Fatalf("received more than once: %q", twice)
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages never arrived: %q", len(missing), len(want), missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// historyOnce checks that c's history with user holds each text of want
// exactly once.
func historyOnce(t *testing.T, c *client.Client, user string, want []string) {
	t.Helper()
	h, err := c.History(t.Context(), user)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	seen := make(map[string]int)
	for _, m := range h {
		seen[m.Text]++
	}
	for _, w := range want {
		if seen[w] != 1 {
			t.Errorf("history with %s holds %q %d times, want once", user, w, seen[w])
		}
	}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
