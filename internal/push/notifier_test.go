package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	alice  = addr.Address{User: "alice", Device: 1}
	bob    = addr.Address{User: "bob", Device: 1}
)

// memStore is store.PushStore's window in memory, with the same rules.
type memStore struct {
	mu     sync.Mutex
	tokens map[addr.Address]store.PushToken
}

func newMemStore() *memStore { return &memStore{tokens: map[addr.Address]store.PushToken{}} }

func (s *memStore) set(dev addr.Address, platform, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[dev] = store.PushToken{Platform: platform, Token: token}
}

func (s *memStore) ClaimPush(_ context.Context, dev addr.Address, now time.Time, window time.Duration) (store.PushToken, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.tokens[dev]
	if !ok || !p.LastPush.IsZero() && now.Sub(p.LastPush) < window {
		return store.PushToken{}, false, nil
	}
	p.LastPush = now
	s.tokens[dev] = p
	return p, true, nil
}

func (s *memStore) ResetPush(_ context.Context, dev addr.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.tokens[dev]; ok {
		p.LastPush = time.Time{}
		s.tokens[dev] = p
	}
	return nil
}

// gateway is a fake push gateway called in memory (no sockets, so that
// it runs inside a synctest bubble). It verifies every request as the
// reference gateway does and records what it accepted.
type gateway struct {
	t       *testing.T
	v       *Verifier
	mu      sync.Mutex
	got     []map[string]any
	answers []int // statuses to answer with, in order; then 200
	hang    bool
}

func newGateway(t *testing.T) *gateway {
	v, err := NewVerifier(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{t: t, v: v}
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := g.v.Verify(r.Header, body); err != nil {
		g.t.Errorf("gateway: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	g.mu.Lock()
	hang := g.hang
	status := http.StatusOK
	if len(g.answers) > 0 {
		status, g.answers = g.answers[0], g.answers[1:]
	}
	if status == http.StatusOK && !hang {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			g.t.Errorf("gateway: body %q: %v", body, err)
		}
		g.got = append(g.got, m)
	}
	g.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
}

func (g *gateway) received() []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]any(nil), g.got...)
}

// roundTrip serves requests with a handler in memory.
type roundTrip struct{ h http.Handler }

func (rt roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	done := make(chan *http.Response, 1)
	go func() {
		w := httptest.NewRecorder()
		rt.h.ServeHTTP(w, r)
		done <- w.Result()
	}()
	select {
	case resp := <-done:
		return resp, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func newNotifier(t *testing.T, s Store, g *gateway, cfg Config) *Notifier {
	cfg.Gateway, cfg.Secret, cfg.Store = "https://gateway.test/push", secret, s
	cfg.Client = &http.Client{Transport: roundTrip{g}}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func wantStats(t *testing.T, n *Notifier, want Stats) {
	t.Helper()
	if got := n.Stats(); got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
}

// TestOncePerWindow: mail for a device reaches the gateway once per
// window however much arrives, with a body of the token and platform
// only; a device without a token is never pushed.
func TestOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, g := newMemStore(), newGateway(t)
		s.set(alice, "fcm", "tok-alice")
		n := newNotifier(t, s, g, Config{})
		for range 5 {
			n.Mail(alice)
			n.Mail(bob)
			synctest.Wait()
		}
		if got := g.received(); len(got) != 1 {
			t.Fatalf("gateway got %d wake-ups in one window, want 1", len(got))
		}
		want := map[string]any{"platform": "fcm", "token": "tok-alice"}
		if m := g.received()[0]; len(m) != 2 || m["platform"] != want["platform"] || m["token"] != want["token"] {
			t.Fatalf("body = %v, want exactly %v", m, want)
		}
		time.Sleep(DefaultWindow - time.Millisecond)
		n.Mail(alice)
		synctest.Wait()
		if len(g.received()) != 1 {
			t.Fatal("a second wake-up within the window")
		}
		time.Sleep(time.Millisecond)
		n.Mail(alice)
		synctest.Wait()
		if len(g.received()) != 2 {
			t.Fatal("no wake-up once the window passed")
		}
		wantStats(t, n, Stats{Sent: 2, Coalesced: 10})
	})
}

