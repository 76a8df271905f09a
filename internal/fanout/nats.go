package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"parley.dev/internal/addr"
)

// NATS spreads wake-ups across relay nodes through a NATS server.
//
// Subjects: one per device, PREFIX.USER.DEVICE, where USER is the user ID
// with '.' written as '~' (user IDs never hold '~', and '.' separates NATS
// tokens) and DEVICE the decimal device number. A message is one byte, the
// Kind: never an envelope, a key or anything a client sent.
//
// A node subscribes to a device's subject while at least one of its
// connections serves that device, and delivers locally published events
// directly (the NATS connection does not echo them back), so wake-ups
// between connections of one node do not depend on NATS at all.
//
// Losing wake-ups is allowed (see the package doc), but not for long: the
// connection reconnects by itself, forever, and while it is down every
// local subscriber gets a Mail wake-up each Options.Poll, so that its
// connection re-reads its mailbox (the store is the source of truth). On
// reconnecting, and after NATS dropped messages because this node fell
// behind (a slow consumer), every local subscriber gets one Mail wake-up
// for whatever it missed. Healthy and Changed tell the relay about the
// outage, for example to check for revoked devices itself meanwhile.
//
// A NATS is safe for concurrent use; make one with NewNATS.
type NATS struct {
	nc     *nats.Conn
	prefix string
	poll   time.Duration
	log    *slog.Logger
	local  *Memory

	mu     sync.Mutex
	subs   map[addr.Address]*natsSub
	closed bool

	msgs    chan *nats.Msg
	resync  chan struct{} // capacity 1: wake every local subscriber
	stop    chan struct{}
	stopped sync.WaitGroup

	up       atomic.Bool
	ready    chan struct{} // closed once NewNATS has set up from the first connect
	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced on every health change
}

// natsSub is this node's one NATS subscription for a device, shared by
// its local subscribers.
type natsSub struct {
	sub   *nats.Subscription
	count int
}

var _ Fanout = (*NATS)(nil)

// NATSOptions configures NewNATS. Zero fields take the defaults named.
type NATSOptions struct {
	// Prefix starts every subject (default DefaultNATSPrefix). Relays that
	// share a NATS server and a store use one prefix; separate
	// deployments (or tests) on one server use different ones.
	Prefix string
	// Name names the connection in the server's monitoring (default
	// "parleyd").
	Name string
	// Poll is how often local subscribers are woken while NATS is
	// unreachable (default DefaultPoll).
	Poll time.Duration
	// Logger receives connection events; nil is silent.
	Logger *slog.Logger
}

const (
	// DefaultNATSPrefix is the default subject prefix.
	DefaultNATSPrefix = "parley.wake"
	// DefaultPoll is how often a connection re-reads its mailbox while
	// wake-ups from other nodes may be lost.
	DefaultPoll = time.Second
	// natsQueue is how many received wake-ups may wait for dispatch;
	// beyond it NATS drops them and every local subscriber is woken.
	natsQueue = 8192
	// natsPing bounds how long a silently dead server goes unnoticed
	// (about natsPing × natsMaxPings). A stopped server is noticed at once.
	natsPing     = 5 * time.Second
	natsMaxPings = 2
	// natsReconnectWait is the pause between reconnection attempts
	// (plus up to a second of jitter).
	natsReconnectWait = time.Second
	// natsFlushTimeout bounds the wait for the server to confirm
	// subscriptions.
	natsFlushTimeout = 2 * time.Second
)

