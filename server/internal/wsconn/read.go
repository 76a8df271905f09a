package wsconn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
)

// wake runs the reader, or tells the running one to look again.
func (c *Conn) wake() {
	for {
		switch s := c.rstate.Load(); s {
		case readIdle:
			if c.rstate.CompareAndSwap(readIdle, readRunning) {
				go c.readBurst()
				return
			}
		case readRunning:
			if c.rstate.CompareAndSwap(readRunning, readAgain) {
				return
			}
		default: // readAgain, readStopped
			return
		}
	}
}

// readBurst reads and handles everything readable, then gives the
// connection back to the poller.
func (c *Conn) readBurst() {
	for {
		c.readAvailable()
		if c.isClosed() {
			c.rstate.Store(readStopped)
			c.ended()
			return
		}
		if c.rbuf != nil && len(*c.rbuf) == 0 {
			// Idle connections hold no buffer, nor do lingering ones:
			// many may linger at once.
			putBuf(c.rbuf)
			c.rbuf = nil
		}
		if c.linger() {
			continue
		}
		releaseTLSBuffers(c.tc) // while still the reader (see tlsInput)
		if c.rstate.CompareAndSwap(readRunning, readIdle) {
			if err := c.s.poll.rearm(c); err != nil {
				c.closeNow(err)
			}
			return
		}
		c.rstate.Store(readRunning) // woken meanwhile: look again
	}
}

// lingerRead is how much a linger's read takes at most: it only waits
// for the next bytes, which the reader then reads with the rest.
const lingerRead = 64

// linger waits up to Options.Linger for more to read, with a blocking
// read on Go's network poller, and reports whether something came.
func (c *Conn) linger() bool {
	d := c.s.opt.Linger
	if d <= 0 || c.isClosed() {
		return false
	}
	var first [lingerRead]byte // the rest of a record stays in crypto/tls, read next
	c.lingerDeadline(clock(), d)
	c.sock.nonblock = false
	n, err := c.tc.Read(first[:])
	c.sock.nonblock = true
	if n > 0 {
		if c.rbuf == nil {
			c.rbuf = getBuf()
		}
		*c.rbuf = append(*c.rbuf, first[:n]...)
	}
	if err != nil && !isTimeout(err) {
		c.closeNow(err)
		return false
	}
	return n > 0
}

// isTimeout reports whether err is a net.Error timeout. (Apart from
// linger, whose every call would otherwise allocate the net.Error that
// errors.As writes to.)
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lingerDeadline makes the socket's read deadline between d/2 and d
// after now (on clock). The deadline stays set after the linger: setting
// and clearing it (a runtime timer) for every linger of a busy connection
// cost more than the linger's read, and the non-blocking reads in between
// clear one that has passed (sockConn.readNow).
func (c *Conn) lingerDeadline(now, d time.Duration) {
	if c.rdeadline-now < d/2 {
		c.rdeadline = now + d
		c.tc.SetReadDeadline(epoch.Add(c.rdeadline))
	}
}

// readLoop is the reader of a connection without a poller: a goroutine
// blocked in Read for the connection's life.
func (c *Conn) readLoop() {
	for !c.isClosed() {
		c.readAvailable()
	}
	c.rstate.Store(readStopped)
	c.ended()
}

// readAvailable reads until a read would block (with a poller) or once
// (without), handing complete messages to the handler after each batch.
//
// Readiness subtleties: epoll reports bytes in the socket, not bytes
// crypto/tls or this reader already hold. So the reader reads until the
// socket is empty (errWouldBlock). Then crypto/tls holds at most part of
// one record, and rbuf at most part of one frame, both completed only by
// bytes still to arrive, which epoll will report.
func (c *Conn) readAvailable() {
	if c.rbuf == nil {
		c.rbuf = getBuf()
	}
	for {
		b := *c.rbuf
		if len(b) == cap(b) {
			b = c.growBuf(len(b) + bufSize)
		}
		n, err := c.tc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		*c.rbuf = b
		blocked := errors.Is(err, errWouldBlock)
		if err != nil && !blocked {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // no close frame first
			}
			c.closeNow(err)
			return
		}
		full := len(b) == cap(b)
		if !blocked && c.sock != nil && c.sock.nonblock && !full {
			continue // gather everything readable before handling it
		}
		if !c.handle() || blocked || c.sock == nil || !c.sock.nonblock {
			return
		}
	}
}

