package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// Connection limits.
const (
	// welcomeTimeout bounds the wait for the relay's Welcome frame.
	welcomeTimeout = 15 * time.Second
	// maxIncoming caps the buffer of frames waiting for the consumer.
	// The relay sends at most Welcome.Window deliveries before an ack, so
	// a buffer of that size never blocks the reader.
	maxIncoming = 4096
	// writeTimeout bounds one frame write.
	writeTimeout = 15 * time.Second
)

// ErrClosed is returned by a Conn's methods once it has ended.
var ErrClosed = errors.New("relay: connection closed")

// DialOptions change how a connection treats incoming frames.
type DialOptions struct {
	// Discard drops deliveries (and other pushed frames) unread and
	// unacknowledged, for a connection that only submits: the relay keeps
	// them for the next connection that reads.
	Discard bool
}

// Conn is a device's WebSocket to the relay: it submits envelopes, and
// receives deliveries, prekey status and Synced frames on Incoming, in
// the relay's order. One goroutine reads; every method is safe for
// concurrent use.
type Conn struct {
	ws       *websocket.Conn
	welcome  wire.Welcome
	incoming chan wire.Frame
	discard  bool

	mu       sync.Mutex
	results  map[resultKey][]chan *wire.SubmitResult // waiting, oldest first
	requests map[uint32]chan wire.Frame              // answers awaited, by request ID
	nextID   uint32
	groups   groupWaiters  // GroupSubmits waiting, see group.go
	unacked  int           // sequence numbers acked but not yet confirmed
	settled  chan struct{} // closed when unacked reaches zero
	quiet    uint64        // the last Seq of the quiet Acks since Settled confirmed them
	done     chan struct{} // closed when the reader ends
	err      error         // why it ended

	quit      chan struct{} // closed by Close: the reader stops waiting for the consumer
	closeOnce sync.Once
}

type resultKey struct {
	to addr.Address
	id addr.MessageID
}

// Dial opens the device's WebSocket, authenticated by a's proof, and waits
// for the relay's Welcome.
func (c *Client) Dial(ctx context.Context, a Auth, opt DialOptions) (*Conn, error) {
	h, err := c.authorization(ctx, &a, http.MethodGet, pathWS, nil)
	if err != nil {
		return nil, err
	}
	ws, err := c.dialNodes(ctx, h)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(wire.MaxFrame)
	conn := &Conn{ws: ws, discard: opt.Discard, results: make(map[resultKey][]chan *wire.SubmitResult),
		requests: make(map[uint32]chan wire.Frame), done: make(chan struct{}), quit: make(chan struct{})}
	if err := conn.readWelcome(ctx); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if !opt.Discard {
		conn.incoming = make(chan wire.Frame, min(int(conn.welcome.Window)+1, maxIncoming))
	}
	go conn.readLoop()
	c.track(conn)
	c.log.Debug("connected", "device", a.Address.String())
	return conn, nil
}

// dialNodes opens the WebSocket on the current node, moving on to the
// next while one cannot be reached before anything is sent: the proof's
// challenge is good on every node of the deployment.
func (c *Client) dialNodes(ctx context.Context, authorization string) (*websocket.Conn, error) {
	for tries := 1; ; tries++ {
		u, node := c.nodes.current()
		u.Path = pathWS
		u.RawQuery = url.Values{wire.QuietAcksQuery: {"1"}}.Encode()
		ws, resp, err := c.dialWS(ctx, u, authorization)
		if err == nil {
			return ws, nil
		}
		derr := dialError(ctx, resp, err)
		if !c.nodes.failed(node, derr) || !notSent(err) || tries >= len(c.nodes.urls) || ctx.Err() != nil {
			return nil, derr
		}
	}
}

// dialError reads the relay's Error frame from a refused upgrade.
func dialError(ctx context.Context, resp *http.Response, err error) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame))
		return errorAnswer(resp.StatusCode, data)
	}
	return classify(ctx, err)
}

func (c *Conn) readWelcome(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, welcomeTimeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return classify(ctx, err)
	}
	w, err := wire.ParseAs[*wire.Welcome](b)
	var werr *wire.Error
	switch {
	case errors.As(err, &werr):
		return werr
	case err != nil:
		return fmt.Errorf("%w: first frame: %v", ErrProtocol, err)
	}
	c.welcome = *w
	return nil
}

// Welcome returns the relay's Welcome frame.
func (c *Conn) Welcome() wire.Welcome { return c.welcome }

// Incoming returns the frames the relay pushes: *wire.Deliver,
// *wire.PreKeyStatus and *wire.Synced. It is closed when the connection
// ends (nil when dialed with Discard).
func (c *Conn) Incoming() <-chan wire.Frame { return c.incoming }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.quit) })
	c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return nil
}

func (c *Conn) readLoop() {
	err := c.read()
	c.mu.Lock()
	c.err = err
	for k, chs := range c.results {
		for _, ch := range chs {
			close(ch)
		}
		delete(c.results, k)
	}
	for id, ch := range c.requests {
		close(ch)
		delete(c.requests, id)
	}
	c.closeGroupWaiters()
	c.mu.Unlock()
	if c.incoming != nil {
		close(c.incoming)
	}
	close(c.done)
	c.ws.CloseNow()
}

// read dispatches frames until the connection fails.
func (c *Conn) read() error {
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return ErrClosed
			}
			return fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		if typ != websocket.MessageBinary {
			return fmt.Errorf("%w: text message", ErrProtocol)
		}
		f, err := wire.Parse(b)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
	}
}