// NewNATS connects to the NATS server(s) at url (comma-separated
// nats://host:port URLs). If no server answers, it still returns a NATS,
// unhealthy and retrying in the background: a relay node can start while
// NATS is down and runs on polling until it is back. url must parse.
func NewNATS(url string, opt NATSOptions) (*NATS, error) {
	n := &NATS{
		prefix:  cmpOr(opt.Prefix, DefaultNATSPrefix),
		poll:    opt.Poll,
		log:     opt.Logger,
		local:   NewMemory(),
		subs:    make(map[addr.Address]*natsSub),
		msgs:    make(chan *nats.Msg, natsQueue),
		resync:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
		changed: make(chan struct{}),
		ready:   make(chan struct{}),
	}
	if n.poll <= 0 {
		n.poll = DefaultPoll
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if err := checkPrefix(n.prefix); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url,
		nats.Name(cmpOr(opt.Name, "parleyd")),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.PingInterval(natsPing),
		nats.MaxPingsOutstanding(natsMaxPings),
		nats.ConnectHandler(func(c *nats.Conn) { n.setHealth(c, true) }),
		nats.ReconnectHandler(func(c *nats.Conn) { n.setHealth(c, true) }),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) { n.setHealth(c, false, "err", err) }),
		nats.ClosedHandler(func(*nats.Conn) { n.up.Store(false) }),
		nats.ErrorHandler(n.asyncError),
	)
	if err != nil && !errors.Is(err, nats.ErrNoServers) {
		close(n.ready)
		return nil, fmt.Errorf("fanout: nats: %w", err)
	}
	n.nc = nc
	if nc.IsConnected() {
		n.up.Store(true) // nothing was missed: no wake-up round
	} else {
		n.log.Warn("fanout: NATS unreachable; polling until it is back", "url", nc.Opts.Url)
	}
	close(n.ready)
	n.stopped.Add(2)
	go n.dispatch()
	go n.pollLoop()
	return n, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkPrefix refuses a prefix that is not a plain NATS subject.
func checkPrefix(p string) error {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("fanout: NATS subject prefix %q: want dot-separated tokens without wildcards", p)
		}
	}
	return nil
}

// subject is a device's subject.
func (n *NATS) subject(a addr.Address) string {
	return n.prefix + "." + strings.ReplaceAll(string(a.User), ".", "~") + "." + strconv.FormatUint(uint64(a.Device), 10)
}

// parseSubject reverses subject; ok is false for anything else.
func (n *NATS) parseSubject(s string) (addr.Address, bool) {
	rest, ok := strings.CutPrefix(s, n.prefix+".")
	if !ok {
		return addr.Address{}, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return addr.Address{}, false
	}
	d, err := strconv.ParseUint(rest[i+1:], 10, 32)
	a := addr.Address{User: addr.UserID(strings.ReplaceAll(rest[:i], "~", ".")), Device: addr.DeviceID(d)}
	return a, err == nil && a.Valid()
}

// Healthy reports whether wake-ups from other nodes are arriving: the
// connection to NATS is up.
func (n *NATS) Healthy() bool { return n.up.Load() }

// Changed returns a channel that is closed at the next change of Healthy.
func (n *NATS) Changed() <-chan struct{} {
	n.changeMu.Lock()
	defer n.changeMu.Unlock()
	return n.changed
}

// setHealth records a change of the connection c (NATS calls back with
// it, possibly before NewNATS has stored it in n).
func (n *NATS) setHealth(c *nats.Conn, up bool, logArgs ...any) {
	<-n.ready // the first connect's callback must not count as a change
	if n.up.Swap(up) == up {
		return
	}
	if up {
		n.log.Info("fanout: NATS connected")
		// Events sent while we were away are lost: once the server has
		// our subscriptions again (the client resent them; a round trip
		// confirms), wake everyone to re-read.
		c.FlushTimeout(natsFlushTimeout)
		n.wakeAll()
	} else {
		n.log.Warn("fanout: NATS connection lost; polling until it is back", logArgs...)
	}
	n.changeMu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.changeMu.Unlock()
}

// asyncError handles errors NATS reports outside any call. A slow
// consumer means wake-ups were dropped: wake everyone instead.
func (n *NATS) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		n.wakeAll()
		return
	}
	n.log.Warn("fanout: NATS", "err", err)
}

// wakeAll asks the dispatcher to send every local subscriber a Mail.
func (n *NATS) wakeAll() {
	select {
	case n.resync <- struct{}{}:
	default:
	}
}

