package session

import (
	"testing"

	"parley.dev/internal/keys/keystest"
)

// Session-level setup: Initiate is pqxdh.Initiate plus the ratchet's
// first key pair; Respond parses the first message, runs pqxdh.Respond
// and decrypts it. Compare with the primitives in internal/pqxdh.

func BenchmarkInitiate(b *testing.B) {
	alice, bob := keystest.Identity("alice"), keystest.NewDevice(bobAddr)
	bundle := bob.Bundle(1, 1)
	for b.Loop() {
		if _, err := Initiate(alice, aliceAddr, bundle); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRespond(b *testing.B) {
	p := newPair(b, 1, 1)
	first := must(p.a.Encrypt([]byte("hello")))
	for b.Loop() {
		if _, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, first); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessage is one 1 KiB message each way through established
// sessions (two DH ratchet steps per iteration).
func BenchmarkMessage(b *testing.B) {
	p := newPair(b, 1, 1)
	s, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, must(p.a.Encrypt(nil)))
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	b.SetBytes(2 * int64(len(msg)))
	for b.Loop() {
		must(s.Decrypt(must(p.a.Encrypt(msg))))
		must(p.a.Decrypt(must(s.Encrypt(msg))))
	}
}
