package server_test

import (
	"testing"

	"parley.dev/internal/wire"
	"parley.dev/server"
)

// TestQuietAcks: the relay announces quiet Acks to a client that asks
// (and only then: the Welcome keeps its original layout); they delete the
// envelopes and free window slots like Acks but are not answered, and the
// AckResult of a later Ack comes only after them.
func TestQuietAcks(t *testing.T) {
	const window, total = 4, 10
	r := startRelay(t, func(s *server.Server) { s.Window = window })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	for i := range total {
		mustStore(t, bws, alice.Addr, msgID(i), []byte{byte(i)})
	}
	if alice.Dial(t).Welcome.QuietAcks {
		t.Fatal("quiet acks announced to a client that did not ask")
	}
	aws := alice.DialQuiet(t)
	if !aws.Welcome.QuietAcks {
		t.Fatal("the Welcome does not announce quiet acks")
	}
	var last uint64
	for got, synced := 0, false; got < total || !synced; {
		switch f := next[wire.Frame](t, aws).(type) {
		case *wire.Deliver:
			got, last = got+1, f.Seq
			if err := aws.Send(&wire.Ack{Seqs: []uint64{f.Seq}, Quiet: true}); err != nil {
				t.Fatal(err)
			}
		case *wire.Synced:
			synced = true
		case *wire.PreKeyStatus:
		default:
			t.Fatalf("after %d quiet acks: %v frame", got, f.Type())
		}
	}
	ack(t, aws, last) // the Seq again: deletes nothing, confirms the rest
	aws.Conn.CloseNow()
	if again := drain(t, alice.Dial(t)); len(again) != 0 {
		t.Fatalf("reconnect delivered %d quietly acked envelopes", len(again))
	}
}
