package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	a, b := newPair(t, nil, nil)
	for i := range 3 {
		m := encrypt(t, a, fmt.Sprint("a", i))
		if len(m) != Overhead+len(fmt.Sprint("a", i)) {
			t.Fatalf("message is %d bytes, want plaintext + %d", len(m), Overhead)
		}
		decrypt(t, b, m, fmt.Sprint("a", i))
		decrypt(t, a, encrypt(t, b, fmt.Sprint("b", i)), fmt.Sprint("b", i))
	}
	// Empty plaintext and the largest one both work.
	decrypt(t, b, encrypt(t, a, ""), "")
	big := strings.Repeat("x", MaxPlaintextLen)
	decrypt(t, b, encrypt(t, a, big), big)
}

func TestResponderCannotSendFirst(t *testing.T) {
	a, b := newPair(t, nil, nil)
	if _, err := b.Encrypt([]byte("hi"), nil); !errors.Is(err, ErrNoSendingChain) {
		t.Fatalf("responder Encrypt before any message: %v, want ErrNoSendingChain", err)
	}
	if a.HasReceived() || b.HasReceived() {
		t.Fatal("HasReceived before any message")
	}
	decrypt(t, b, encrypt(t, a, "hello"), "hello")
	if a.HasReceived() || !b.HasReceived() {
		t.Fatalf("HasReceived after a's first message: a %v, b %v", a.HasReceived(), b.HasReceived())
	}
	decrypt(t, a, encrypt(t, b, "hi"), "hi")
	if !clone(t, a).HasReceived() {
		t.Fatal("HasReceived lost after the reply and a round trip")
	}
}

