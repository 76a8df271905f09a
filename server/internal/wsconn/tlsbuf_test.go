package wsconn

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestTLSInputFieldsFound: this Go release was reviewed for
// releaseTLSBuffers and its crypto/tls.Conn has the input buffers it
// drops. If not, the relay keeps working but an idle connection holds
// 3.5 kB more: review crypto/tls (see tlsInput) and update tlsReviewedGo
// or findTLSInput.
func TestTLSInputFieldsFound(t *testing.T) {
	if !tlsInput.ok {
		t.Fatalf("%s: not reviewed (tlsReviewedGo), or crypto/tls.Conn has no rawInput, input and hand buffers of the expected types", runtime.Version())
	}
}

// TestIdleConnectionReleasesTLSBuffers: a connection handed back to the
// poller holds no crypto/tls input buffer, and reads on after it, also
// records larger than the buffers it had (crypto/tls allocates them
// again) and a frame split over records.
func TestIdleConnectionReleasesTLSBuffers(t *testing.T) {
	conn, br, h := serve(t)
	c := <-h.served
	if c.s.poll == nil {
		t.Skip("no poller on this platform")
	}
	big := bytes.Repeat([]byte("parley"), 5000)
	for i, msg := range [][]byte{[]byte("small"), big, []byte("small again")} {
		waitTLSReleased(t, c, i)
		whole := clientFrame(ws.OpBinary, true, msg)
		conn.Write(whole[:len(whole)/2])
		conn.Write(whole[len(whole)/2:])
		if f := readFrame(t, conn, br); !bytes.Equal(f.Payload, msg) {
			t.Fatalf("message %d: %d bytes back, want %d", i, len(f.Payload), len(msg))
		}
	}
	waitTLSReleased(t, c, 3)
}

// TestIdleConnectionReleasesTLSBuffersLinger: the same with a reader
// that lingers before handing the connection back.
func TestIdleConnectionReleasesTLSBuffersLinger(t *testing.T) {
	TestIdleConnectionReleasesTLSBuffers(t)
}

// TestPartialRecordAcrossIdle: a TLS record whose second half arrives
// after the reader handed the connection back is read whole (crypto/tls
// keeps the first half: the buffers are not dropped while they hold
// anything).
func TestPartialRecordAcrossIdle(t *testing.T) {
	var split atomic.Bool
	conn, br, _ := serve(t, func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := new(net.Dialer).DialContext(ctx, network, addr)
		return &splitConn{Conn: c, split: &split}, err
	})
	split.Store(true)
	for i, msg := range [][]byte{[]byte("halves"), bytes.Repeat([]byte("parley"), 5000)} {
		conn.Write(clientFrame(ws.OpBinary, true, msg))
		if f := readFrame(t, conn, br); !bytes.Equal(f.Payload, msg) {
			t.Fatalf("message %d: %d bytes back, want %d", i, len(f.Payload), len(msg))
		}
	}
}

// TestPartialRecordAcrossIdleLinger: the same with a reader that
// lingers, shorter than the pause.
func TestPartialRecordAcrossIdleLinger(t *testing.T) { TestPartialRecordAcrossIdle(t) }

// splitConn writes, once split is set, each write in two halves 50 ms
// apart: longer than a reader's linger in these tests.
type splitConn struct {
	net.Conn
	split *atomic.Bool
}

func (c *splitConn) Write(p []byte) (int, error) {
	if !c.split.Load() || len(p) < 2 {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	time.Sleep(50 * time.Millisecond)
	m, err := c.Conn.Write(p[len(p)/2:])
	return n + m, err
}

// waitTLSReleased waits until c is back with the poller and checks that
// its crypto/tls input buffers are gone. (The reader releases them before
// it stores readIdle, so reading them after loading readIdle is ordered.)
func waitTLSReleased(t *testing.T, c *Conn, step int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.rstate.Load() != readIdle {
		if time.Now().After(deadline) {
			t.Fatalf("step %d: the reader never went idle", step)
		}
		time.Sleep(time.Millisecond)
	}
	raw, in, hand := tlsBuffers(c.tc)
	rawCap, inSize, handCap := raw.Cap(), in.Size(), hand.Cap()
	// A write of rstate, which the next reader's wake reads, orders these
	// reads before that reader's writes for the race detector (the
	// client's next write orders them in fact, through the kernel).
	c.rstate.CompareAndSwap(readIdle, readIdle)
	if rawCap != 0 || inSize != 0 || handCap != 0 {
		t.Fatalf("step %d: idle connection holds TLS buffers: raw %d, input %d, hand %d",
			step, rawCap, inSize, handCap)
	}
}