// Publish delivers e to this node's subscribers at once and sends it to
// the other nodes. While NATS is unreachable, the NATS client keeps the
// message (up to its reconnect buffer) and sends it on reconnecting; an
// error then only means other nodes learn of e from their own polling.
func (n *NATS) Publish(ctx context.Context, e Event) error {
	if !e.Device.Valid() {
		return fmt.Errorf("fanout: invalid device %q", e.Device.String())
	}
	if err := n.local.Publish(ctx, e); err != nil {
		return err
	}
	if err := n.nc.Publish(n.subject(e.Device), []byte{byte(e.Kind)}); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return ErrClosed
		}
		return fmt.Errorf("fanout: nats publish: %w", err)
	}
	return nil
}

// Subscribe calls h for every event for device a, from this node or any
// other. While NATS is up, an event published anywhere after Subscribe
// returns reaches h: a new subscription waits for the server to confirm
// it (one round trip), so that a caller who reads its mailbox next
// misses nothing in between.
func (n *NATS) Subscribe(a addr.Address, h Handler) (func(), error) {
	unsub, fresh, err := n.subscribe(a, h)
	if err == nil && fresh && n.nc.IsConnected() {
		n.nc.FlushTimeout(natsFlushTimeout) // a failure only costs a wake-up
	}
	return unsub, err
}

func (n *NATS) subscribe(a addr.Address, h Handler) (unsub func(), fresh bool, err error) {
	if !a.Valid() {
		return nil, false, fmt.Errorf("fanout: invalid device %q", a.String())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false, ErrClosed
	}
	s := n.subs[a]
	if s == nil {
		fresh = true
		sub, err := n.nc.ChanSubscribe(n.subject(a), n.msgs)
		if err != nil {
			if errors.Is(err, nats.ErrConnectionClosed) {
				return nil, false, ErrClosed
			}
			return nil, false, fmt.Errorf("fanout: nats subscribe: %w", err)
		}
		s = &natsSub{sub: sub}
		n.subs[a] = s
	}
	unsubLocal, err := n.local.Subscribe(a, h)
	if err != nil {
		return nil, false, err
	}
	s.count++
	var once sync.Once
	return func() {
		once.Do(func() {
			unsubLocal()
			n.release(a)
		})
	}, fresh, nil
}

// release drops one local subscriber of a, and the NATS subscription
// with the last.
func (n *NATS) release(a addr.Address) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.subs[a]
	if s == nil {
		return
	}
	if s.count--; s.count == 0 {
		delete(n.subs, a)
		if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Debug("fanout: nats unsubscribe", "err", err)
		}
	}
}

// Devices lists the devices with a subscriber on this node.
func (n *NATS) Devices() []addr.Address { return n.local.Devices() }

// dispatch hands received wake-ups to the local subscribers and carries
// out resyncs.
func (n *NATS) dispatch() {
	defer n.stopped.Done()
	for {
		select {
		case m := <-n.msgs:
			a, ok := n.parseSubject(m.Subject)
			if ok && len(m.Data) == 1 {
				n.local.Publish(context.Background(), Event{Device: a, Kind: Kind(m.Data[0])})
			}
		case <-n.resync:
			n.local.wakeAll()
		case <-n.stop:
			return
		}
	}
}

// pollLoop wakes every local subscriber each Poll while NATS is down.
func (n *NATS) pollLoop() {
	defer n.stopped.Done()
	t := time.NewTicker(n.poll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if !n.Healthy() {
				n.wakeAll()
			}
		case <-n.stop:
			return
		}
	}
}

// Close unsubscribes everything and closes the NATS connection.
func (n *NATS) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.subs = nil
	n.mu.Unlock()
	n.local.Close()
	n.nc.Close()
	close(n.stop)
	n.stopped.Wait()
	return nil
}

// Flush waits until the server has processed everything sent so far
// (subscriptions included), or timeout.
func (n *NATS) Flush(timeout time.Duration) error { return n.nc.FlushTimeout(timeout) }
