package server

// All WebSocket connection handling lives in this file, so that it can move
// to an event-driven design (epoll waking a short-lived reader) without
// touching the rest of the relay. Per connection there is one long-lived
// goroutine, the reader; delivery, submissions and acks run on short-lived
// goroutines that exist only while there is work.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// WebSocket buffer sizes. net/http's own buffers (4 KiB each way) would
// stay allocated for the life of every idle connection; these are enough
// for frame headers and small frames, and larger payloads bypass them.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1 << 10
)

// handleWebSocket authenticates the upgrade (before any mailbox is
// touched) and hands the connection to its own goroutine.
func (r *relay) handleWebSocket(w http.ResponseWriter, req *http.Request) {
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
	ws, err := websocket.Accept(smallHijacker{w}, req, &websocket.AcceptOptions{
		// Authentication is by signed proof, never by ambient cookies, so
		// cross-origin pages (an app's web view) may connect.
		InsecureSkipVerify: true,
		// Ciphertext does not compress.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		r.log.Debug("websocket accept", "err", err)
		return
	}
	ws.SetReadLimit(int64(r.maxEnvelope) + wire.MaxOverhead)
	r.conns.start(newConn(r, ws, dev.Address))
}

// smallHijacker hands the WebSocket library small buffers instead of
// net/http's, and clears the deadlines net/http set for the request.
type smallHijacker struct{ http.ResponseWriter }

func (h smallHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h smallHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Time{})
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	// Carry over what net/http already read ahead: prime the new reader
	// with it so that it shows as buffered.
	ahead, _ := brw.Reader.Peek(brw.Reader.Buffered())
	ahead = bytes.Clone(ahead)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(ahead), c), max(wsReadBuffer, len(ahead)))
	br.Peek(len(ahead))
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, wsWriteBuffer)), nil
}

// connSet tracks open connections, for shutdown. It is safe for
// concurrent use.
type connSet struct {
	mu      sync.Mutex
	m       map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func newConnSet() *connSet { return &connSet{m: make(map[*conn]struct{})} }

// start runs c on its own goroutine, unless the relay is shutting down.
func (s *connSet) start(c *conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.ws.Close(websocket.StatusGoingAway, "relay shutting down")
		return
	}
	s.m[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.run()
		s.mu.Lock()
		delete(s.m, c)
		s.mu.Unlock()
	}()
}

// closeAll drains every connection (in-flight submissions finish, then a
// going-away close) and waits for them; when ctx ends it cuts the rest.
func (s *connSet) closeAll(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.m))
	for c := range s.m {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.drain(ctx)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.cancel()
		}
		<-done
	}
}

// conn is one authenticated device's WebSocket.
type conn struct {
	r        *relay
	ws       *websocket.Conn
	addr     addr.Address
	ctx      context.Context    // ends when the connection does
	cancel   context.CancelFunc // closes the socket at once (via the reader's Read)
	inflight chan struct{}      // semaphore: submissions and acks being processed
	work     sync.WaitGroup

	mu            sync.Mutex
	closed        bool // no new work may start
	delivering    bool // a delivery goroutine runs
	again         bool // a wake-up arrived while delivering
	synced        bool // a Synced frame was sent
	sentSinceSync bool
	windowFull    bool // delivery stopped for want of window: an ack resumes it
	lastSent      int64
	unacked       map[int64]struct{}
	timer         *time.Timer
}

func newConn(r *relay, ws *websocket.Conn, a addr.Address) *conn {
	c := &conn{r: r, ws: ws, addr: a, inflight: make(chan struct{}, r.maxInFlight)}
	c.ctx, c.cancel = context.WithCancel(r.ctx)
	return c
}

func (c *conn) run() {
	c.r.metrics.connections.Add(1)
	c.r.metrics.connectionsTotal.Add(1)
	defer c.r.metrics.connections.Add(-1)
	unsub, err := c.r.fan.Subscribe(c.addr, c.onEvent)
	if err != nil {
		c.ws.Close(websocket.StatusTryAgainLater, "relay shutting down")
		return
	}
	defer c.finish(unsub)
	c.r.log.Debug("connected", "device", c.addr.String())
	welcome := &wire.Welcome{Address: c.addr, MaxEnvelope: uint32(c.r.maxEnvelope),
		Window: uint16(c.r.window), MaxInFlight: uint16(c.r.maxInFlight)}
	if c.write(welcome) != nil {
		return
	}
	c.spawn(c.pushPreKeyStatus)
	c.kick()
	c.mu.Lock()
	c.timer = time.AfterFunc(c.r.recheck, c.recheck)
	c.mu.Unlock()
	c.readLoop()
}

// finish ends the connection: no new work starts, running work ends
// (writes fail once the socket is closed), the subscription goes.
func (c *conn) finish(unsub func()) {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	unsub()
	c.cancel()
	c.ws.CloseNow()
	c.work.Wait()
	c.r.log.Debug("disconnected", "device", c.addr.String())
}

