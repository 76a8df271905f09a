package client

import (
	"testing"

	"parley.dev/internal/keys"
)

func base(i int) (b [keys.X25519Size]byte) {
	b[0], b[1] = byte(i), byte(i>>8)
	return b
}

// TestAcceptedFirstBound: the record of accepted first messages holds at
// most maxAcceptedPerDevice entries; when full it forgets the oldest one
// whose first message consumed a one-time prekey (its replay fails
// anyway), and with none such it has no room (new first messages from
// that device are refused), never forgetting a replayable one.
func TestAcceptedFirstBound(t *testing.T) {
	var l acceptedList
	for i := range maxAcceptedPerDevice {
		if !l.room() {
			t.Fatalf("no room after %d entries", i)
		}
		l = l.with(acceptedFirst{signed: 1, oneTime: i == 10 || i == 20, base: base(i)})
	}
	for _, want := range []int{10, 20} {
		if !l.room() {
			t.Fatal("no room although one-time entries could go")
		}
		l = l.with(acceptedFirst{signed: 1, base: base(1000 + want)})
		if l.has(base(want)) || len(l) != maxAcceptedPerDevice {
			t.Fatalf("adding to a full record kept one-time entry %d (len %d)", want, len(l))
		}
	}
	if l.room() {
		t.Fatal("room in a full record of replayable entries")
	}
	for i := range maxAcceptedPerDevice {
		if i != 10 && i != 20 && !l.has(base(i)) {
			t.Fatalf("replayable entry %d forgotten", i)
		}
	}
	// Entries go with their signed prekey, and the record round-trips.
	l[0].signed = 2
	b, err := l.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalAccepted(b)
	if err != nil || len(got) != len(l) || got[0] != l[0] || got[len(got)-1] != l[len(l)-1] {
		t.Fatalf("round trip: %v", err)
	}
	if p := got.prune(map[keys.PreKeyID]bool{2: true}); len(p) != 1 || p[0].base != base(0) {
		t.Fatalf("pruned to %d entries, want the one under signed prekey 2", len(p))
	}
	for _, bad := range [][]byte{nil, {2, 0}, {1, maxAcceptedPerDevice + 1}, {1, 1, 0, 0, 0, 1, 2}} {
		if _, err := unmarshalAccepted(bad); err == nil {
			t.Errorf("accepted malformed record %x", bad)
		}
	}
}
