package ratchet

// Benchmarks of the ratchet and, in the same run, of the primitives it is
// made of, so that the ratio to their cost can be read off one command:
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/ratchet
//
// Per message the sender and the receiver each do one KDF_CK (one keyed
// HMAC-SHA256, two outputs), one HKDF (message key and salt -> AES key and
// nonce) and one AES-256-GCM key schedule plus seal or open; the sender
// also draws a 16-byte salt from crypto/rand. The in-chain ceiling is
// therefore about 2 * (2*HMACSHA256 + HKDF + AESGCMSeal) + SaltRead. A DH
// step adds three X25519 scalar multiplications (key generation and two
// DHs) and two 64-byte HKDFs at the receiver.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"math"
	"testing"
)

var benchSizes = []struct {
	name string
	size int
}{{"64B", 64}, {"1KiB", 1024}}

func BenchmarkEncryptDecrypt(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("in-chain/"+sz.name, func(b *testing.B) {
			a, r := newPair(b, nil, nil)
			pt := make([]byte, sz.size)
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			for b.Loop() {
				encryptDecrypt(b, a, r, pt)
			}
		})
		b.Run("dh-step/"+sz.name, func(b *testing.B) {
			a, r := newPair(b, nil, nil)
			pt := make([]byte, sz.size)
			encryptDecrypt(b, a, r, pt)
			sides := [2]*State{r, a}
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			i := 0
			for b.Loop() { // directions alternate: every message is a DH step
				encryptDecrypt(b, sides[i%2], sides[1-i%2], pt)
				i++
			}
		})
	}
}

func encryptDecrypt(b *testing.B, from, to *State, pt []byte) {
	m, err := from.Encrypt(pt, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := to.Decrypt(m, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRejectTooFarAhead: a header claiming N = 2^32-1 costs a parse,
// not a derivation loop.
func BenchmarkRejectTooFarAhead(b *testing.B) {
	a, r := newPair(b, nil, nil)
	encryptDecrypt(b, a, r, nil)
	m := withHeader(encrypt(b, a, "x"), 0, math.MaxUint32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Decrypt(m, nil); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRejectForgedAtBound: the worst a forged message can cost within
// the bounds. In a chain: MaxSkip+1 chain steps and a failed open. With a
// new ratchet key: MaxSkip steps on the old chain, one X25519, MaxSkip+1
// steps on the new chain and a failed open.
func BenchmarkRejectForgedAtBound(b *testing.B) {
	a, r := newPair(b, nil, nil)
	encryptDecrypt(b, a, r, nil)
	m := encrypt(b, a, "x")
	step := bytes.Clone(m)
	copy(step[offDH:], fixedKey(b, "attacker", 0).PublicKey().Bytes())
	for name, f := range map[string][]byte{
		"in-chain": withHeader(m, 0, 1+MaxSkip),
		"dh-step":  withHeader(step, 1+MaxSkip, MaxSkip),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Decrypt(f, nil); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

func BenchmarkMarshalBinary(b *testing.B) {
	a, r := newPair(b, nil, nil)
	encryptDecrypt(b, a, r, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	a, r := newPair(b, nil, nil)
	encryptDecrypt(b, a, r, nil)
	s := marshal(b, r)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(s); err != nil {
			b.Fatal(err)
		}
	}
}

// Primitives.

func BenchmarkX25519(b *testing.B) {
	k, p := fixedKey(b, "x", 0), fixedKey(b, "y", 0).PublicKey()
	for b.Loop() {
		if _, err := k.ECDH(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkX25519KeyGen(b *testing.B) {
	for b.Loop() {
		if _, err := ecdh.X25519().GenerateKey(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMACSHA256: one HMAC-SHA256 with a fresh 32-byte key over one
// byte, as KDF_CK computes.
func BenchmarkHMACSHA256(b *testing.B) {
	key := make([]byte, KeySize)
	var out [sha256.Size]byte
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(sha256.New, key)
		h.Write(chainInputs[:1])
		h.Sum(out[:0])
	}
}

// BenchmarkHKDF: HKDF-SHA256 extract (16-byte salt) and expand of a
// 32-byte key into 44 bytes, as a message key and its salt become an AES
// key and a nonce.
func BenchmarkHKDF(b *testing.B) {
	key, salt := make([]byte, KeySize), make([]byte, saltSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hkdf.Key(sha256.New, key, salt, messageInfo, aeadKeySize+nonceSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaltRead: drawing one message salt from crypto/rand.
func BenchmarkSaltRead(b *testing.B) {
	var salt messageSalt
	b.ReportAllocs()
	for b.Loop() {
		newSalt(&salt)
	}
}

// BenchmarkAESGCMSeal: AES-256 key schedule, GCM setup and one seal, with
// associated data as long as a message's: every message has its own key.
func BenchmarkAESGCMSeal(b *testing.B) {
	key, nonce := make([]byte, aeadKeySize), make([]byte, nonceSize)
	ad := make([]byte, 3*adLenSize+HeaderLen+len(testAD))
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			pt := make([]byte, sz.size)
			dst := make([]byte, 0, sz.size+tagSize)
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			for b.Loop() {
				block, err := aes.NewCipher(key)
				if err != nil {
					b.Fatal(err)
				}
				aead, err := cipher.NewGCM(block)
				if err != nil {
					b.Fatal(err)
				}
				aead.Seal(dst[:0], nonce, pt, ad)
			}
		})
	}
}