func TestSizeLimits(t *testing.T) {
	a, b := newPair(t, nil, nil)
	if _, err := a.Encrypt(make([]byte, MaxPlaintextLen+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized plaintext: %v", err)
	}
	if _, err := a.Encrypt(nil, make([]byte, MaxExtraADLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized extraAD: %v", err)
	}
	m := encrypt(t, a, "x")
	rejects(t, b, m, make([]byte, MaxExtraADLen+1), ErrTooLarge)
	rejects(t, b, make([]byte, MaxMessageLen+1), nil, ErrTooLarge)
	if _, err := NewResponder(testSK, make([]byte, MaxADLen+1), fixedKey(t, "k", 0)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized ad: %v", err)
	}
	decrypt(t, b, m, "x")
}

func TestConstructorsRefuseBadInput(t *testing.T) {
	k := fixedKey(t, "k", 0)
	p256, err := ecdh.P256().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() (*State, error){
		"short secret":     func() (*State, error) { return NewInitiator(testSK[:31], nil, k.PublicKey()) },
		"zero secret":      func() (*State, error) { return NewResponder(make([]byte, KeySize), nil, k) },
		"nil remote":       func() (*State, error) { return NewInitiator(testSK, nil, nil) },
		"nil local":        func() (*State, error) { return NewResponder(testSK, nil, nil) },
		"P-256 remote":     func() (*State, error) { return NewInitiator(testSK, nil, p256.PublicKey()) },
		"P-256 local":      func() (*State, error) { return NewResponder(testSK, nil, p256) },
		"low-order remote": func() (*State, error) { return NewInitiator(testSK, nil, lowOrderKey(t)) },
	} {
		if s, err := f(); err == nil || s != nil {
			t.Errorf("%s: got %v, %v; want an error", name, s, err)
		}
	}
}

// lowOrderKey is a point of order 8 on Curve25519.
func lowOrderKey(t *testing.T) *ecdh.PublicKey {
	b := []byte{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}
	k, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRejectsBadRatchetKeys(t *testing.T) {
	a, b := newPair(t, nil, nil)
	m := encrypt(t, a, "x")
	bad := map[string][]byte{
		"low order":       lowOrderKey(t).Bytes(),
		"all zero":        make([]byte, KeySize),
		"top bit set":     append(bytes.Repeat([]byte{0}, KeySize-1), 0x80),
		"p (aliases 0)":   append([]byte{0xed}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...),
		"p+1 (aliases 1)": append([]byte{0xee}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...),
	}
	for name, key := range bad {
		f := bytes.Clone(m)
		copy(f[offDH:], key)
		if err := rejects(t, b, f, nil, ErrMalformed); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	canon := append([]byte{0xec}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...) // p-1
	if !canonicalX25519((*[KeySize]byte)(canon)) {
		t.Error("p-1 is canonical but was refused")
	}
	decrypt(t, b, m, "x")
}

func TestLongConversation(t *testing.T) {
	a, b := newPair(t, fixedHooks(t, "a"), fixedHooks(t, "b"))
	decrypt(t, b, encrypt(t, a, "start"), "start")
	rounds := 1000
	if raceEnabled {
		rounds = 100
	}
	for i := range rounds { // alternating: a DH ratchet step every message
		decrypt(t, b, encrypt(t, a, fmt.Sprint("a", i)), fmt.Sprint("a", i))
		decrypt(t, a, encrypt(t, b, fmt.Sprint("b", i)), fmt.Sprint("b", i))
	}
	for i := range 3000 { // one-sided: one long chain
		decrypt(t, b, encrypt(t, a, fmt.Sprint("a", i)), fmt.Sprint("a", i))
	}
	decrypt(t, a, encrypt(t, b, "end"), "end")
	if a.skipped.len() != 0 || b.skipped.len() != 0 {
		t.Errorf("in-order delivery left skipped keys: %d, %d", a.skipped.len(), b.skipped.len())
	}
}

func TestOutOfOrderWithinChain(t *testing.T) {
	a, b := newPair(t, nil, nil)
	var ms [][]byte
	for i := range 10 {
		ms = append(ms, encrypt(t, a, fmt.Sprint(i)))
	}
	for _, i := range []int{9, 3, 0, 8, 1, 2, 7, 4, 6, 5} {
		decrypt(t, b, ms[i], fmt.Sprint(i))
	}
	if n := b.skipped.len(); n != 0 {
		t.Errorf("%d skipped keys left after every message arrived", n)
	}
}

func TestOutOfOrderAcrossDHSteps(t *testing.T) {
	a, b := newPair(t, nil, nil)
	a0, a1, a2 := encrypt(t, a, "a0"), encrypt(t, a, "a1"), encrypt(t, a, "a2")
	decrypt(t, b, a1, "a1")
	b0, b1 := encrypt(t, b, "b0"), encrypt(t, b, "b1")
	decrypt(t, a, b1, "b1")
	a3 := encrypt(t, a, "a3") // new chain, PN = 3
	decrypt(t, b, a3, "a3")   // stores a2's key from the old chain
	b2 := encrypt(t, b, "b2")
	decrypt(t, a, b2, "b2")
	decrypt(t, b, a2, "a2")
	decrypt(t, a, b0, "b0")
	decrypt(t, b, a0, "a0")
	if b.skipped.len() != 0 || a.skipped.len() != 0 {
		t.Errorf("skipped keys left: a %d, b %d", a.skipped.len(), b.skipped.len())
	}
	if len(b.history.keys) != 1 || len(a.history.keys) != 2 {
		t.Errorf("history lengths a %d, b %d; want 2, 1", len(a.history.keys), len(b.history.keys))
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	a, b := newPair(t, nil, nil)
	for _, s := range []*State{a, b} { // the two starting shapes
		if got := marshal(t, clone(t, s)); !bytes.Equal(got, marshal(t, s)) {
			t.Fatal("starting state does not round-trip")
		}
	}
	m0 := encrypt(t, a, "0")
	decrypt(t, b, encrypt(t, a, "1"), "1") // b now holds a skipped key
	decrypt(t, a, encrypt(t, b, "r"), "r")
	a, b = clone(t, a), clone(t, b)
	if !bytes.Equal(marshal(t, clone(t, b)), marshal(t, b)) {
		t.Fatal("state with skipped keys and history does not round-trip")
	}
	decrypt(t, b, m0, "0")
	decrypt(t, b, encrypt(t, a, "2"), "2")
	decrypt(t, a, encrypt(t, b, "3"), "3")
}

func TestZeroStateFailsCleanly(t *testing.T) {
	var s State
	if _, err := s.Encrypt([]byte("x"), nil); err == nil {
		t.Error("zero State encrypted")
	}
	if _, err := s.Decrypt(make([]byte, 100), nil); err == nil {
		t.Error("zero State decrypted")
	}
	if _, err := s.MarshalBinary(); err == nil {
		t.Error("zero State marshaled")
	}
}

func TestRedacted(t *testing.T) {
	a, b := newPair(t, nil, nil)
	decrypt(t, b, encrypt(t, a, "x"), "x")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("state", "s", b, "rk", b.rk)
	k, _ := kdfCK(&b.ckr)
	outputs := []string{logged.String(), fmt.Sprint(b.rk, k)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, b), fmt.Sprintf(verb, *b), fmt.Sprintf(verb, k))
	}
	secrets := [][]byte{b.rk[:], b.ckr[:], b.cks[:], b.dhs.Bytes(), k[:]}
	for _, out := range outputs {
		if !strings.Contains(out, redacted) {
			t.Errorf("output %q lacks %s", out, redacted)
		}
		for _, s := range secrets {
			if strings.Contains(out, fmt.Sprintf("%x", s)) || strings.Contains(out, fmt.Sprint(s)) {
				t.Errorf("output %q leaks a secret", out)
			}
		}
	}
}
