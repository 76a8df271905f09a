package server_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func TestOfflineDeliveryAcrossRestart(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	for i := range 3 {
		mustStore(t, bws, alice.Addr, msgID(i), fmt.Appendf(nil, "message %d", i))
	}
	r.Restart(t)
	aws := alice.Dial(t)
	got := drain(t, aws)
	if len(got) != 3 {
		t.Fatalf("alice got %d envelopes after the restart, want 3", len(got))
	}
	for i, d := range got {
		if d.ID != msgID(i) || d.From != bob.Addr || d.Kind != wire.KindMessage || string(d.Payload) != fmt.Sprintf("message %d", i) {
			t.Errorf("envelope %d: %+v", i, d)
		}
	}
}

func TestDeliveryOrderWithinMailbox(t *testing.T) {
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	bws, cws := bob.Dial(t), carol.Dial(t)
	var want []addr.MessageID
	for i := range 40 {
		ws := bws
		if i%3 == 0 {
			ws = cws
		}
		mustStore(t, ws, alice.Addr, msgID(i), []byte{byte(i)})
		want = append(want, msgID(i))
	}
	got := drain(t, alice.Dial(t))
	if len(got) != len(want) {
		t.Fatalf("got %d envelopes, want %d", len(got), len(want))
	}
	for i, d := range got {
		if d.ID != want[i] || i > 0 && d.Seq <= got[i-1].Seq {
			t.Fatalf("envelope %d: ID %v seq %d, want ID %v in ascending seq", i, d.ID, d.Seq, want[i])
		}
	}
}

func TestIdempotentResubmission(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	first := submit(t, bws, alice.Addr, msgID(7), []byte("once"))
	again := submit(t, bws, alice.Addr, msgID(7), []byte("once"))
	if first.Code != wire.CodeOK || first.Duplicate || again.Code != wire.CodeOK || !again.Duplicate {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	// The same ID from another sender is another message.
	carol := register(t, r, "carol")
	mustStore(t, carol.Dial(t), alice.Addr, msgID(7), []byte("carol's"))
	got := drain(t, alice.Dial(t))
	if len(got) != 2 || got[0].From != bob.Addr || got[1].From != carol.Addr {
		t.Fatalf("alice got %d envelopes (%v), want one from bob and one from carol", len(got), got)
	}
}

func TestAckDeletesAndUnackedIsRedelivered(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	mustStore(t, bws, alice.Addr, msgID(1), []byte("one"))
	mustStore(t, bws, alice.Addr, msgID(2), []byte("two"))
	aws := alice.Dial(t)
	got := drain(t, aws)
	ack(t, aws, got[0].Seq)
	aws.Conn.CloseNow()
	again := drain(t, alice.Dial(t))
	if len(again) != 1 || again[0].ID != msgID(2) {
		t.Fatalf("after acking the first, reconnect delivered %v, want only the second", again)
	}
	if !bytes.Equal(again[0].Payload, []byte("two")) {
		t.Errorf("payload %q", again[0].Payload)
	}
}

func TestLiveDelivery(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	alice2 := sibling(t, r, alice)
	aws, a2ws, bws := alice.Dial(t), alice2.Dial(t), bob.Dial(t)
	drain(t, aws)
	drain(t, a2ws)
	mustStore(t, bws, alice.Addr, msgID(1), []byte("to phone"))
	mustStore(t, bws, alice2.Addr, msgID(1), []byte("to laptop"))
	if d := next[*wire.Deliver](t, aws); string(d.Payload) != "to phone" {
		t.Errorf("alice/1 got %q", d.Payload)
	}
	if d := next[*wire.Deliver](t, a2ws); string(d.Payload) != "to laptop" {
		t.Errorf("alice/2 got %q", d.Payload)
	}
	// A device may write to its own user's other devices.
	mustStore(t, aws, alice2.Addr, msgID(2), []byte("sync"))
	if d := next[*wire.Deliver](t, a2ws); d.From != alice.Addr {
		t.Errorf("from %v", d.From)
	}
}

// TestDeliveryWindow checks flow control: the relay never has more than
// Window deliveries unacknowledged.
func TestDeliveryWindow(t *testing.T) {
	const window = 4
	r := startRelay(t, func(s *server.Server) { s.Window = window })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	for i := range 10 {
		mustStore(t, bws, alice.Addr, msgID(i), []byte{byte(i)})
	}
	aws := alice.Dial(t)
	if aws.Welcome.Window != window {
		t.Fatalf("welcome window %d", aws.Welcome.Window)
	}
	var seqs []uint64
	for range window {
		seqs = append(seqs, next[*wire.Deliver](t, aws).Seq)
	}
	// Ack one: before its AckResult at most one more delivery may come.
	if err := aws.Send(&wire.Ack{Seqs: seqs[:1]}); err != nil {
		t.Fatal(err)
	}
	extra := 0
	for {
		f := next[wire.Frame](t, aws)
		if _, ok := f.(*wire.AckResult); ok {
			break
		}
		if _, ok := f.(*wire.Deliver); ok {
			extra++
		}
	}
	if extra > 1 {
		t.Fatalf("%d deliveries beyond the window before the ack was confirmed", extra)
	}
	// The rest arrive one per ack. Each ack frees a slot, so the next
	// delivery may overtake the ack's confirmation: accept both orders.
	for total := window + extra; total < 10; {
		switch f := next[wire.Frame](t, aws).(type) {
		case *wire.Deliver:
			total++
			if err := aws.Send(&wire.Ack{Seqs: []uint64{f.Seq}}); err != nil {
				t.Fatal(err)
			}
		case *wire.AckResult, *wire.Synced, *wire.PreKeyStatus:
		default:
			t.Fatalf("unexpected %v frame", f.Type())
		}
	}
}

func TestSubmitErrors(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.MailboxCap = 2; s.MaxEnvelope = 1024 })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	if bws.Welcome.MaxEnvelope != 1024 {
		t.Errorf("welcome max envelope %d", bws.Welcome.MaxEnvelope)
	}
	mustStore(t, bws, alice.Addr, msgID(1), make([]byte, 1024))
	for _, tc := range []struct {
		to      addr.Address
		id      int
		payload []byte
		code    wire.Code
	}{
		{alice.Addr, 2, make([]byte, 1025), wire.CodeTooLarge},
		{addr.Address{User: "nobody", Device: 1}, 3, []byte("x"), wire.CodeUnknownDevice},
		{addr.Address{User: "alice", Device: 9}, 4, []byte("x"), wire.CodeUnknownDevice},
		{alice.Addr, 5, nil, wire.CodeMalformed},
	} {
		if res := submit(t, bws, tc.to, msgID(tc.id), tc.payload); res.Code != tc.code {
			t.Errorf("submit %d to %v: %v, want %v", tc.id, tc.to, res.Code, tc.code)
		}
	}
	mustStore(t, bws, alice.Addr, msgID(6), []byte("fills the mailbox"))
	if res := submit(t, bws, alice.Addr, msgID(7), []byte("x")); res.Code != wire.CodeMailboxFull {
		t.Errorf("submit to a full mailbox: %v", res.Code)
	}
	// A duplicate of a stored envelope is still a duplicate when full.
	if res := submit(t, bws, alice.Addr, msgID(6), []byte("fills the mailbox")); res.Code != wire.CodeOK || !res.Duplicate {
		t.Errorf("resubmission to a full mailbox: %+v", res)
	}
	if got := drain(t, alice.Dial(t)); len(got) != 2 {
		t.Errorf("alice got %d envelopes, want 2", len(got))
	}
}

