package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// NewRaw returns the driver of mode "raw": devices registered with fresh
// keys that speak the wire protocol themselves and send opaque random
// payloads, so only the relay's work is measured (its ceiling).
func NewRaw(t Target) Driver { return &rawDriver{target: t} }

type rawDriver struct {
	target Target
	es     []*endpoint // one per node
	mu     sync.Mutex
	conns  []*rawConn
}

func (d *rawDriver) Name() string { return "raw" }

func (d *rawDriver) Setup(ctx context.Context, pairs, payload int, sink *Sink) ([]Sender, error) {
	es, err := newEndpoints(d.target)
	if err != nil {
		return nil, err
	}
	d.es = es
	prefix := userPrefix()
	conns := make([]*rawConn, 2*pairs) // senders, then receivers
	err = Parallel(ctx, len(conns), setupWorkers, func(ctx context.Context, i int) error {
		role, n, e := "s", i, es[SenderNode(i, len(es))]
		if i >= pairs {
			role, n, e = "r", i-pairs, es[ReceiverNode(i-pairs, len(es))]
		}
		dev, err := e.register(ctx, addr.UserID(fmt.Sprintf("%s-%s%d", prefix, role, n)))
		if err != nil {
			return err
		}
		ws, w, err := e.dial(ctx, dev, netip.Addr{})
		if err != nil {
			return fmt.Errorf("connect %s: %w", dev.addr, err)
		}
		c := newRawConn(ws, w, sink)
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
		conns[i] = c
		sink.Ready()
		return nil
	})
	if err != nil {
		return nil, err
	}
	senders := make([]Sender, pairs)
	for i := range senders {
		to := conns[pairs+i].welcome.Address
		if max := int(conns[i].welcome.MaxEnvelope); payload > max {
			return nil, fmt.Errorf("payload of %d bytes exceeds the relay's limit of %d", payload, max)
		}
		senders[i] = &rawSender{c: conns[i], to: to, size: payload}
	}
	return senders, nil
}

func (d *rawDriver) Settle(ctx context.Context) error {
	d.mu.Lock()
	conns := d.conns
	d.mu.Unlock()
	for _, c := range conns {
		if err := c.settle(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *rawDriver) Close() error {
	d.mu.Lock()
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	for _, e := range d.es {
		e.close()
	}
	return nil
}

// rawSender sends random payloads to one receiver.
type rawSender struct {
	c    *rawConn
	to   addr.Address
	size int
}

func (s *rawSender) Send(ctx context.Context, st Stamp) error {
	p := make([]byte, s.size)
	st.AppendText(p[:0])
	rand.Read(p[StampLen:]) // never fails; see crypto/rand.Read
	return s.c.submit(ctx, &wire.Submit{To: s.to, ID: addr.NewMessageID(), Payload: p})
}

// rawConn is one device's WebSocket: it submits and waits for results,
// hands deliveries to the sink and acknowledges them in batches. Safe for
// concurrent use.
type rawConn struct {
	ws      *websocket.Conn
	welcome wire.Welcome
	sink    *Sink
	toAck   chan uint64
	done    chan struct{} // closed when the reader ends

	mu      sync.Mutex
	waiting map[addr.MessageID]chan wire.Code
	err     error // why the reader ended
	closed  bool  // close was called

	queued      atomic.Int64  // deliveries to ack whose Ack is not yet written
	unconfirmed atomic.Int64  // acked sequence numbers without their AckResult
	lastQuiet   atomic.Uint64 // the last Seq quietly acked since settle
}

// ackQueue holds deliveries waiting to be acked: at least a window's
// worth (the relay sends no more before an ack), so the reader never
// waits on the acker.
const ackQueue = wire.MaxAckBatch

func newRawConn(ws *websocket.Conn, w *wire.Welcome, sink *Sink) *rawConn {
	c := &rawConn{ws: ws, welcome: *w, sink: sink, toAck: make(chan uint64, ackQueue),
		done: make(chan struct{}), waiting: make(map[addr.MessageID]chan wire.Code)}
	go c.readLoop()
	go c.ackLoop()
	return c
}

// errConnClosed: the connection ended while a submission waited.
var errConnClosed = errors.New("loadgen: connection closed")

func (c *rawConn) submit(ctx context.Context, m *wire.Submit) error {
	b, err := wire.Marshal(m)
	if err != nil {
		return err
	}
	ch := make(chan wire.Code, 1)
	c.mu.Lock()
	if c.err != nil || c.closed {
		c.mu.Unlock()
		return errConnClosed
	}
	c.waiting[m.ID] = ch
	c.mu.Unlock()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.forget(m.ID)
		return err
	}
	select {
	case code := <-ch:
		if code != wire.CodeOK {
			return code
		}
		return nil
	case <-c.done:
		return c.closedErr()
	case <-ctx.Done():
		c.forget(m.ID)
		return ctx.Err()
	}
}

func (c *rawConn) forget(id addr.MessageID) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

func (c *rawConn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *rawConn) readLoop() {
	err := c.read()
	c.mu.Lock()
	c.err = fmt.Errorf("%w: %v", errConnClosed, err)
	c.mu.Unlock()
	close(c.done)
	c.ws.CloseNow()
}

// read handles frames until the connection fails; an unexpected end is
// counted as an error of the run.
func (c *rawConn) read() error {
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure && !c.closing() {
				c.sink.Error(CodeConnection)
			}
			return err
		}
		f, err := wire.Parse(b)
		if err != nil {
			c.sink.Error(ErrorCode(err))
			return err
		}
		switch f := f.(type) {
		case *wire.SubmitResult:
			c.result(f)
		case *wire.Deliver:
			c.deliver(f)
		case *wire.AckResult:
			c.unconfirmed.Add(-int64(len(f.Seqs)))
		case *wire.Error:
			c.sink.Error(f.Code.String())
			return f
		}
		// PreKeyStatus (raw devices upload no prekeys) and Synced need
		// nothing.
	}
}

