package wsconn

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Handler receives one connection's messages. Its methods are called from
// the connection's reader, one call at a time.
type Handler interface {
	// Messages is called with the complete binary messages read in one
	// go, in order. The slices are valid only during the call. An error
	// stops reading and closes the connection gracefully, with the close
	// status of a *CloseError or 1011 (internal error) for any other; a
	// handler queues its own explanation (Write) before returning.
	Messages(c *Conn, msgs [][]byte) error
	// Refused is called when the client breaks the WebSocket protocol
	// (a text message, one over MaxMessage, a malformed frame), before the
	// connection closes; a handler may queue an explanation (Write).
	Refused(c *Conn, err error)
	// Closed is called once, after the last Messages call, when the
	// connection has ended; err says why (nil: a clean close).
	Closed(c *Conn, err error)
}

// Protocol violations passed to Handler.Refused.
var (
	ErrText     = errors.New("wsconn: text message")
	ErrTooBig   = errors.New("wsconn: message too big")
	ErrProtocol = errors.New("wsconn: protocol error")
)

// CloseError closes a connection with a WebSocket status and reason.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string { return "wsconn: closed: " + e.Reason }

var (
	errClosed = errors.New("wsconn: connection closed")
	// errPeerClosed: the client sent a close frame.
	errPeerClosed = errors.New("wsconn: closed by the client")
)

// Reader states. A connection's reader runs only while there is something
// to read: the poller (or, without one, a goroutine per connection) starts
// it, and it returns when a read would block.
const (
	readIdle    int32 = iota // waiting for the poller
	readRunning              // a reader runs
	readAgain                // a reader runs and must look again before it stops
	readStopped              // the connection has ended
)

// Conn is one server-side WebSocket over TLS. Write and Close are safe for
// concurrent use; the Handler is called from one reader at a time.
type Conn struct {
	s    *Server
	tc   *tls.Conn
	sock *sockConn // nil when the connection is not over a sockConn
	h    Handler

	fd     int32  // for the poller
	pollID uint32 // tells a reused descriptor apart
	polled bool   // registered with the poller (set before reading starts)

	rstate atomic.Int32
	// The reader's own state.
	rbuf       *[]byte       // pooled; kept between reads only for a partial frame
	rdeadline  time.Duration // the read deadline set on the socket, on clock (see linger)
	frag       []byte        // a fragmented message being reassembled
	fragmented bool
	discard    bool // a protocol violation: input is dropped until the socket closes

	mu        sync.Mutex
	out       *[]byte    // frames waiting to be written; pooled
	flushing  bool       // a flusher runs
	writing   int        // bytes the flusher is writing
	drained   *sync.Cond // signalled after each write; nil until someone waits
	handling  bool       // the reader is in Handler.Messages: it flushes when done
	closing   bool       // a close frame is queued: nothing else may be
	closed    bool       // the socket is closed
	closeErr  error      // why
	closeTime *time.Timer

	// wdeadline is the write deadline set on the socket, on clock; only
	// the flusher touches it (see writeDeadline).
	wdeadline time.Duration
}

// Write queues one binary message, which body appends to its argument.
// Messages go out in the order queued; whatever is queued while a write
// is in progress goes out together in the next one. It fails once the
// connection is closing.
func (c *Conn) Write(body func([]byte) ([]byte, error)) error {
	return c.queue(ws.OpBinary, body)
}

func (c *Conn) queue(op ws.OpCode, body func([]byte) ([]byte, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return errClosed
	}
	if c.out == nil {
		c.out = getBuf()
	}
	b, err := appendFrame(*c.out, op, body)
	*c.out = b
	if err != nil {
		return err
	}
	c.startFlushLocked()
	return nil
}

// startFlushLocked starts a flusher unless one runs, or the reader will
// flush after the handler returns: what the handler queues (its answers)
// then goes out in one write, without a goroutine.
func (c *Conn) startFlushLocked() {
	if !c.flushing && !c.handling {
		c.flushing = true
		go c.flush()
	}
}

// handleMessages calls the handler, then writes what it queued.
func (c *Conn) handleMessages(msgs [][]byte) error {
	c.mu.Lock()
	c.handling = true
	c.mu.Unlock()
	err := c.h.Messages(c, msgs)
	c.mu.Lock()
	c.handling = false
	start := c.out != nil && !c.flushing
	if start {
		c.flushing = true
	}
	c.mu.Unlock()
	if start {
		c.flush()
	}
	return err
}

// flush writes queued frames until none are left, each batch with one
// TLS write (records gathered into one system call).
func (c *Conn) flush() {
	for {
		c.mu.Lock()
		b := c.out
		c.out = nil
		if b == nil || c.closed {
			c.flushing = false
			closing := c.closing && !c.closed
			c.mu.Unlock()
			if b != nil {
				putBuf(b)
			}
			if closing {
				c.closeSent()
			}
			return
		}
		c.writing = len(*b)
		c.mu.Unlock()
		err := c.writeOut(*b)
		putBuf(b)
		c.mu.Lock()
		c.writing = 0
		if c.drained != nil {
			c.drained.Broadcast()
		}
		if err != nil {
			c.flushing = false
		}
		c.mu.Unlock()
		if err != nil {
			c.closeNow(err)
			return
		}
	}
}

