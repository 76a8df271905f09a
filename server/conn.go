package server

// A device's WebSocket, from the relay's side. The transport (TLS,
// framing, readiness, coalesced writes) is server/internal/wsconn: an idle
// connection has no goroutine. What runs per connection here is short
// lived: the handler of each batch of frames read together (one store
// call for all its submissions, one for all its acks), a delivery loop
// while the mailbox has unsent envelopes, and timers.

import (
	"errors"
	"math"
	"net/http"
	"sync"

	"github.com/gobwas/ws"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
	"parley.dev/server/internal/wsconn"
)

// handleWebSocket authenticates the upgrade (before any mailbox is
// touched), applies the connection caps and starts the connection.
func (r *relay) handleWebSocket(w http.ResponseWriter, req *http.Request) {
	if r.conns.full() {
		r.metrics.connRefused.Add(1)
		r.writeError(w, errConnLimit)
		return
	}
	p, werr := r.proofOf(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	dev, werr := r.verifyDevice(req.Context(), req, p, nil)
	if werr == nil {
		werr = r.allowDevice(dev.Address)
	}
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	wc, werr := r.upgrade(w, req)
	if werr != nil {
		return
	}
	c := &conn{r: r, ws: wc, addr: dev.Address, quietAcks: req.URL.Query().Get(wire.QuietAcksQuery) == "1"}
	displaced, werr := r.conns.add(c)
	if werr != nil {
		if werr.Code == wire.CodeConnLimit {
			r.metrics.connRefused.Add(1)
		}
		r.metrics.reject(werr.Code)
		wc.Write(func(b []byte) ([]byte, error) { return wire.Append(b, werr) })
		wc.Close(statusTryAgainLater, werr.Detail)
		return
	}
	if displaced != nil {
		r.metrics.connDisplaced.Add(1)
		displaced.closeWith(errDisplaced, ws.StatusPolicyViolation)
	}
	// Last seen, for the admin console, before the Welcome: not synced,
	// and a failure only costs the listing its freshness.
	if err := r.store.Touch(r.ctx, c.addr, r.now()); err != nil && r.ctx.Err() == nil {
		r.log.Debug("last seen", "device", c.addr.String(), "err", err)
	}
	r.pushOnline(c.addr)
	c.start()
}

func (r *relay) upgrade(w http.ResponseWriter, req *http.Request) (*wsconn.Conn, *wire.Error) {
	wc, err := r.wss.Upgrade(w, req)
	if err != nil {
		r.log.Debug("websocket upgrade", "err", err)
		return nil, wire.Errorf(wire.CodeMalformed, "websocket upgrade")
	}
	return wc, nil
}

// conn is one authenticated device's WebSocket.
type conn struct {
	r     *relay
	ws    *wsconn.Conn
	addr  addr.Address
	unsub func()
	// quietAcks: the client asked to be told that quiet Acks are taken
	// (they are taken from any client).
	quietAcks bool

	mu         sync.Mutex
	closed     bool // no new work may start
	busy       bool // a batch of frames is being handled
	draining   bool // shutting down: close once not busy
	delivering bool // a delivery loop runs
	again      bool // woken while delivering: read the mailbox again
	synced     bool // the backlog was sent and Synced with it
	windowFull bool // delivery stopped for want of window: an ack resumes it
	lastSent   int64
	unacked    map[int64]struct{} // nil while empty
}

func (c *conn) start() {
	r := c.r
	r.metrics.connections.Add(1)
	r.metrics.connectionsTotal.Add(1)
	unsub, err := r.fan.Subscribe(c.addr, c.onEvent)
	if err != nil {
		unsub = func() {}
		c.ws.Close(statusTryAgainLater, "relay shutting down")
	}
	c.unsub = unsub
	c.ws.Write(func(b []byte) ([]byte, error) {
		return wire.Append(b, &wire.Welcome{Address: c.addr, MaxEnvelope: uint32(r.maxEnvelope),
			Window: uint16(r.window), MaxInFlight: uint16(r.maxInFlight), QuietAcks: c.quietAcks})
	})
	r.log.Debug("connected", "device", c.addr.String())
	c.ws.Serve(c)
	go c.pushPreKeyStatus()
	c.kick()
}

// Closed implements wsconn.Handler: the connection has ended.
func (c *conn) Closed(_ *wsconn.Conn, err error) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.unsub()
	c.r.conns.remove(c)
	c.r.metrics.connections.Add(-1)
	c.r.log.Debug("disconnected", "device", c.addr.String(), "err", err)
	c.r.conns.done()
}

// Refused implements wsconn.Handler: the client broke the WebSocket
// protocol, and the connection closes.
func (c *conn) Refused(_ *wsconn.Conn, err error) {
	switch {
	case errors.Is(err, wsconn.ErrTooBig):
		c.r.metrics.reject(wire.CodeTooLarge)
	case errors.Is(err, wsconn.ErrText):
		c.fail(wire.Errorf(wire.CodeMalformed, "frames are binary messages"))
	default:
		c.fail(wire.Errorf(wire.CodeMalformed, "malformed websocket frame"))
	}
}

