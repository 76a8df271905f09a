package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the frozen vectors in testdata")

var (
	testSK = bytes.Repeat([]byte{0x5a}, KeySize)
	testAD = []byte("parley test associated data")
)

// fixedKey derives an X25519 private key from a label and an index, so that
// vectors do not depend on how Go consumes randomness.
func fixedKey(t testing.TB, label string, i int) *ecdh.PrivateKey {
	seed := sha256.Sum256(binary.BigEndian.AppendUint32([]byte(label), uint32(i)))
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixedHooks generates ratchet keys as fixedKey(label, 0), (label, 1), ...
// and message salts as fixedSalt(label, 0), (label, 1), ...
func fixedHooks(t testing.TB, label string) *testHooks {
	keys, salts := 0, 0
	return &testHooks{
		generate: func() (*ecdh.PrivateKey, error) {
			keys++
			return fixedKey(t, label, keys-1), nil
		},
		salt: func(s *messageSalt) {
			salts++
			*s = fixedSalt(label, salts-1)
		},
	}
}

// fixedSalt derives a message salt from a label and an index.
func fixedSalt(label string, i int) messageSalt {
	seed := sha256.Sum256(binary.BigEndian.AppendUint32([]byte(label+" salt"), uint32(i)))
	return messageSalt(seed[:saltSize])
}

// newPair starts a session: a is the initiator, b the responder. Nil hooks
// use real randomness.
func newPair(t testing.TB, ha, hb *testHooks) (a, b *State) {
	t.Helper()
	spk := testPreKey(t)
	a, err := newInitiator(testSK, testAD, spk.PublicKey(), ha)
	if err != nil {
		t.Fatal(err)
	}
	b, err = newResponder(testSK, testAD, spk, hb)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

var testPreKeyOnce struct {
	sync.Once
	k *ecdh.PrivateKey
}

// testPreKey is the responder's signed prekey, made once.
func testPreKey(t testing.TB) *ecdh.PrivateKey {
	testPreKeyOnce.Do(func() { testPreKeyOnce.k = fixedKey(t, "responder signed prekey", 0) })
	return testPreKeyOnce.k
}

func marshal(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clone copies s through its serialized form (hooks are not copied).
func clone(t testing.TB, s *State) *State {
	t.Helper()
	c, err := Unmarshal(marshal(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func encrypt(t testing.TB, s *State, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(pt), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decrypt(t testing.TB, s *State, m []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(m, nil)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("decrypted %q, want %q", pt, want)
	}
}

// rejects checks that Decrypt fails with want (any error if want is nil)
// and leaves the state byte-for-byte unchanged.
func rejects(t testing.TB, s *State, m, extraAD []byte, want error) error {
	t.Helper()
	before := marshal(t, s)
	pt, err := s.Decrypt(m, extraAD)
	if err == nil {
		t.Fatalf("decrypt succeeded (%d bytes), want error %v", len(pt), want)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("decrypt error %v, want %v", err, want)
	}
	if after := marshal(t, s); !bytes.Equal(before, after) {
		t.Fatalf("state changed on rejected message (%v)", err)
	}
	return err
}

// withHeader returns a copy of m with its header's PN and N replaced.
func withHeader(m []byte, pn, n uint32) []byte {
	c := bytes.Clone(m)
	binary.BigEndian.PutUint32(c[offPN:], pn)
	binary.BigEndian.PutUint32(c[offN:], n)
	return c
}
