package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// Connection policy.
const (
	// minBackoff and maxBackoff bound Listen's wait between reconnects;
	// the wait doubles after each failure, with ±20% jitter.
	minBackoff = time.Second
	maxBackoff = time.Minute
	// keepalive is how often Listen pings an idle relay connection, and
	// pingTimeout how long it waits for the answer before reconnecting.
	keepalive   = 30 * time.Second
	pingTimeout = 10 * time.Second
)

// Sync connects to the relay, resumes interrupted uploads, sends the
// outbox, receives every message queued for this device, stores and
// acknowledges them, downloads the received attachments of at most
// AutoDownload bytes (EventDownloaded), and disconnects.
// It returns when the relay says the mailbox is drained (and has confirmed
// the acknowledgements), with the events in order: new messages, messages
// sent from the outbox, expiries, identity changes, and EventError for
// messages that could not be read.
//
// On an error the events so far are returned too; what was stored stays
// stored, and what was not acknowledged is delivered again next time.
// Sync fails with ErrListening while Listen or another Sync runs.
func (c *Client) Sync(ctx context.Context) ([]Event, error) {
	if !c.recvMu.TryLock() {
		return nil, ErrListening
	}
	defer c.recvMu.Unlock()
	var mu sync.Mutex
	var events []Event
	c.setEmitter(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	defer c.setEmitter(nil)
	c.announceUnread()
	err := c.syncOnce(ctx)
	mu.Lock()
	defer mu.Unlock()
	c.markAnnounced(events)
	return events, err
}

func (c *Client) syncOnce(ctx context.Context) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer c.disconnect(conn)
	responded, err := c.process(ctx, conn, true)
	if err != nil {
		return err
	}
	if err := conn.Settled(ctx); err != nil {
		return relayErr(err)
	}
	c.autoDownload(ctx)
	if responded {
		// Someone took this device's one-time prekeys.
		if err := c.checkPreKeys(ctx); err != nil {
			c.emitEvent(Event{Kind: EventError, Err: err})
		}
	}
	return nil
}

// connect dials the live connection, then maintains prekeys and sends the
// outbox over it. Failures of the last two are reported as events.
func (c *Client) connect(ctx context.Context) (*relay.Conn, error) {
	conn, err := c.dial(ctx, relay.DialOptions{})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.live = conn
	c.mu.Unlock()
	if _, err := c.RefreshPolicy(ctx); err != nil {
		c.emitEvent(Event{Kind: EventError, Err: err})
	}
	c.sweepQuietly(ctx)
	if err := c.maintainPreKeys(ctx); err != nil {
		c.log.Warn("prekey maintenance failed", "err", err)
		c.emitEvent(Event{Kind: EventError, Err: err})
	}
	if err := c.resumeUploads(ctx); err != nil {
		c.emitEvent(Event{Kind: EventError, Err: err})
	}
	errs, err := c.flush(ctx, conn)
	c.reportFlush(errs)
	if err != nil {
		c.disconnect(conn)
		return nil, err
	}
	return conn, nil
}

// reportFlush reports the outcomes of a flush that no caller waits for.
func (c *Client) reportFlush(errs map[addr.UserID]error) {
	for _, e := range errs {
		if !errors.Is(e, ErrIdentityChanged) && !errors.Is(e, ErrUnknownUser) { // already reported
			c.emitEvent(Event{Kind: EventError, Err: e})
		}
	}
}

func (c *Client) disconnect(conn *relay.Conn) {
	c.mu.Lock()
	if c.live == conn {
		c.live = nil
	}
	c.mu.Unlock()
	conn.Close()
}

