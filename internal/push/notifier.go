package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// Defaults of Config.
const (
	// DefaultWindow is the coalescing window: at most one wake-up per
	// device per window while its mail waits.
	DefaultWindow = 30 * time.Second
	// DefaultQueue bounds the devices waiting for a wake-up or a retry.
	DefaultQueue = 4096
	// DefaultWorkers is how many requests to the gateway run at once.
	DefaultWorkers = 4
	// DefaultTimeout bounds one request to the gateway.
	DefaultTimeout = 10 * time.Second
	// DefaultAttempts is how many times one wake-up is tried.
	DefaultAttempts = 5
	// DefaultBackoff is the wait before the first retry; it doubles per
	// retry up to MaxBackoff.
	DefaultBackoff = time.Second
	// MaxBackoff caps the wait between retries.
	MaxBackoff = 30 * time.Second
)

// Store is what a Notifier needs of the relay's store.
type Store interface {
	ClaimPush(ctx context.Context, dev addr.Address, now time.Time, window time.Duration) (store.PushToken, bool, error)
	ResetPush(ctx context.Context, dev addr.Address) error
}

// Config configures a Notifier. Zero fields take the defaults named
// beside them.
type Config struct {
	// Gateway is the push gateway's URL (required; https, or http for a
	// gateway on the same host).
	Gateway string
	// Secret signs every request (required, at least MinSecret bytes).
	// It is a secret: never log it.
	Secret []byte
	// Store holds tokens and the shared window (required).
	Store Store
	// Window is the coalescing window (DefaultWindow).
	Window time.Duration
	// Queue bounds the devices waiting (DefaultQueue); beyond it a
	// wake-up is dropped and counted as failed.
	Queue int
	// Workers is how many requests run at once (DefaultWorkers).
	Workers int
	// Timeout bounds one request (DefaultTimeout).
	Timeout time.Duration
	// Attempts is how many times a wake-up is tried (DefaultAttempts).
	Attempts int
	// Backoff is the first retry's wait (DefaultBackoff), doubled per
	// retry up to MaxBackoff.
	Backoff time.Duration
	// Client makes the requests (default: a client with no redirects).
	Client *http.Client
	// Logger receives failures; nil is silent. It never sees tokens.
	Logger *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Stats counts a Notifier's outcomes. Each wake-up asked for ends in
// exactly one of Sent, Failed or Coalesced (once its retries are done).
type Stats struct {
	Sent      int64 // accepted by the gateway
	Failed    int64 // given up after its attempts, refused, or dropped at a full queue
	Coalesced int64 // not sent: the device was woken within the window, or has no token
	Retried   int64 // attempts after a failure
}

// Notifier sends wake-ups to the push gateway on its own goroutines. Mail
// and Online never block. Safe for concurrent use; make one with New and
// stop it with Close.
type Notifier struct {
	cfg    Config
	url    string
	log    *slog.Logger
	jobs   chan job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	waiting map[addr.Address]bool // devices with a wake-up queued (not retries)
	closed  bool

	sent, failed, coalesced, retried atomic.Int64
}

// job is one unit of work: a wake-up (attempt >= 1) or a reset (0).
type job struct {
	dev     addr.Address
	attempt int
	token   store.PushToken // set on retries: the claim was made
}

// New checks cfg and starts a Notifier.
func New(cfg Config) (*Notifier, error) {
	u, err := url.Parse(cfg.Gateway)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("push: gateway URL %q must be https://host[:port]/path", cfg.Gateway)
	case len(cfg.Secret) < MinSecret:
		return nil, fmt.Errorf("push: secret of %d bytes, want at least %d", len(cfg.Secret), MinSecret)
	case cfg.Store == nil:
		return nil, errors.New("push: no store")
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	cfg.Window = orDuration(cfg.Window, DefaultWindow)
	cfg.Timeout = orDuration(cfg.Timeout, DefaultTimeout)
	cfg.Backoff = orDuration(cfg.Backoff, DefaultBackoff)
	cfg.Queue = orInt(cfg.Queue, DefaultQueue)
	cfg.Workers = orInt(cfg.Workers, DefaultWorkers)
	cfg.Attempts = orInt(cfg.Attempts, DefaultAttempts)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n := &Notifier{cfg: cfg, url: u.String(), log: cfg.Logger, jobs: make(chan job, cfg.Queue),
		waiting: make(map[addr.Address]bool)}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		n.wg.Go(n.work)
	}
	return n, nil
}