func TestTTLExpiryTellsSender(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.MailboxTTL = time.Hour
		s.SweepInterval = 5 * time.Millisecond
	})
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	drain(t, bws)
	mustStore(t, bws, alice.Addr, msgID(1), []byte("too late"))
	mustStore(t, bws, alice.Addr, msgID(2), []byte("too late too"))
	clk.Advance(30 * time.Minute)
	mustStore(t, bws, alice.Addr, msgID(3), []byte("in time"))
	clk.Advance(31 * time.Minute) // the first two are now past their TTL
	notice := next[*wire.Deliver](t, bws)
	if notice.Kind != wire.KindExpired || notice.From != alice.Addr {
		t.Fatalf("bob got %+v, want an expiry notice about alice", notice)
	}
	if !bytes.Equal(notice.Payload, idBytes(1, 2)) && !bytes.Equal(notice.Payload, idBytes(2, 1)) {
		t.Fatalf("notice lists %x, want the IDs of messages 1 and 2", notice.Payload)
	}
	ack(t, bws, notice.Seq)
	got := drain(t, alice.Dial(t))
	if len(got) != 1 || got[0].ID != msgID(3) {
		t.Fatalf("alice got %v, want only message 3", got)
	}
	if m := metricsText(t, r.Client(), r.MetricsURL); !bytesContains(m, "parley_envelopes_expired_total 2\n") {
		t.Error("expired counter is not 2")
	}
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// idBytes concatenates message IDs, as an expiry notice does.
func idBytes(ns ...int) []byte {
	var b []byte
	for _, n := range ns {
		id := msgID(n)
		b = append(b, id[:]...)
	}
	return b
}
