package wsconn

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
)

// Listener accepts TCP connections and serves TLS on them, like
// tls.NewListener, over a socket wrapper that lets a connection, once
// upgraded, read without blocking (see Conn). Pass it to http.Server.Serve.
type Listener struct {
	net.Listener
	config *tls.Config
}

// NewListener returns a TLS listener on l with config.
func NewListener(l net.Listener, config *tls.Config) *Listener {
	return &Listener{Listener: l, config: config}
}

// Accept returns the next connection as a *tls.Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			c = &sockConn{TCPConn: tc, raw: rc}
		}
	}
	return tls.Server(c, l.config), nil
}

// sockConn is the TCP connection under a TLS connection. Once a Conn is
// served by a poller, reads never block: a read that would block returns
// errWouldBlock, which crypto/tls passes up without failing the
// connection (it is a temporary net.Error), keeping a partial record for
// the next read. Writes can be gathered, so that the several records one
// TLS write makes go out in one system call.
type sockConn struct {
	*net.TCPConn
	raw syscall.RawConn

	nonblock bool // set once, before the poller first wakes a reader
	// drained records that the last read was short: the kernel had fewer
	// bytes than asked for, so the socket was empty then. The next
	// non-blocking read reports errWouldBlock without the system call
	// that would have found out (one read(2) saved per burst). Bytes that
	// arrive meanwhile are never stranded: after a would-block the reader
	// either lingers (a real, blocking read) or re-arms epoll, which is
	// level-triggered and reports them at once.
	drained bool

	gathering bool    // only the connection's flusher touches these
	gathered  *[]byte // records held back until flushGathered
}

func (s *sockConn) Read(p []byte) (int, error) {
	if !s.nonblock {
		n, err := s.TCPConn.Read(p)
		s.drained = err == nil && n < len(p)
		return n, err
	}
	if s.drained {
		s.drained = false
		return 0, errWouldBlock
	}
	n, err := s.readNow(p)
	s.drained = err == nil && n < len(p)
	return n, err
}

// maxGather bounds the records held back before a gathered write goes out.
const maxGather = 64 << 10

func (s *sockConn) Write(p []byte) (int, error) {
	if !s.gathering {
		return s.TCPConn.Write(p)
	}
	if s.gathered == nil {
		s.gathered = getBuf()
	}
	*s.gathered = append(*s.gathered, p...)
	if len(*s.gathered) >= maxGather {
		if err := s.flushGathered(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (s *sockConn) flushGathered() error {
	if s.gathered == nil {
		return nil
	}
	b := s.gathered
	s.gathered = nil
	_, err := s.TCPConn.Write(*b)
	putBuf(b)
	return err
}

// errWouldBlock is a read finding no data in the socket.
var errWouldBlock = &wouldBlock{}

type wouldBlock struct{}

func (*wouldBlock) Error() string   { return "wsconn: read would block" }
func (*wouldBlock) Timeout() bool   { return true }
func (*wouldBlock) Temporary() bool { return true }

// Buffers for output and input, pooled so that an idle connection holds
// none.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns b to the pool unless it grew far beyond the usual size.
func putBuf(b *[]byte) {
	if cap(*b) > 4*bufSize {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