// readLoop reads frames until the connection fails or closes.
func (c *conn) readLoop() {
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			if s := websocket.CloseStatus(err); s == websocket.StatusMessageTooBig || errors.Is(err, websocket.ErrMessageTooBig) {
				c.r.metrics.reject(wire.CodeTooLarge)
			}
			return
		}
		if typ != websocket.MessageBinary {
			c.fail(wire.Errorf(wire.CodeMalformed, "frames are binary messages"))
			return
		}
		f, err := wire.Parse(b)
		if err != nil {
			c.fail(asWireError(err))
			return
		}
		if !c.dispatch(f) {
			return
		}
	}
}

// dispatch starts the work a client frame asks for. Each submission and
// ack runs on its own goroutine, at most MaxInFlight at once, so that
// concurrent submissions reach the store together and are group-committed.
func (c *conn) dispatch(f wire.Frame) bool {
	var fn func()
	switch f := f.(type) {
	case *wire.Submit:
		fn = func() { c.submit(f) }
	case *wire.Ack:
		fn = func() { c.ack(f) }
	default:
		c.fail(wire.Errorf(wire.CodeMalformed, "unexpected "+f.Type().String()+" frame from a client"))
		return false
	}
	select {
	case c.inflight <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	c.work.Go(func() {
		defer func() { <-c.inflight }()
		fn()
	})
	return true
}

// fail tells the client what was wrong and closes the connection.
func (c *conn) fail(e *wire.Error) {
	c.r.metrics.reject(e.Code)
	c.write(e)
	c.ws.Close(websocket.StatusPolicyViolation, e.Code.String())
}

// write sends one frame, closing the connection if the client does not
// take it within the write timeout (a slow or stalled reader).
func (c *conn) write(f wire.Frame) error {
	b, err := wire.Marshal(f)
	if err != nil {
		c.r.log.Error("marshal frame", "type", f.Type().String(), "err", err)
		return err
	}
	// A watchdog rather than a deadline context: the library keeps the
	// last write's context reachable, and the connection's own costs
	// nothing extra per idle connection.
	watchdog := time.AfterFunc(c.r.writeTimeout, c.cancel)
	defer watchdog.Stop()
	return c.ws.Write(c.ctx, websocket.MessageBinary, b)
}

// spawn runs fn on a goroutine the connection waits for, unless the
// connection is ending.
func (c *conn) spawn(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.work.Go(fn)
	return true
}

// onEvent reacts to a wake-up without blocking (see fanout.Handler).
func (c *conn) onEvent(e fanout.Event) {
	switch e.Kind {
	case fanout.Mail:
		c.kick()
	case fanout.Revoked:
		c.spawn(c.revoked)
	case fanout.PreKeysLow:
		c.spawn(c.pushPreKeyStatus)
	}
}

func (c *conn) revoked() {
	c.r.log.Debug("closing revoked device", "device", c.addr.String())
	c.write(wire.Errorf(wire.CodeUnauthorized, "device revoked"))
	c.ws.Close(websocket.StatusPolicyViolation, "device revoked")
}

// recheck runs periodically: it re-reads the mailbox in case a wake-up
// was lost, and closes the connection if the device was revoked.
func (c *conn) recheck() {
	c.spawn(func() {
		_, err := c.r.store.Device(c.r.ctx, c.addr)
		if errors.Is(err, store.ErrNotFound) {
			c.revoked()
			return
		}
		c.kick()
	})
	c.mu.Lock()
	if !c.closed {
		c.timer.Reset(c.r.recheck)
	}
	c.mu.Unlock()
}

func (c *conn) pushPreKeyStatus() {
	st, err := c.r.preKeyStatus(c.r.ctx, c.addr)
	if err == nil && st.Low() {
		c.write(st)
	}
}

// submit stores one envelope and answers with its result.
func (c *conn) submit(m *wire.Submit) {
	code, dup := c.store(m)
	if code != wire.CodeOK {
		c.r.metrics.reject(code)
	}
	c.write(&wire.SubmitResult{To: m.To, ID: m.ID, Code: code, Duplicate: dup})
}

func (c *conn) store(m *wire.Submit) (wire.Code, bool) {
	switch {
	case len(m.Payload) > c.r.maxEnvelope:
		return wire.CodeTooLarge, false
	case len(m.Payload) == 0:
		return wire.CodeMalformed, false
	}
	// The relay's context, not the connection's: an envelope read before
	// the client vanished is still stored (the client may resubmit it).
	res, err := c.r.store.Submit(c.r.ctx, []store.Envelope{{
		To: m.To, From: c.addr, ID: m.ID, Kind: store.KindMessage, Payload: m.Payload,
	}})
	switch {
	case errors.Is(err, store.ErrInvalid):
		return wire.CodeMalformed, false
	case err != nil:
		return c.r.internal("submit", err).Code, false
	}
	switch r := res[0]; {
	case errors.Is(r.Err, store.ErrNotFound):
		return wire.CodeUnknownDevice, false
	case errors.Is(r.Err, store.ErrMailboxFull):
		return wire.CodeMailboxFull, false
	case r.Err != nil:
		return c.r.internal("submit", r.Err).Code, false
	case r.Duplicate:
		c.r.metrics.duplicates.Add(1)
		return wire.CodeOK, true
	}
	c.r.metrics.queued.Add(1)
	c.r.publish(m.To, fanout.Mail)
	return wire.CodeOK, false
}

// ack deletes acknowledged envelopes, frees their window slots and
// confirms once the deletion is committed.
func (c *conn) ack(m *wire.Ack) {
	seqs := make([]int64, 0, len(m.Seqs))
	for _, q := range m.Seqs {
		if q <= math.MaxInt64 {
			seqs = append(seqs, int64(q))
		}
	}
	n, err := c.r.store.Ack(c.r.ctx, c.addr, seqs)
	if err != nil {
		c.fail(c.r.internal("ack", err))
		return
	}
	c.r.metrics.acked.Add(int64(n))
	resume := false
	c.mu.Lock()
	for _, q := range seqs {
		if _, ok := c.unacked[q]; ok {
			delete(c.unacked, q)
			resume = c.windowFull
		}
	}
	c.mu.Unlock()
	if resume {
		c.kick()
	}
	c.write(&wire.AckResult{Seqs: m.Seqs})
}

// kick makes sure a delivery goroutine runs: it starts one, or tells the
// running one to look again.
func (c *conn) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.delivering {
		c.again = true
		return
	}
	c.delivering = true
	c.work.Go(c.deliverLoop)
}

