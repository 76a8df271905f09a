package wsconn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// echo is a Handler that writes every message back.
type echo struct {
	closed chan error
	served chan *Conn // the server's side of each connection
}

func (e *echo) Messages(c *Conn, msgs [][]byte) error {
	for _, m := range msgs {
		c.Write(func(b []byte) ([]byte, error) { return append(b, m...), nil })
	}
	return nil
}
func (e *echo) Refused(*Conn, error)      {}
func (e *echo) Closed(_ *Conn, err error) { e.closed <- err }

// serve starts a TLS server whose every request upgrades to an echo
// WebSocket, and returns a client connection past the upgrade. In tests
// named ...Linger, readers linger before going back to the poller. The
// client dials with netDial if given.
func serve(t *testing.T, netDial ...func(context.Context, string, string) (net.Conn, error)) (net.Conn, *bufio.Reader, *echo) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	linger := time.Duration(0)
	if strings.HasSuffix(t.Name(), "Linger") {
		linger = 20 * time.Millisecond
	}
	s := NewServer(Options{MaxMessage: 1 << 20, WriteTimeout: 5 * time.Second, CloseGrace: time.Second, Linger: linger})
	if !s.Polling() {
		t.Log("no poller on this platform: testing the goroutine fallback")
	}
	h := &echo{closed: make(chan error, 1), served: make(chan *Conn, 1)}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Upgrade(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		h.served <- c
		c.Serve(h)
	})}
	go hs.Serve(NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}))
	t.Cleanup(func() { hs.Close(); s.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(&x509.Certificate{Raw: der})
	parsed, _ := x509.ParseCertificate(der)
	pool.AddCert(parsed)
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second}
	if len(netDial) > 0 {
		d.NetDial = netDial[0]
	}
	conn, br, _, err := d.Dial(context.Background(), "wss://"+l.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return conn, br, h
}

func clientFrame(op ws.OpCode, fin bool, p []byte) []byte {
	var buf bytes.Buffer
	f := ws.NewFrame(op, fin, bytes.Clone(p))
	if err := ws.WriteFrame(&buf, ws.MaskFrame(f)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func readFrame(t *testing.T, conn net.Conn, br *bufio.Reader) ws.Frame {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestBufferedFrames: several frames arriving in one TLS record, a frame
// split over many records, and a fragmented message are all handled. The
// first case is the readiness trap: once the socket is drained, the
// frames left inside crypto/tls or the reader's buffer raise no epoll
// event, so a reader that stopped after one frame would strand them.
func TestBufferedFrames(t *testing.T) {
	conn, br, _ := serve(t)
	var one []byte
	for i := range 20 {
		one = append(one, clientFrame(ws.OpBinary, true, []byte{byte(i), 1, 2, 3})...)
	}
	if _, err := conn.Write(one); err != nil { // one write: one TLS record
		t.Fatal(err)
	}
	for i := range 20 {
		if f := readFrame(t, conn, br); !bytes.Equal(f.Payload, []byte{byte(i), 1, 2, 3}) {
			t.Fatalf("message %d: %x", i, f.Payload)
		}
	}
	// Whole frames, then the start of one larger than the read buffer, in
	// one write: the whole ones are handed over before the buffer moves.
	big := bytes.Repeat([]byte("parley"), 20000)
	head := append(clientFrame(ws.OpBinary, true, []byte("one")), clientFrame(ws.OpBinary, true, []byte("two"))...)
	whole := clientFrame(ws.OpBinary, true, big)
	conn.Write(append(head, whole[:5000]...))
	conn.Write(whole[5000:])
	for _, want := range [][]byte{[]byte("one"), []byte("two"), big} {
		if f := readFrame(t, conn, br); !bytes.Equal(f.Payload, want) {
			t.Fatalf("after a growing frame: %d bytes back, want %d", len(f.Payload), len(want))
		}
	}
	for _, b := range bytes.SplitAfter(clientFrame(ws.OpBinary, true, big), big[:3000]) {
		conn.Write(b) // many records, the frame's header in the first
	}
	if f := readFrame(t, conn, br); !bytes.Equal(f.Payload, big) {
		t.Fatalf("split frame: %d bytes back", len(f.Payload))
	}
	conn.Write(clientFrame(ws.OpBinary, false, []byte("frag")))
	conn.Write(clientFrame(ws.OpPing, true, []byte("ping")))
	conn.Write(clientFrame(ws.OpContinuation, true, []byte("mented")))
	if f := readFrame(t, conn, br); f.Header.OpCode != ws.OpPong || string(f.Payload) != "ping" {
		t.Fatalf("ping answered with %v %q", f.Header.OpCode, f.Payload)
	}
	if f := readFrame(t, conn, br); string(f.Payload) != "fragmented" {
		t.Fatalf("fragmented message: %q", f.Payload)
	}
}

// TestBufferedFramesLinger: the same with readers that linger on Go's
// poller between bursts.
func TestBufferedFramesLinger(t *testing.T) { TestBufferedFrames(t) }

// TestCloseHandshake: the client's close frame is answered with the same
// status, the socket closes and the handler hears of a clean close.
func TestCloseHandshake(t *testing.T) {
	conn, br, h := serve(t)
	conn.Write(clientFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	f := readFrame(t, conn, br)
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
		t.Fatalf("answer %v %v", f.Header.OpCode, code)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the close: %v", err)
	}
	select {
	case err := <-h.closed:
		if err != nil {
			t.Errorf("closed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler not told")
	}
}

// TestUnmaskedFrame: a client frame without a mask is a protocol error.
func TestUnmaskedFrame(t *testing.T) {
	conn, br, h := serve(t)
	var buf bytes.Buffer
	ws.WriteFrame(&buf, ws.NewBinaryFrame([]byte("x")))
	conn.Write(buf.Bytes())
	f := readFrame(t, conn, br)
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusProtocolError {
		t.Fatalf("answer %v %v", f.Header.OpCode, code)
	}
	conn.Close()
	<-h.closed
}