// process handles what the relay pushes until the connection ends, ctx
// ends, or (untilSynced) the mailbox is drained. Deliveries are stored
// before they are acknowledged; those already waiting are stored
// together. responded reports that a new session started on this
// device's prekeys.
func (c *Client) process(ctx context.Context, conn *relay.Conn, untilSynced bool) (responded bool, err error) {
	p := &processor{c: c, conn: conn}
	for {
		f, err := p.next(ctx)
		if err != nil {
			return p.responded, err
		}
		switch f := f.(type) {
		case *wire.Deliver:
			if err := p.deliveries(ctx, f); err != nil {
				return p.responded, err
			}
		case *wire.PreKeyStatus:
			if err := c.replenish(ctx, f); err != nil {
				c.emitEvent(Event{Kind: EventError, Err: err})
			}
		case *wire.Synced:
			if err := p.sendAcks(ctx); err != nil {
				return p.responded, err
			}
			if untilSynced {
				return p.responded, nil
			}
			if !p.synced { // the relay sends Synced once, but tolerate more
				p.synced = true
				c.emitEvent(Event{Kind: EventSynced})
			}
		}
	}
}

// processor is the state of one connection's process loop.
type processor struct {
	c         *Client
	conn      *relay.Conn
	held      wire.Frame // read ahead while batching deliveries
	acks      []uint64
	synced    bool
	responded bool
}

