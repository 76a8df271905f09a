package ratchet

import (
	"bytes"
	"testing"
)

// fuzzStates returns serialized states of every shape: both starting
// states, and states with skipped keys and key history.
func fuzzStates(t testing.TB) [][]byte {
	a, b := newPair(t, fixedHooks(t, "fuzz a"), fixedHooks(t, "fuzz b"))
	out := [][]byte{marshal(t, a), marshal(t, b)}
	encrypt(t, a, "skipped")
	decrypt(t, b, encrypt(t, a, "1"), "1")
	decrypt(t, a, encrypt(t, b, "2"), "2")
	decrypt(t, b, encrypt(t, a, "3"), "3")
	return append(out, marshal(t, a), marshal(t, b))
}

// FuzzUnmarshal: Unmarshal never panics, and whatever it accepts
// re-serializes to exactly the same bytes.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzStates(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			return
		}
		if got := marshal(t, s); !bytes.Equal(got, b) {
			t.Fatalf("accepted state re-serializes differently:\n in %x\nout %x", b, got)
		}
	})
}

// FuzzDecrypt: arbitrary messages against a live state never panic, and a
// rejected one leaves the state unchanged.
func FuzzDecrypt(f *testing.F) {
	a, b := newPair(f, fixedHooks(f, "fuzz a"), fixedHooks(f, "fuzz b"))
	m0 := encrypt(f, a, "0")
	decrypt(f, b, encrypt(f, a, "1"), "1")
	decrypt(f, a, encrypt(f, b, "2"), "2")
	state := marshal(f, b)
	f.Add(m0, []byte(nil))
	f.Add(encrypt(f, a, "new chain"), []byte(nil))
	f.Add(encrypt(f, a, "with extra AD"), []byte("type"))
	f.Add([]byte{MessageVersion}, []byte(nil))
	f.Fuzz(func(t *testing.T, msg, extraAD []byte) {
		s, err := Unmarshal(state)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(msg, extraAD); err == nil {
			return
		}
		if !bytes.Equal(marshal(t, s), state) {
			t.Fatal("state changed on a rejected message")
		}
	})
}

// FuzzParseHeader: parsing never panics, and an accepted header
// re-encodes to the bytes it was read from.
func FuzzParseHeader(f *testing.F) {
	a, _ := newPair(f, fixedHooks(f, "fuzz a"), nil)
	f.Add(encrypt(f, a, "x")[:HeaderLen])
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		out := make([]byte, HeaderLen)
		h.put(out)
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("header %x re-encodes as %x", b[:HeaderLen], out)
		}
	})
}