// Mail asks for a wake-up of dev, whose mailbox just got an envelope
// while it had no connection here. A device already waiting for one is
// not queued twice.
func (n *Notifier) Mail(dev addr.Address) {
	n.mu.Lock()
	if n.closed || n.waiting[dev] {
		n.mu.Unlock()
		if !n.closed {
			n.coalesced.Add(1)
		}
		return
	}
	n.waiting[dev] = true
	n.mu.Unlock()
	if !n.enqueue(job{dev: dev, attempt: 1}) {
		n.done(dev)
		n.failed.Add(1)
		n.log.Warn("push: queue full; wake-up dropped", "device", dev.String())
	}
}

// Online tells the Notifier that dev connected: its window restarts, so
// mail stored after it leaves may wake it at once.
func (n *Notifier) Online(dev addr.Address) {
	n.enqueue(job{dev: dev})
}

func (n *Notifier) enqueue(j job) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	select {
	case n.jobs <- j:
		return true
	default:
		return false
	}
}

func (n *Notifier) done(dev addr.Address) {
	n.mu.Lock()
	delete(n.waiting, dev)
	n.mu.Unlock()
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Failed: n.failed.Load(), Coalesced: n.coalesced.Load(), Retried: n.retried.Load()}
}

// Close stops the Notifier: requests in flight are cancelled, queued and
// scheduled ones dropped. It waits for the workers.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

func (n *Notifier) work() {
	for {
		select {
		case j := <-n.jobs:
			n.run(j)
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Notifier) run(j job) {
	if j.attempt == 0 {
		if err := n.cfg.Store.ResetPush(n.ctx, j.dev); err != nil && n.ctx.Err() == nil {
			n.log.Warn("push: reset window", "device", j.dev.String(), "err", err)
		}
		return
	}
	if j.attempt == 1 {
		n.done(j.dev) // from here on, new mail may queue another wake-up (the window decides)
		p, ok, err := n.cfg.Store.ClaimPush(n.ctx, j.dev, n.cfg.Now(), n.cfg.Window)
		switch {
		case err != nil:
			if n.ctx.Err() == nil {
				n.failed.Add(1)
				n.log.Warn("push: claim wake-up", "device", j.dev.String(), "err", err)
			}
			return
		case !ok:
			n.coalesced.Add(1)
			return
		case (Request{Platform: p.Platform, Token: p.Token}).check() != nil:
			n.failed.Add(1) // stored by an older relay, or by hand: never retried
			n.log.Warn("push: stored token is malformed", "device", j.dev.String())
			return
		}
		j.token = p
	}
	n.attempt(j)
}

// attempt makes one request and schedules a retry if it may succeed later.
func (n *Notifier) attempt(j job) {
	status, err := n.post(j.token)
	switch {
	case err == nil && status/100 == 2:
		n.sent.Add(1)
		return
	case n.ctx.Err() != nil:
		return
	case err == nil && !retryable(status):
		n.failed.Add(1)
		n.log.Warn("push: gateway refused a wake-up", "device", j.dev.String(), "status", status)
		return
	case j.attempt >= n.cfg.Attempts:
		n.failed.Add(1)
		n.log.Warn("push: wake-up failed; giving up", "device", j.dev.String(), "attempts", j.attempt, "status", status, "err", err)
		return
	}
	n.retried.Add(1)
	j.attempt++
	wait := min(n.cfg.Backoff<<(j.attempt-2), MaxBackoff)
	n.wg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			if !n.enqueue(j) {
				n.failed.Add(1)
			}
		case <-n.ctx.Done():
		}
	})
}

// retryable reports whether a gateway answer may change on retry:
// timeouts, rate limits and server errors.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// post sends one signed request and returns the gateway's status.
func (n *Notifier) post(p store.PushToken) (int, error) {
	body, err := Request{Platform: p.Platform, Token: p.Token}.Marshal()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	Sign(req.Header, n.cfg.Secret, n.cfg.Now(), body)
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return 0, errors.New("gateway unreachable") // the URL error may quote the request; keep logs plain
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
