package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"testing"

	"parley.dev/internal/keys/keystest"
)

// Session setup next to its primitives: Initiate costs about 4 X25519, one
// ML-KEM-1024 encapsulation and 3 Ed25519 verifications; Respond 4 X25519
// and one decapsulation (plus the header's identity signature when parsed).

func BenchmarkInitiate(b *testing.B) {
	alice, bob := keystest.Identity("alice"), keystest.NewDevice(bobAddr)
	bundle := bob.Bundle(1, 1)
	for b.Loop() {
		if _, _, err := Initiate(alice, aliceAddr, bundle); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRespond(b *testing.B) {
	hs := newHandshake(b, 1, 1)
	enc := must(hs.h.MarshalBinary())
	b.Run("parsed", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Respond(hs.bob.Identity, bobAddr, hs.h, hs.bob); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("with-header-parse", func(b *testing.B) {
		for b.Loop() {
			h, err := ParseHeader(enc)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := Respond(hs.bob.Identity, bobAddr, h, hs.bob); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkX25519(b *testing.B) {
	k := must(ecdh.X25519().GenerateKey(rand.Reader))
	peer := must(ecdh.X25519().GenerateKey(rand.Reader)).PublicKey()
	for b.Loop() {
		if _, err := k.ECDH(peer); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMLKEM1024Encaps(b *testing.B) {
	ek := must(mlkem.GenerateKey1024()).EncapsulationKey()
	for b.Loop() {
		ek.Encapsulate()
	}
}

func BenchmarkMLKEM1024Decaps(b *testing.B) {
	dk := must(mlkem.GenerateKey1024())
	_, ct := dk.EncapsulationKey().Encapsulate()
	for b.Loop() {
		if _, err := dk.Decapsulate(ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv := must2(ed25519.GenerateKey(rand.Reader))
	msg := []byte("parley benchmark message")
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
