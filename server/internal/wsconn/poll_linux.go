//go:build linux

package wsconn

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller waits for any of many connections to become readable with one
// epoll instance and one goroutine, and wakes a short-lived reader for
// each. Connections are registered edge-insensitive and one-shot: a
// reader re-arms its connection when it has read everything, and epoll
// reports it again at once if bytes arrived meanwhile. It is safe for
// concurrent use.
type poller struct {
	epfd         int
	wakeR, wakeW int // a pipe that ends the loop

	mu     sync.Mutex
	conns  map[int32]*Conn
	nextID uint32
	closed bool
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, err
	}
	p := &poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], conns: make(map[int32]*Conn)}
	go p.loop()
	return p, nil
}

func (p *poller) loop() {
	var events [256]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(p.epfd, events[:], -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for i := range events[:n] {
			ev := &events[i]
			if ev.Fd == int32(p.wakeR) {
				syscall.Close(p.epfd)
				syscall.Close(p.wakeR)
				return
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			// A connection closed since epoll_wait returned may have
			// left its descriptor to a new one: the ID tells them apart.
			if c != nil && c.pollID == uint32(ev.Pad) {
				c.wake()
			}
		}
	}
}

// add registers c; the poller then wakes its reader when it is readable.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	p.nextID++
	c.pollID = p.nextID
	var fd int
	if err := c.sock.raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	c.fd = int32(fd)
	ev := syscall.EpollEvent{Events: pollEvents, Fd: c.fd, Pad: int32(c.pollID)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	p.conns[c.fd] = c
	return nil
}

// rearm makes the poller report c again once it is readable.
func (p *poller) rearm(c *Conn) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: c.fd, Pad: int32(c.pollID)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(c.fd), &ev)
}

// remove unregisters c, before its socket is closed.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	}
}

// close ends the loop; registered connections stay open.
func (p *poller) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		syscall.Write(p.wakeW, []byte{0})
		syscall.Close(p.wakeW)
	}
}

// readNow reads what the socket holds without waiting. A read deadline
// that a linger left and that has passed since (see Conn.linger) is
// cleared: it was for that linger's blocking read only.
func (s *sockConn) readNow(p []byte) (int, error) {
	n, err, rerr := s.rawRead(p)
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		s.TCPConn.SetReadDeadline(time.Time{})
		n, err, rerr = s.rawRead(p)
	}
	if rerr != nil {
		return 0, rerr
	}
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawRead makes one read(2) on the socket: rerr is the runtime's error
// (a closed socket, a deadline passed), err the system call's.
func (s *sockConn) rawRead(p []byte) (n int, err, rerr error) {
	rerr = s.raw.Read(func(fd uintptr) bool {
		n, err = syscall.Read(int(fd), p)
		return true
	})
	return n, err, rerr
}