// TestOnlineRestartsWindow: a device that connected since its last
// wake-up is woken at once by the next mail.
func TestOnlineRestartsWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, g := newMemStore(), newGateway(t)
		s.set(alice, "apns", "abcdef")
		n := newNotifier(t, s, g, Config{})
		n.Mail(alice)
		synctest.Wait()
		n.Online(alice)
		synctest.Wait()
		n.Mail(alice)
		synctest.Wait()
		if len(g.received()) != 2 {
			t.Fatalf("gateway got %d wake-ups, want 2", len(g.received()))
		}
	})
}

// TestRetries: server errors are retried with doubling waits, then given
// up; a refusal is not retried.
func TestRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, g := newMemStore(), newGateway(t)
		s.set(alice, "fcm", "a")
		s.set(bob, "fcm", "b")
		n := newNotifier(t, s, g, Config{})
		g.answers = []int{503, 500}
		start := time.Now()
		n.Mail(alice)
		synctest.Wait()
		time.Sleep(DefaultBackoff)
		synctest.Wait()
		if len(g.received()) != 0 {
			t.Fatal("sent before the second retry")
		}
		time.Sleep(2 * DefaultBackoff)
		synctest.Wait()
		if len(g.received()) != 1 || time.Since(start) != 3*DefaultBackoff {
			t.Fatalf("after %v: %d wake-ups", time.Since(start), len(g.received()))
		}
		wantStats(t, n, Stats{Sent: 1, Retried: 2})

		g.answers = []int{400}
		n.Mail(bob)
		time.Sleep(time.Hour)
		synctest.Wait()
		wantStats(t, n, Stats{Sent: 1, Retried: 2, Failed: 1})

		g.answers = []int{500, 500, 500, 500, 500}
		time.Sleep(DefaultWindow)
		n.Mail(alice)
		time.Sleep(time.Hour)
		synctest.Wait()
		wantStats(t, n, Stats{Sent: 1, Retried: 2 + DefaultAttempts - 1, Failed: 2})
	})
}

// TestHangingGateway: Mail returns at once whatever the gateway does; a
// request that hangs is cut at the timeout and retried.
func TestHangingGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, g := newMemStore(), newGateway(t)
		s.set(alice, "fcm", "a")
		g.hang = true
		n := newNotifier(t, s, g, Config{Attempts: 2})
		start := time.Now()
		for range 1000 {
			n.Mail(alice)
		}
		if time.Since(start) != 0 {
			t.Fatal("Mail waited")
		}
		time.Sleep(DefaultTimeout + DefaultBackoff + DefaultTimeout)
		synctest.Wait()
		wantStats(t, n, Stats{Failed: 1, Retried: 1, Coalesced: 999})
	})
}

// TestQueueBound: beyond the queue, wake-ups are dropped and counted.
func TestQueueBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, g := newMemStore(), newGateway(t)
		g.hang = true
		n := newNotifier(t, s, g, Config{Queue: 2, Workers: 1, Attempts: 1})
		for i := range 10 {
			d := addr.Address{User: "u", Device: addr.DeviceID(i + 1)}
			s.set(d, "fcm", "t")
			n.Mail(d)
			synctest.Wait() // the worker takes the first and hangs
		}
		if st := n.Stats(); st.Failed != 7 {
			t.Fatalf("stats = %+v, want 7 dropped (1 in flight, 2 queued)", st)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	s := newMemStore()
	for name, cfg := range map[string]Config{
		"no URL":       {Secret: secret, Store: s},
		"ftp URL":      {Gateway: "ftp://x/", Secret: secret, Store: s},
		"short secret": {Gateway: "https://x/", Secret: secret[:31], Store: s},
		"no store":     {Gateway: "https://x/", Secret: secret},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