func (c *Conn) dispatch(f wire.Frame) error {
	switch f := f.(type) {
	case *wire.SubmitResult:
		c.mu.Lock()
		k := resultKey{f.To, f.ID}
		if chs := c.results[k]; len(chs) > 0 {
			chs[0] <- f
			c.results[k] = chs[1:]
			if len(chs) == 1 {
				delete(c.results, k)
			}
		}
		c.mu.Unlock()
	case *wire.AckResult:
		c.confirmAcks(len(f.Seqs))
	case *wire.Response:
		c.mu.Lock()
		if ch := c.requests[f.ID]; ch != nil {
			ch <- f.Answer
			delete(c.requests, f.ID)
		}
		c.mu.Unlock()
	case *wire.GroupSubmitResult:
		c.groupResult(f)
	case *wire.Deliver, *wire.PreKeyStatus, *wire.Synced:
		if c.incoming != nil {
			select {
			case c.incoming <- f:
			case <-c.quit:
				return ErrClosed
			}
		}
	case *wire.Error:
		return f
	default:
		return fmt.Errorf("%w: unexpected %s frame", ErrProtocol, f.Type())
	}
	return nil
}

func (c *Conn) confirmAcks(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unacked = max(0, c.unacked-n)
	if c.unacked == 0 && c.settled != nil {
		close(c.settled)
		c.settled = nil
	}
}

// write sends one frame.
func (c *Conn) write(ctx context.Context, f wire.Frame) error {
	b, err := wire.Marshal(f)
	if err != nil {
		return err
	}
	return c.writeRaw(ctx, b)
}

// writeRaw sends one encoded frame.
func (c *Conn) writeRaw(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		if e := c.Err(); e != nil {
			return e
		}
		return classify(ctx, err)
	}
	return nil
}

// Submit sends the envelopes and waits for the relay's result of each.
// results[i] answers subs[i]; it is nil if the connection or ctx ended
// first, and then err says why. The same envelope may appear twice.
func (c *Conn) Submit(ctx context.Context, subs []*wire.Submit) (results []*wire.SubmitResult, err error) {
	chans := make([]chan *wire.SubmitResult, len(subs))
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return make([]*wire.SubmitResult, len(subs)), c.err
	}
	for i, s := range subs {
		chans[i] = make(chan *wire.SubmitResult, 1)
		k := resultKey{s.To, s.ID}
		c.results[k] = append(c.results[k], chans[i])
	}
	c.mu.Unlock()
	defer c.forget(chans, subs)
	for _, s := range subs {
		if err := c.write(ctx, s); err != nil {
			return make([]*wire.SubmitResult, len(subs)), err
		}
	}
	results = make([]*wire.SubmitResult, len(subs))
	for i, ch := range chans {
		select {
		case r, ok := <-ch:
			if !ok {
				return results, c.Err()
			}
			results[i] = r
		case <-ctx.Done():
			return results, ctx.Err()
		}
	}
	return results, nil
}

// forget drops the waiters of one Submit call that got no answer.
func (c *Conn) forget(chans []chan *wire.SubmitResult, subs []*wire.Submit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range subs {
		k := resultKey{s.To, s.ID}
		c.results[k] = slices.DeleteFunc(c.results[k], func(ch chan *wire.SubmitResult) bool { return ch == chans[i] })
		if len(c.results[k]) == 0 {
			delete(c.results, k)
		}
	}
}

// Ack acknowledges delivered envelopes; the relay deletes them. It does
// not wait for the confirmation (see Settled). Against a relay that takes
// quiet Acks (its Welcome says so) it sends those: the relay answers
// nothing, which saves it and this device a frame per Ack.
func (c *Conn) Ack(ctx context.Context, seqs []uint64) error {
	quiet := c.welcome.QuietAcks
	for len(seqs) > 0 {
		n := min(len(seqs), wire.MaxAckBatch)
		if !quiet {
			c.mu.Lock()
			c.unacked += n
			c.mu.Unlock()
		}
		if err := c.write(ctx, &wire.Ack{Seqs: seqs[:n], Quiet: quiet}); err != nil {
			return err
		}
		if quiet {
			c.mu.Lock()
			c.quiet = seqs[n-1]
			c.mu.Unlock()
		}
		seqs = seqs[n:]
	}
	return nil
}

// Settled waits until the relay has confirmed every Ack sent so far. If
// quiet Acks were sent since the last Settled, it acks the last of their
// Seqs again with an Ack the relay answers: the relay handles a
// connection's frames in order, so that answer confirms every Ack before
// it, and the repeated Seq deletes nothing (a mailbox never reuses one).
func (c *Conn) Settled(ctx context.Context) error {
	c.mu.Lock()
	if q := c.quiet; q != 0 {
		c.quiet = 0
		c.unacked++
		c.mu.Unlock()
		if err := c.write(ctx, &wire.Ack{Seqs: []uint64{q}}); err != nil {
			return err
		}
		c.mu.Lock()
	}
	if c.unacked == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.settled == nil {
		c.settled = make(chan struct{})
	}
	ch := c.settled
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ping checks that the relay still answers.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.ws.Ping(ctx); err != nil {
		if e := c.Err(); e != nil {
			return e
		}
		return classify(ctx, err)
	}
	return nil
}