func (c *conn) deliverLoop() {
	for {
		err := c.deliver()
		c.mu.Lock()
		if err != nil || !c.again || c.closed {
			c.delivering, c.again = false, false
			c.mu.Unlock()
			if err != nil && c.ctx.Err() == nil {
				c.r.log.Debug("delivery stopped", "device", c.addr.String(), "err", err)
				c.cancel()
			}
			return
		}
		c.again = false
		c.mu.Unlock()
	}
}

// deliver sends queued envelopes after the last one sent, as long as the
// window has room, and a Synced frame once the mailbox is drained.
func (c *conn) deliver() error {
	for {
		c.mu.Lock()
		limit := min(c.r.window-len(c.unacked), store.MaxBatch)
		after := c.lastSent
		c.windowFull = limit <= 0 // under the lock an ack checks it with
		c.mu.Unlock()
		if limit <= 0 {
			return nil // an ack will kick
		}
		envs, err := c.r.store.Pending(c.r.ctx, c.addr, after, limit)
		if err != nil {
			return err
		}
		for i := range envs {
			if err := c.send(&envs[i]); err != nil {
				return err
			}
		}
		if len(envs) < limit {
			return c.maybeSynced()
		}
	}
}

func (c *conn) send(e *store.Envelope) error {
	c.mu.Lock()
	if c.unacked == nil {
		c.unacked = make(map[int64]struct{})
	}
	c.unacked[e.Seq] = struct{}{}
	c.lastSent = e.Seq
	c.sentSinceSync = true
	c.mu.Unlock()
	err := c.write(&wire.Deliver{Seq: uint64(e.Seq), From: e.From, ID: e.ID, Kind: wire.Kind(e.Kind), Queued: e.Created, Payload: e.Payload})
	if err == nil {
		c.r.metrics.delivered.Add(1)
	}
	return err
}

func (c *conn) maybeSynced() error {
	c.mu.Lock()
	send := !c.synced || c.sentSinceSync
	c.synced, c.sentSinceSync = true, false
	c.mu.Unlock()
	if !send {
		return nil
	}
	return c.write(&wire.Synced{})
}

// drain is the connection's part of a graceful shutdown: wait until no
// submission is being processed (taking every in-flight slot stops new
// ones), then close with "going away".
func (c *conn) drain(ctx context.Context) {
	for range cap(c.inflight) {
		select {
		case c.inflight <- struct{}{}:
		case <-ctx.Done():
			c.cancel()
			return
		case <-c.ctx.Done():
			return
		}
	}
	closed := make(chan struct{})
	go func() {
		c.ws.Close(websocket.StatusGoingAway, "relay shutting down")
		close(closed)
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C: // the client does not answer the close handshake
	case <-ctx.Done():
	}
	// Ending the reader's context closes the socket (CloseNow would wait
	// for the handshake) and wakes a reader waiting for a slot.
	c.cancel()
	<-closed
}

// closeGrace bounds the close handshake at shutdown.
const closeGrace = time.Second
