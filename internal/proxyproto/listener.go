package proxyproto

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Listener requires a PROXY v2 header on every connection whose peer is
// Trusted, and takes that connection's remote address from it; other
// connections are passed through untouched, so a header from an
// untrusted peer is never read (the server then sees it as garbage).
//
// Accept does not read: the header is read by the connection's first
// Read or RemoteAddr call, on the goroutine serving it, within Timeout.
// A missing or malformed header makes every Read fail, so the server's
// handshake fails and the connection is closed.
type Listener struct {
	net.Listener
	// Trusted reports whether a peer is a proxy whose headers are
	// believed.
	Trusted func(netip.Addr) bool
	// Timeout bounds reading the header (0: no bound).
	Timeout time.Duration
}

// Accept returns the next connection, wrapped if its peer is trusted.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil && l.Trusted(ap.Addr().Unmap()) {
		return &Conn{Conn: c, timeout: l.Timeout}, nil
	}
	return c, nil
}

// Conn is a connection from a trusted proxy. It is safe for concurrent
// use as net.Conn is.
type Conn struct {
	net.Conn
	timeout time.Duration

	once   sync.Once
	header Header
	err    error

	mu       sync.Mutex
	deadline time.Time // the read deadline the caller set
}

// readHeader reads the header once, under the sooner of the caller's read
// deadline and the timeout, and then restores the caller's deadline.
func (c *Conn) readHeader() {
	c.once.Do(func() {
		c.mu.Lock()
		user := c.deadline
		c.mu.Unlock()
		d := user
		if c.timeout > 0 {
			if t := time.Now().Add(c.timeout); d.IsZero() || t.Before(d) {
				d = t
			}
		}
		c.Conn.SetReadDeadline(d)
		c.header, c.err = Read(c.Conn)
		c.mu.Lock()
		c.Conn.SetReadDeadline(c.deadline)
		c.mu.Unlock()
	})
}

// Header returns what the proxy said, reading it if need be.
func (c *Conn) Header() (Header, error) {
	c.readHeader()
	return c.header, c.err
}

// Read reads the connection's own bytes, after the header.
func (c *Conn) Read(b []byte) (int, error) {
	if c.readHeader(); c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

// RemoteAddr is the client's address as the proxy gave it, or the proxy's
// own for a LOCAL header or one that failed to read.
func (c *Conn) RemoteAddr() net.Addr {
	if c.readHeader(); c.err != nil || c.header.Local {
		return c.Conn.RemoteAddr()
	}
	return net.TCPAddrFromAddrPort(c.header.Source)
}

// SetDeadline sets both deadlines, remembering the read deadline for
// after the header.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, remembering it for after the
// header.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}
