// Package wsconn serves the relay's WebSockets (RFC 6455 over TLS 1.3) so
// that an idle connection costs as little memory as possible: no
// goroutine, no read or write buffer (its own or crypto/tls's input
// buffers: see tlsInput), only crypto/tls's keys and a few hundred bytes
// of its own.
//
// On Linux one epoll instance watches every upgraded connection; when one
// becomes readable a short-lived reader reads everything the socket
// holds (without blocking: see sockConn), hands the complete messages to
// the connection's Handler in one call, and returns the connection to
// epoll. Writes are queued; one short-lived flusher per connection writes
// everything queued so far with one TLS write and one system call, and
// more queued meanwhile goes out together next. Buffers come from a pool
// and go back when a connection falls idle. Elsewhere (or for a
// connection not accepted by Listener) each connection has a reader
// goroutine blocked in Read instead.
//
// Framing: github.com/gobwas/ws supplies the HTTP upgrade, the header
// rules (ws.CheckHeader), unmasking and close frame bodies; this package
// parses headers from its own buffer (parseHeader, fuzzed against
// gobwas/ws's reader) so that a partial frame never blocks a reader.
// Messages must be binary; fragmented messages are reassembled; pings are
// answered; no extension (compression) is negotiated.
package wsconn

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"github.com/gobwas/ws"
)

// Options configure a Server.
type Options struct {
	// MaxMessage is the largest message accepted; a larger one closes the
	// connection with status 1009.
	MaxMessage int
	// WriteTimeout bounds one write: a client that stops reading is
	// disconnected after it.
	WriteTimeout time.Duration
	// CloseGrace is how long a closing connection waits for the client's
	// close frame.
	CloseGrace time.Duration
	// Linger is how long a reader that found nothing more to read waits
	// for more before handing its connection back to the poller: a busy
	// connection then stays on Go's own network poller (cheaper than a
	// round trip through epoll and a new goroutine), an idle one costs no
	// goroutine. Zero hands it back at once.
	Linger time.Duration
}

// Server upgrades and serves connections. It is safe for concurrent use.
type Server struct {
	opt  Options
	poll *poller // nil: a reader goroutine per connection
}

// NewServer returns a Server, with an epoll poller where the platform has
// one.
func NewServer(opt Options) *Server {
	s := &Server{opt: opt}
	if p, err := newPoller(); err == nil {
		s.poll = p
	}
	return s
}

// Polling reports whether connections are served without a goroutine
// while idle.
func (s *Server) Polling() bool { return s.poll != nil }

// Close stops the poller. Connections stay open; close them first.
func (s *Server) Close() {
	if s.poll != nil {
		s.poll.close()
	}
}

// ErrNotTLS is returned by Upgrade for a request not served over TLS.
var ErrNotTLS = errors.New("wsconn: not a TLS connection")

// Upgrade answers a WebSocket upgrade request and returns the connection,
// not yet reading (see Serve). The answer carries the headers already set
// on w (security headers, say). On failure the client has been answered
// and the connection closed.
func (s *Server) Upgrade(w http.ResponseWriter, req *http.Request) (*Conn, error) {
	nc, rw, _, err := ws.HTTPUpgrader{Header: w.Header().Clone()}.Upgrade(req, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		nc.Close()
		return nil, ErrNotTLS
	}
	c := &Conn{s: s, tc: tc}
	c.sock, _ = tc.NetConn().(*sockConn)
	// What net/http read ahead of the upgrade belongs to the WebSocket.
	if n := rw.Reader.Buffered(); n > 0 {
		ahead, _ := rw.Reader.Peek(n)
		c.rbuf = getBuf()
		*c.rbuf = append(*c.rbuf, bytes.Clone(ahead)...)
	}
	return c, nil
}

// Serve starts reading c, calling h. Call it once; h may receive messages
// before Serve returns.
func (c *Conn) Serve(h Handler) {
	c.h = h
	c.rstate.Store(readRunning)
	if c.s.poll == nil || c.sock == nil {
		go c.readLoop()
		return
	}
	if err := c.s.poll.add(c); err != nil {
		go c.readLoop()
		return
	}
	c.polled = true
	c.sock.nonblock = true
	c.sock.drained = false // the upgrade's reads say nothing of now
	// Bytes may have arrived before registration, or be held already:
	// read once as if woken.
	go c.readBurst()
}