// Messages implements wsconn.Handler: it handles the frames read
// together. Submissions are stored with one store call per
// MaxInFlight of them, acks with one, so that a burst costs one group
// commit; requests are answered in turn.
func (c *conn) Messages(_ *wsconn.Conn, msgs [][]byte) error {
	c.mu.Lock()
	if c.closed || c.draining {
		c.mu.Unlock()
		return nil // unanswered: the client resubmits on its next connection
	}
	c.busy = true
	c.mu.Unlock()
	err := c.handle(msgs)
	c.mu.Lock()
	c.busy = false
	drain := c.draining
	c.mu.Unlock()
	if drain {
		c.ws.Close(ws.StatusGoingAway, "relay shutting down")
	}
	return err
}

// batch collects the frames of one read.
type batch struct {
	subs []*wire.Submit
	acks []int64     // every acked Seq, quiet or not
	ack  []*wire.Ack // the Acks an AckResult answers
}

func (c *conn) handle(msgs [][]byte) error {
	var b batch
	for _, m := range msgs {
		f, err := wire.Parse(m)
		if err != nil {
			c.run(&b)
			return c.fail(asWireError(err))
		}
		switch f := f.(type) {
		case *wire.Submit:
			b.subs = append(b.subs, f)
			if len(b.subs) == c.r.maxInFlight {
				c.run(&b)
			}
		case *wire.Ack:
			if !f.Quiet {
				b.ack = append(b.ack, f) // confirmed by an AckResult
			}
			for _, q := range f.Seqs {
				if q <= math.MaxInt64 {
					b.acks = append(b.acks, int64(q))
				}
			}
		case *wire.Request:
			c.run(&b)
			c.request(f)
		case *wire.GroupSubmit:
			c.run(&b)
			c.submitGroup(f)
		default:
			c.run(&b)
			return c.fail(wire.Errorf(wire.CodeMalformed, "unexpected "+f.Type().String()+" frame from a client"))
		}
	}
	c.run(&b)
	return nil
}

// run stores the batch's submissions and deletes its acked envelopes,
// concurrently when it has both, and answers them. A client that sends
// without reading the answers is made to wait (and then cut by the write
// timeout) rather than have them pile up in memory.
func (c *conn) run(b *batch) {
	if len(b.subs)+len(b.ack) > 0 {
		c.ws.WaitBuffered(maxQueued)
	}
	acking := len(b.acks)+len(b.ack) > 0 // a quiet Ack has no b.ack
	switch {
	case len(b.subs) > 0 && acking:
		acks, ack := b.acks, b.ack // not b, which then stays on handle's stack
		var wg sync.WaitGroup
		wg.Go(func() { c.ack(acks, ack) })
		c.submit(b.subs)
		wg.Wait()
	case len(b.subs) > 0:
		c.submit(b.subs)
	case acking:
		c.ack(b.acks, b.ack)
	}
	*b = batch{subs: b.subs[:0], acks: b.acks[:0], ack: b.ack[:0]}
}

// fail tells the client what was wrong and closes the connection.
func (c *conn) fail(e *wire.Error) error {
	c.r.metrics.reject(e.Code)
	c.send(e)
	return &wsconn.CloseError{Code: ws.StatusPolicyViolation, Reason: e.Code.String()}
}

// closeWith sends e and closes the connection with status.
func (c *conn) closeWith(e *wire.Error, status ws.StatusCode) {
	c.send(e)
	c.ws.Close(status, e.Detail)
}

// send queues one frame.
func (c *conn) send(f wire.Frame) error {
	err := c.ws.Write(func(b []byte) ([]byte, error) { return wire.Append(b, f) })
	if err != nil && !errors.Is(err, wire.CodeMalformed) {
		return err
	}
	if err != nil {
		c.r.log.Error("marshal frame", "type", f.Type().String(), "err", err)
	}
	return err
}

// onEvent reacts to a wake-up without blocking (see fanout.Handler).
func (c *conn) onEvent(e fanout.Event) {
	switch e.Kind {
	case fanout.Mail:
		c.mu.Lock()
		seen := e.Seq != 0 && e.Seq <= c.lastSent
		c.mu.Unlock()
		if !seen {
			c.kick()
		}
	case fanout.Revoked:
		go c.revoked()
	case fanout.PreKeysLow:
		go c.pushPreKeyStatus()
	}
}

func (c *conn) revoked() {
	werr := wire.Errorf(wire.CodeUnauthorized, "device revoked")
	if d, err := c.r.store.Device(c.r.ctx, c.addr); err == nil && d.Suspended {
		werr = errSuspended
	}
	c.r.log.Debug("closing revoked or suspended device", "device", c.addr.String())
	c.closeWith(werr, ws.StatusPolicyViolation)
}

// recheck runs periodically (see connSet.recheckLoop): it re-reads the
// mailbox in case a wake-up was lost, and closes the connection if the
// device was revoked or its account suspended.
func (c *conn) recheck() {
	d, err := c.r.store.Device(c.r.ctx, c.addr)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.Suspended) {
		c.revoked()
		return
	}
	c.kick()
}

func (c *conn) pushPreKeyStatus() {
	st, err := c.r.preKeyStatus(c.r.ctx, c.addr)
	if err == nil && st.Low() {
		c.send(st)
	}
}

// drain is the connection's part of a graceful shutdown: once no batch
// of frames is being handled (its submissions stored and answered), close
// with "going away". Frames read later go unanswered.
func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	busy := c.busy
	c.mu.Unlock()
	if !busy {
		c.ws.Close(ws.StatusGoingAway, "relay shutting down")
	}
}

// statusTryAgainLater is WebSocket close status 1013 (RFC 6455's
// registry): the relay is overloaded or shutting down.
const statusTryAgainLater ws.StatusCode = 1013