// next returns the next frame from the relay.
func (p *processor) next(ctx context.Context) (wire.Frame, error) {
	if f := p.held; f != nil {
		p.held = nil
		return f, nil
	}
	select {
	case f, ok := <-p.conn.Incoming():
		if !ok {
			return nil, errors.Join(relayErr(p.conn.Err()), p.sendAcks(ctx))
		}
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// deliveries stores first and the deliveries waiting behind it, then
// acknowledges them.
func (p *processor) deliveries(ctx context.Context, first *wire.Deliver) error {
	batch := []*wire.Deliver{first}
	for len(batch) < p.batchMax() && p.held == nil && len(p.conn.Incoming()) > 0 {
		f, ok := <-p.conn.Incoming()
		if !ok {
			break
		}
		if d, isDeliver := f.(*wire.Deliver); isDeliver {
			batch = append(batch, d)
		} else {
			p.held = f
		}
	}
	results, err := p.c.receive(batch)
	if err != nil {
		return errors.Join(err, p.sendAcks(ctx))
	}
	files := false
	for i, r := range results {
		p.responded = p.responded || r.responded
		for _, e := range r.events {
			p.c.emitEvent(e)
			files = files || (e.Message != nil && e.Message.Attachment != nil)
		}
		if !p.c.acksDropped() {
			p.acks = append(p.acks, batch[i].Seq)
		}
	}
	if files {
		p.c.wakeTransfers() // Listen's worker downloads those below AutoDownload
	}
	if len(p.conn.Incoming()) == 0 || len(p.acks) >= p.batchMax() {
		return p.sendAcks(ctx)
	}
	return nil
}

// batchMax is the most deliveries stored in one transaction and the
// most acknowledgements held back: half the relay's delivery window, so
// that the relay sends the next half while this one is stored, and
// within maxReceiveBatch.
func (p *processor) batchMax() int {
	w := int(p.conn.Welcome().Window)
	if w == 0 {
		return maxReceiveBatch
	}
	return max(1, min(w/2, maxReceiveBatch))
}

func (p *processor) sendAcks(ctx context.Context) error {
	if len(p.acks) == 0 {
		return nil
	}
	err := p.conn.Ack(ctx, p.acks)
	p.acks = p.acks[:0]
	return relayErr(err)
}

// Listen stays connected to the relay until ctx ends, calling fn with each
// event as it happens: first the backlog (then EventSynced), then live
// messages. Messages are stored and acknowledged as in Sync; the outbox is
// sent on every (re)connection, and Send uses Listen's connection.
// Interrupted uploads resume, and received attachments of at most
// AutoDownload bytes are downloaded (EventDownloaded), in the background:
// at every (re)connection, as such messages arrive, and at every
// keepalive (30 s).
//
// fn is called from one goroutine, one event at a time and in order; it
// may call the Client's methods (Send, History ...). A slow fn delays
// later events but not storage: every message is in the vault before its
// event, so History is the record and events are notifications.
//
// When the connection fails, Listen reports an EventError (wrapping
// ErrUnreachable) and reconnects, waiting 1 s, then longer, up to a minute.
// It returns ctx's error when ctx ends, or at once on errors retrying
// cannot cure: ErrRevoked, ErrUntrusted, ErrBadConfig, ErrNotRegistered,
// ErrNotOpen, a vault failure, or ErrDisplaced (a newer connection of
// this device took over; reconnecting would displace it in turn). It fails with ErrListening if Sync or
// another Listen runs.
func (c *Client) Listen(ctx context.Context, fn func(Event)) error {
	if fn == nil {
		return ErrInvalid
	}
	if !c.recvMu.TryLock() {
		return ErrListening
	}
	defer c.recvMu.Unlock()
	q := newEventQueue(fn, c.markAnnounced)
	defer q.close()
	c.setEmitter(q.push)
	defer c.setEmitter(nil)
	defer c.startTransfers(ctx)() // uploads and automatic downloads, beside the messages
	defer c.startSweeper(ctx)()   // disappearing messages and retention
	c.announceUnread()
	backoff := c.minBackoff()
	for {
		connected, err := c.listenOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		q.push(Event{Kind: EventError, Err: err})
		if connected {
			backoff = c.minBackoff()
		}
		if !c.wait(ctx, jitter(backoff)) {
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (c *Client) listenOnce(ctx context.Context) (connected bool, err error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return false, err
	}
	defer c.disconnect(conn)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.keepAlive(ctx, conn)
	_, err = c.process(ctx, conn, false)
	return true, err
}

// keepAlive pings the relay while the connection is idle, and closes the
// connection if the relay stops answering (process then returns).
func (c *Client) keepAlive(ctx context.Context, conn *relay.Conn) {
	t := time.NewTicker(keepalive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.log.Info("relay stopped answering; reconnecting")
				conn.Close()
				return
			}
			c.wakeTransfers() // what waits for the relay's HTTP side (a refusal for now) is retried
		}
	}
}

// retryable reports whether Listen should reconnect after err.
func retryable(err error) bool {
	var re *RelayError
	if errors.Is(err, ErrDisplaced) {
		return false
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRateLimited) || errors.As(err, &re) ||
		errors.Is(err, relay.ErrProtocol)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// wait sleeps d, or until ctx ends (false).
func (c *Client) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Client) minBackoff() time.Duration {
	if c.backoff > 0 {
		return c.backoff
	}
	return minBackoff
}

// maxBacklog bounds the events kept while neither Sync nor Listen runs;
// the oldest are dropped beyond it (what they report is in the vault).
const maxBacklog = 1024

// setEmitter directs events to f (nil: keep them for the next Sync or
// Listen), first handing f the events kept so far.
func (c *Client) setEmitter(f func(Event)) {
	c.mu.Lock()
	c.emit = f
	var kept []Event
	if f != nil {
		kept, c.backlog = c.backlog, nil
	}
	c.mu.Unlock()
	for _, e := range kept {
		f(e)
	}
}

// eventQueue calls fn with each pushed event on its own goroutine, in
// order, without ever blocking the pusher, and after with each batch of
// events fn has returned from.
type eventQueue struct {
	fn     func(Event)
	after  func([]Event)
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

func newEventQueue(fn func(Event), after func([]Event)) *eventQueue {
	q := &eventQueue{fn: fn, after: after, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	if !q.closed {
		q.queue = append(q.queue, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		batch, closed := q.queue, q.closed
		q.queue = nil
		q.mu.Unlock()
		for _, e := range batch {
			q.fn(e)
		}
		if len(batch) > 0 {
			q.after(batch)
		}
		if closed && len(batch) == 0 {
			return
		}
		if len(batch) == 0 {
			<-q.wake
		}
	}
}

// close delivers what is queued, then stops.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}