// growBuf replaces c.rbuf with a buffer with room for at least n bytes,
// keeping its contents, and returns the new buffer.
func (c *Conn) growBuf(n int) []byte {
	old := c.rbuf
	nb := make([]byte, len(*old), max(n, 2*cap(*old)))
	copy(nb, *old)
	putBuf(old)
	c.rbuf = &nb
	return nb
}

// handle parses the complete frames in rbuf, answers control frames,
// hands the messages to the handler and keeps a partial frame for later.
// It returns false once the connection is ending.
func (c *Conn) handle() bool {
	b := *c.rbuf
	if c.discard { // refused: what follows cannot be framed
		*c.rbuf = b[:0]
		return true
	}
	var msgs [][]byte
	off, need := 0, 0
	stop := false
	for !stop {
		h, hl, ok, err := parseHeader(b[off:])
		if err == nil && ok {
			err = c.checkHeader(h)
		}
		if err != nil {
			c.protocolError(msgs, err)
			return false
		}
		if !ok || int64(len(b)-off-hl) < h.Length {
			if ok {
				need = hl + int(h.Length) // the whole frame must fit, later
			}
			break
		}
		p := b[off+hl : off+hl+int(h.Length)]
		off += hl + len(p)
		ws.Cipher(p, h.Mask, 0)
		msgs, stop = c.frame(h, p, msgs)
	}
	if len(msgs) > 0 && !c.closingOrClosed() {
		if err := c.handleMessages(msgs); err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				ce = &CloseError{Code: ws.StatusInternalServerError, Reason: "internal error"}
			}
			c.Close(ce.Code, ce.Reason)
			stop = true
		}
	}
	// Only now, with msgs (which alias b) handled, move the partial frame
	// to the front, and make room for all of it.
	rest := copy(b, b[off:])
	*c.rbuf = b[:rest]
	if need > cap(b) {
		c.growBuf(need)
	}
	return !stop
}

func (c *Conn) checkHeader(h ws.Header) error {
	state := ws.StateServerSide
	if c.fragmented {
		state |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return err
	}
	if h.Length > int64(c.s.opt.MaxMessage) || int64(len(c.frag))+h.Length > int64(c.s.opt.MaxMessage) {
		return ErrTooBig
	}
	return nil
}

// frame handles one unmasked frame, appending a complete message to msgs.
// stop reports that reading ends (a close frame).
func (c *Conn) frame(h ws.Header, p []byte, msgs [][]byte) ([][]byte, bool) {
	switch h.OpCode {
	case ws.OpBinary, ws.OpText, ws.OpContinuation:
		if h.OpCode == ws.OpText {
			c.protocolError(msgs, ErrText)
			return nil, true
		}
		switch {
		case h.Fin && !c.fragmented:
			return append(msgs, p), false
		case !h.Fin:
			c.fragmented = true
			c.frag = append(c.frag, p...)
			return msgs, false
		}
		m := append(c.frag, p...)
		c.frag, c.fragmented = nil, false
		return append(msgs, m), false
	case ws.OpPing:
		c.queue(ws.OpPong, func(b []byte) ([]byte, error) { return append(b, p...), nil })
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p)
		if err := ws.CheckCloseFrameData(code, reason); err != nil && len(p) > 0 {
			code = ws.StatusProtocolError
		}
		if code.Empty() {
			code = ws.StatusNormalClosure
		}
		c.mu.Lock()
		answered := c.closing
		c.mu.Unlock()
		if answered {
			c.closeNow(errPeerClosed)
		} else {
			c.mu.Lock()
			c.closeErr = errPeerClosed
			c.mu.Unlock()
			c.Close(code, "")
		}
		return msgs, true
	}
	return msgs, false
}

// protocolError closes the connection on a malformed frame, after handing
// over the messages before it.
func (c *Conn) protocolError(msgs [][]byte, err error) {
	c.discard = true
	if len(msgs) > 0 && !c.closingOrClosed() {
		c.h.Messages(c, msgs)
	}
	switch {
	case errors.Is(err, ErrTooBig):
		c.h.Refused(c, ErrTooBig)
		c.Close(ws.StatusMessageTooBig, "message too big")
	case errors.Is(err, ErrText):
		c.h.Refused(c, ErrText)
		c.Close(ws.StatusPolicyViolation, "binary messages only")
	default:
		c.h.Refused(c, fmt.Errorf("%w: %v", ErrProtocol, err))
		c.Close(ws.StatusProtocolError, "protocol error")
	}
}

func (c *Conn) closingOrClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.closed
}
