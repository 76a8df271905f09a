package ratchet

import (
	"testing"
)

// canRead reports whether an attacker holding a serialized copy of a state
// can read message m. It tries the state's own Decrypt and, independently
// of Decrypt's bookkeeping, every message key the copy holds or can derive:
// each stored skipped key, the first steps of both chain keys, and a DH
// step against m's ratchet key.
func canRead(t *testing.T, stolen []byte, m []byte) bool {
	t.Helper()
	s, err := Unmarshal(stolen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decrypt(m, nil); err == nil {
		return true
	}
	h, err := parseHeader(m)
	if err != nil {
		t.Fatal(err)
	}
	ad := associatedData(s.ad, m[:HeaderLen], nil)
	var candidates []secret
	s.skipped.each(func(_ skippedID, mk *secret) { candidates = append(candidates, *mk) })
	chains := []secret{s.cks, s.ckr}
	if out, err := dh(s.dhs, &h.dh); err == nil {
		_, ck := kdfRK(&s.rk, &out)
		chains = append(chains, ck)
	}
	for _, ck := range chains {
		for range h.n + 3 {
			var mk secret
			mk, ck = kdfCK(&ck)
			candidates = append(candidates, mk)
		}
	}
	for _, mk := range candidates {
		if _, err := open(&mk, &h.salt, m[HeaderLen:], ad); err == nil {
			return true
		}
	}
	return false
}

// TestForwardSecrecy: once a message is decrypted, a copy of the state taken
// afterwards cannot decrypt it, whether it came in order or from the
// skipped-key store. A copy taken before could.
func TestForwardSecrecy(t *testing.T) {
	a, b := newPair(t, nil, nil)
	m0, m1, m2 := encrypt(t, a, "0"), encrypt(t, a, "1"), encrypt(t, a, "2")
	before := marshal(t, b)
	decrypt(t, b, m1, "1") // m0 goes to the skipped store
	mid := marshal(t, b)
	decrypt(t, b, m0, "0")
	decrypt(t, b, m2, "2")
	after := marshal(t, b)
	for i, m := range [][]byte{m0, m1, m2} {
		if !canRead(t, before, m) {
			t.Errorf("message %d: the earlier copy cannot read it; the test proves nothing", i)
		}
		if canRead(t, after, m) {
			t.Errorf("message %d: readable from the state after it was decrypted", i)
		}
	}
	if !canRead(t, mid, m0) || canRead(t, mid, m1) {
		t.Error("a copy holding m0's skipped key should read m0 but not the decrypted m1")
	}
}

// TestPostCompromiseSecurity: an attacker with a copy of a's state taken
// earlier reads a's traffic until both sides have done a DH ratchet step
// with keys generated after the theft, and nothing afterwards.
func TestPostCompromiseSecurity(t *testing.T) {
	a, b := newPair(t, nil, nil)
	decrypt(t, b, encrypt(t, a, "hello"), "hello")
	decrypt(t, a, encrypt(t, b, "hi"), "hi")
	stolen := marshal(t, a)

	a1 := encrypt(t, a, "a1 (a's chain at the theft)")
	decrypt(t, b, a1, "a1 (a's chain at the theft)")
	b1 := encrypt(t, b, "b1 (b stepped, a's key is stolen)")
	if !canRead(t, stolen, a1) || !canRead(t, stolen, b1) {
		t.Fatal("the stolen copy cannot read traffic before the healing steps; the test proves nothing")
	}
	decrypt(t, a, b1, "b1 (b stepped, a's key is stolen)")
	a2 := encrypt(t, a, "a2 (a stepped with a fresh key)")
	decrypt(t, b, a2, "a2 (a stepped with a fresh key)")
	b2 := encrypt(t, b, "b2")
	decrypt(t, a, b2, "b2")
	a3 := encrypt(t, a, "a3")
	for i, m := range [][]byte{a2, b2, a3} {
		if canRead(t, stolen, m) {
			t.Errorf("message %d after both DH steps is readable with the stolen state", i)
		}
	}
	// The stolen state, fed b1, derives a sending chain of its own, not a's.
	s, err := Unmarshal(stolen)
	if err != nil {
		t.Fatal(err)
	}
	decrypt(t, s, b1, "b1 (b stepped, a's key is stolen)")
	if canRead(t, marshal(t, s), a2) || canRead(t, marshal(t, s), b2) {
		t.Error("the stolen state, advanced with b1, reads traffic after healing")
	}
}
