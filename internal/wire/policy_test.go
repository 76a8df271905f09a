package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestSubmitTTLLayout: a Submit without TTL keeps the original bytes; a
// TTL is a trailing u32, and a zero or short one is refused.
func TestSubmitTTLLayout(t *testing.T) {
	plain, err := Marshal(&Submit{To: bob2, ID: msgID, Payload: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	timed, err := Marshal(&Submit{To: bob2, ID: msgID, Payload: []byte("c"), TTL: 0x01020304})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(timed, append(bytes.Clone(plain), 1, 2, 3, 4)) {
		t.Fatalf("timed submit %s, plain %s", hex.EncodeToString(timed), hex.EncodeToString(plain))
	}
	for _, bad := range [][]byte{append(bytes.Clone(plain), 0, 0, 0, 0), append(bytes.Clone(plain), 0, 1)} {
		if _, err := Parse(bad); !errors.Is(err, CodeMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

func TestPolicyFrameLimits(t *testing.T) {
	if _, err := Marshal(&Policy{}); err == nil {
		t.Fatal("empty policy document accepted")
	}
	if _, err := Marshal(&Policy{Doc: make([]byte, MaxPolicy+1)}); err == nil {
		t.Fatal("oversized policy document accepted")
	}
	if CodeNoPolicy != 65 || CodePolicyStale != 66 || TypePolicy != 0xC0 {
		t.Fatal("numbers are part of the protocol")
	}
}

// TestQuietAckLayout: a quiet Ack is an Ack's body under its own type, and
// a Welcome announces it with a trailing flags byte of 1, leaving the
// original layout unchanged without it; any other flags are refused.
func TestQuietAckLayout(t *testing.T) {
	loud, err := Marshal(&Ack{Seqs: []uint64{7, 9}})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := Marshal(&Ack{Seqs: []uint64{7, 9}, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if quiet[1] != byte(TypeAckQuiet) || !bytes.Equal(quiet[2:], loud[2:]) {
		t.Fatalf("quiet ack %x, ack %x", quiet, loud)
	}
	if a, err := ParseAs[*Ack](quiet); err != nil || !a.Quiet {
		t.Fatalf("parsed quiet ack %+v, %v", a, err)
	}
	if a, err := ParseAs[*Ack](loud); err != nil || a.Quiet {
		t.Fatalf("parsed ack %+v, %v", a, err)
	}
	w := Welcome{Address: alice1, MaxEnvelope: 1, Window: 2, MaxInFlight: 3}
	plain, err := Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	w.QuietAcks = true
	flagged, err := Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(flagged, append(bytes.Clone(plain), 1)) {
		t.Fatalf("welcome with quiet acks %x, without %x", flagged, plain)
	}
	for _, bad := range [][]byte{append(bytes.Clone(plain), 0), append(bytes.Clone(plain), 3), append(bytes.Clone(flagged), 1)} {
		if _, err := Parse(bad); !errors.Is(err, CodeMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}
