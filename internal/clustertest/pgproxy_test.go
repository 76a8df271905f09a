package clustertest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// pgProxy forwards TCP connections to a PostgreSQL server. Its outage
// stands for a database restart: every connection through it is cut at
// once and new ones are refused (accepted and closed at once) until it
// ends.
type pgProxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

// startPGProxy starts a proxy in front of dsn's server and returns it
// with dsn pointing at the proxy instead.
func startPGProxy(t *testing.T, dsn string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{l: l, target: u.Host, conns: make(map[net.Conn]struct{})}
	t.Cleanup(func() {
		l.Close()
		p.cut()
	})
	go p.serve()
	u.Host = l.Addr().String()
	return p, u.String()
}

func (p *pgProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

// forward copies between c and a new connection to the server, both ways,
// until either side ends or cut closes both.
func (p *pgProxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrackClose(c)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(s) {
		s.Close()
		return
	}
	defer p.untrackClose(s)
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// track records c, or reports false during an outage.
func (p *pgProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *pgProxy) untrackClose(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// startOutage cuts every connection and refuses new ones until
// endOutage.
func (p *pgProxy) startOutage() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.cut()
}

func (p *pgProxy) endOutage() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// cut closes every connection through the proxy.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
