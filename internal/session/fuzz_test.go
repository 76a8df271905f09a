package session

import (
	"bytes"
	"testing"
)

// fuzzSessions returns Bob's established session and seed messages: a
// first message, a later prekey message and a plain message.
func fuzzSessions(f *testing.F) (*pair, *Session, [][]byte) {
	p := newPair(f, 1, 1)
	m1 := must(p.a.Encrypt([]byte("first")))
	m2 := must(p.a.Encrypt([]byte("second")))
	b, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, m1)
	if err != nil {
		f.Fatal(err)
	}
	must(p.a.Decrypt(must(b.Encrypt([]byte("reply")))))
	m3 := must(p.a.Encrypt([]byte("third")))
	return p, b, [][]byte{m1, m2, m3}
}

func FuzzPeek(f *testing.F) {
	p, _, seeds := fuzzSessions(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, err := Peek(msg)
		if err != nil {
			return
		}
		if (info.Type == TypePreKey) != (info.Header != nil) {
			t.Fatalf("type %v with header %v", info.Type, info.Header != nil)
		}
		// Respond only reads the prekeys; it must not panic either.
		Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, msg)
	})
}

func FuzzDecrypt(f *testing.F) {
	_, b, seeds := fuzzSessions(f)
	saved := state(b)
	for _, s := range seeds {
		f.Add(s)
	}
	s := must(Unmarshal(saved))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, err := s.Decrypt(msg); err == nil {
			s = must(Unmarshal(saved)) // a seed decrypted: start over
		} else if !bytes.Equal(state(s), saved) {
			t.Fatalf("failed Decrypt (%v) changed the session", err)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	p, b, _ := fuzzSessions(f)
	f.Add(state(b))
	f.Add(state(p.a))
	f.Add(state(newPair(f, 1, 1).a)) // an initiator still sending its header
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unmarshal(data)
		if err != nil {
			return
		}
		enc := state(s)
		if !bytes.Equal(state(must(Unmarshal(enc))), enc) {
			t.Fatal("serialization is not stable")
		}
	})
}