// Buffered returns how many bytes are queued and not yet written.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bufferedLocked()
}

func (c *Conn) bufferedLocked() int {
	n := c.writing
	if c.out != nil {
		n += len(*c.out)
	}
	return n
}

// WaitBuffered waits until fewer than n bytes are queued; false if the
// connection closed first. A producer that could queue without bound
// (a backlog for a client that does not read) waits here.
func (c *Conn) WaitBuffered(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && c.bufferedLocked() >= n {
		if !c.flushing { // the reader may be the waiter: flush without it
			c.flushing = true
			go c.flush()
		}
		if c.drained == nil {
			c.drained = sync.NewCond(&c.mu)
		}
		c.drained.Wait()
	}
	return !c.closed
}

// writeChunk is how much one write may take at most WriteTimeout to go
// out: the timeout is for a client that stops reading, not for one slowly
// reading a large backlog.
const writeChunk = maxGather

func (c *Conn) writeOut(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		if err := c.writeChunk(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (c *Conn) writeChunk(b []byte) error {
	c.writeDeadline(clock())
	if c.sock == nil {
		_, err := c.tc.Write(b)
		return err
	}
	c.sock.gathering = true
	_, err := c.tc.Write(b)
	c.sock.gathering = false
	if ferr := c.sock.flushGathered(); err == nil {
		err = ferr
	}
	return err
}

// writeDeadline gives the write starting at now (on clock) a deadline
// between 7/8 of WriteTimeout and WriteTimeout away. A busy connection
// writes many times a second, and resetting the socket's deadline (a
// runtime timer) for each write cost more than the write's own
// bookkeeping; the deadline set by an earlier write serves a later one
// while it is far enough away. A client that stops reading is still cut
// at most WriteTimeout after the write began.
func (c *Conn) writeDeadline(now time.Duration) {
	if d := c.s.opt.WriteTimeout; c.wdeadline-now < d-d/8 {
		c.wdeadline = now + d
		c.tc.SetWriteDeadline(epoch.Add(c.wdeadline))
	}
}

// epoch and clock keep the deadlines a connection has set in 8 bytes
// each rather than a time.Time's 24: clock is the time since epoch, read
// from the monotonic clock, so a wall-clock step does not move it.
var epoch = time.Now()

func clock() time.Duration { return time.Since(epoch) }

// Close closes the connection gracefully: what is queued goes out, then a
// close frame with code and reason; the socket closes when the client
// answers, or after the close grace.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return
	}
	if c.out == nil {
		c.out = getBuf()
	}
	*c.out = appendControl(*c.out, ws.OpClose, ws.NewCloseFrameBody(code, truncateReason(reason)))
	c.closing = true
	c.startFlushLocked()
}

// truncateReason keeps a close reason within a control frame.
func truncateReason(r string) string {
	const max = 123 // 125 bytes less the status code
	if len(r) > max {
		return r[:max]
	}
	return r
}

// closeSent runs once the close frame is written: the client has the
// close grace to answer.
func (c *Conn) closeSent() {
	c.mu.Lock()
	if c.closed || c.closeTime != nil {
		c.mu.Unlock()
		return
	}
	if c.closeErr == errPeerClosed { // our answer to the client's close
		c.mu.Unlock()
		c.closeNow(errPeerClosed)
		return
	}
	c.closeTime = time.AfterFunc(c.s.opt.CloseGrace, func() { c.closeNow(nil) })
	c.mu.Unlock()
}

// CloseNow closes the socket at once.
func (c *Conn) CloseNow() { c.closeNow(errClosed) }

func (c *Conn) closeNow(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.closeErr == nil {
		c.closeErr = err
	}
	if c.closeTime != nil {
		c.closeTime.Stop()
	}
	if c.drained != nil {
		c.drained.Broadcast()
	}
	c.mu.Unlock()
	if c.polled {
		c.s.poll.remove(c)
	}
	if c.sock != nil {
		c.sock.TCPConn.Close() // no close_notify: it could block on a stalled client
	} else {
		c.tc.NetConn().Close()
	}
	c.stopReader()
}

// stopReader ends reading: at once if no reader runs, else when the
// running one notices.
func (c *Conn) stopReader() {
	for {
		switch s := c.rstate.Load(); s {
		case readIdle:
			if c.rstate.CompareAndSwap(readIdle, readStopped) {
				c.ended()
				return
			}
		case readRunning, readAgain:
			// The reader sees c.closed when it next looks.
			if c.rstate.CompareAndSwap(s, readAgain) {
				return
			}
		case readStopped:
			return
		}
	}
}

// ended tells the handler, once the reader has stopped for good.
func (c *Conn) ended() {
	if c.rbuf != nil {
		putBuf(c.rbuf)
		c.rbuf = nil
	}
	c.frag = nil
	c.mu.Lock()
	err := c.closeErr
	c.mu.Unlock()
	if errors.Is(err, errPeerClosed) {
		err = nil
	}
	if c.h != nil {
		c.h.Closed(c, err)
	}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// RemoteAddr returns the client's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.tc.RemoteAddr() }
