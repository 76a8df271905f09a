package relay

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
)

// ackRelay is a fake relay's WebSocket end: it sends a Welcome, records
// the Acks it reads and answers each one that is not quiet.
func ackRelay(t *testing.T, quietAcks bool, acks chan<- *wire.Ack) *Client {
	t.Helper()
	srv := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		welcome, _ := wire.Marshal(&wire.Welcome{Address: addr.Address{User: "a", Device: 1},
			MaxEnvelope: wire.DefaultMaxEnvelope, Window: 16, MaxInFlight: 4, QuietAcks: quietAcks})
		if ws.Write(ctx, websocket.MessageBinary, welcome) != nil {
			return
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			a, err := wire.ParseAs[*wire.Ack](b)
			if err != nil {
				t.Errorf("fake relay read %x: %v", b, err)
				return
			}
			acks <- a
			if !a.Quiet {
				res, _ := wire.Marshal(&wire.AckResult{Seqs: a.Seqs})
				if ws.Write(ctx, websocket.MessageBinary, res) != nil {
					return
				}
			}
		}
	})
	c, err := New(Config{URL: srv.URL, Roots: rootsOf(srv)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func dialAcking(t *testing.T, c *Client) *Conn {
	t.Helper()
	key, err := keys.GenerateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Dial(t.Context(), Auth{Address: addr.Address{User: "a", Device: 1}, Key: key}, DialOptions{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

const testTimeout = 30 * time.Second

// TestQuietAcksSettle: against a relay that takes quiet Acks the device
// sends them, and Settled confirms them with one answered Ack of the last
// Seq again; against one that does not it sends Acks and Settled waits
// for their answers.
func TestQuietAcksSettle(t *testing.T) {
	for _, quiet := range []bool{true, false} {
		acks := make(chan *wire.Ack, 8)
		conn := dialAcking(t, ackRelay(t, quiet, acks))
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		for _, seqs := range [][]uint64{{1, 2}, {5}} {
			if err := conn.Ack(ctx, seqs); err != nil {
				t.Fatal(err)
			}
			if a := <-acks; a.Quiet != quiet || !slices.Equal(a.Seqs, seqs) {
				t.Fatalf("quiet acks taken %v: sent %+v for %v", quiet, a, seqs)
			}
		}
		if err := conn.Settled(ctx); err != nil {
			t.Fatal(err)
		}
		if quiet {
			if a := <-acks; a.Quiet || !slices.Equal(a.Seqs, []uint64{5}) {
				t.Fatalf("Settled sent %+v, want an answered Ack of Seq 5", a)
			}
		}
		if err := conn.Settled(ctx); err != nil { // nothing new: no frame
			t.Fatal(err)
		}
		if err := conn.Ack(ctx, []uint64{9}); err != nil {
			t.Fatal(err)
		}
		if a := <-acks; !slices.Equal(a.Seqs, []uint64{9}) { // frames arrive in order
			t.Fatalf("quiet acks taken %v: a second Settled sent %+v", quiet, a)
		}
		cancel()
	}
}
