//go:build !linux

package wsconn

import "errors"

// poller is Linux's epoll only. Elsewhere each connection has a reader
// goroutine blocked in Read, which is portable and costs a goroutine
// stack per idle connection.
type poller struct{}

func newPoller() (*poller, error)                 { return nil, errors.New("wsconn: no poller on this platform") }
func (p *poller) add(c *Conn) error               { return errors.New("wsconn: no poller") }
func (p *poller) rearm(c *Conn) error             { return nil }
func (p *poller) remove(c *Conn)                  {}
func (p *poller) close()                          {}
func (s *sockConn) readNow(p []byte) (int, error) { return s.TCPConn.Read(p) }