// closing reports whether close was called.
func (c *rawConn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *rawConn) result(r *wire.SubmitResult) {
	c.mu.Lock()
	ch := c.waiting[r.ID]
	delete(c.waiting, r.ID)
	c.mu.Unlock()
	if ch != nil {
		ch <- r.Code
	}
}

func (c *rawConn) deliver(d *wire.Deliver) {
	if d.Kind == wire.KindMessage {
		if st, err := ParseStamp(d.Payload); err != nil {
			c.sink.Error(CodeBadPayload)
		} else {
			c.sink.Delivered(st)
		}
	}
	c.queued.Add(1)
	select {
	case c.toAck <- d.Seq:
	case <-c.done:
	}
}

// ackLoop acknowledges deliveries in batches, as the SDK does: one Ack
// frame carries every sequence number that arrived while the previous one
// was being written, quiet if the relay takes quiet Acks.
func (c *rawConn) ackLoop() {
	quiet := c.welcome.QuietAcks
	batch := make([]uint64, 0, wire.MaxAckBatch)
	for {
		select {
		case q := <-c.toAck:
			batch = append(batch[:0], q)
		case <-c.done:
			return
		}
	more:
		for len(batch) < wire.MaxAckBatch {
			select {
			case q := <-c.toAck:
				batch = append(batch, q)
			default:
				break more
			}
		}
		b, err := wire.Marshal(&wire.Ack{Seqs: batch, Quiet: quiet})
		if err != nil {
			return
		}
		if !quiet {
			c.unconfirmed.Add(int64(len(batch)))
		}
		if c.ws.Write(context.Background(), websocket.MessageBinary, b) != nil {
			return
		}
		if quiet {
			c.lastQuiet.Store(batch[len(batch)-1])
		}
		c.queued.Add(-int64(len(batch)))
	}
}

// settle waits until every delivery is acked and every Ack confirmed. The
// quiet ones are confirmed by acking their last Seq again with an Ack
// the relay answers (see relay.Conn.Settled).
func (c *rawConn) settle(ctx context.Context) error {
	if err := c.await(ctx, &c.queued); err != nil {
		return err
	}
	if q := c.lastQuiet.Swap(0); q != 0 {
		b, err := wire.Marshal(&wire.Ack{Seqs: []uint64{q}})
		if err != nil {
			return err
		}
		c.unconfirmed.Add(1)
		if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
			return err
		}
	}
	return c.await(ctx, &c.unconfirmed)
}

// await polls until n is zero.
func (c *rawConn) await(ctx context.Context, n *atomic.Int64) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for n.Load() > 0 {
		select {
		case <-t.C:
		case <-c.done:
			return c.closedErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *rawConn) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// userPrefix returns a fresh user name prefix, "bench-" and 8 random
// letters and digits, so runs against one relay never collide.
func userPrefix() string {
	return "bench-" + strings.ToLower(rand.Text()[:8])
}
