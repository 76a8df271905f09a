package session

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/keys/keystest"
	"parley.dev/internal/pqxdh"
)

var (
	aliceAddr = addr.Address{User: "alice", Device: 1}
	bobAddr   = addr.Address{User: "bob", Device: 1}
	bob2Addr  = addr.Address{User: "bob", Device: 2}
	eveAddr   = addr.Address{User: "eve", Device: 1}
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// pair is Alice's session to Bob's device and Bob's keys.
type pair struct {
	alice *keys.Identity
	bob   *keystest.Device
	a     *Session
}

func newPair(t testing.TB, otk, kem keys.PreKeyID) *pair {
	t.Helper()
	p := &pair{alice: keystest.Identity("alice"), bob: keystest.NewDevice(bobAddr)}
	var err error
	if p.a, err = Initiate(p.alice, aliceAddr, p.bob.Bundle(otk, kem)); err != nil {
		t.Fatal(err)
	}
	return p
}

// respond is Bob receiving msg from Alice's address.
func (p *pair) respond(t testing.TB, msg []byte) (*Session, []byte) {
	t.Helper()
	s, pt, used, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, msg)
	if err != nil {
		t.Fatal(err)
	}
	p.bob.Delete(used.OneTimePreKey, used.KEMPreKey)
	return s, pt
}

func state(s *Session) []byte { return must(s.MarshalBinary()) }

func TestConversation(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("hello bob")))
	if info := must(Peek(m1)); info.Type != TypePreKey || info.Header.Ephemeral != p.a.BaseKey() {
		t.Fatalf("first message: %v", info.Type)
	}
	b, pt := p.respond(t, m1)
	if string(pt) != "hello bob" {
		t.Fatalf("Bob read %q", pt)
	}
	if _, ok := p.bob.OneTime[1]; ok {
		t.Fatal("one-time prekey not reported as used")
	}
	if !b.RemoteIdentity().Equal(p.alice.Public()) || b.RemoteAddress() != aliceAddr || b.Initiator() {
		t.Fatal("Bob's session names the wrong peer")
	}
	if !p.a.RemoteIdentity().Equal(p.bob.Identity.Public()) || !p.a.Initiator() {
		t.Fatal("Alice's session names the wrong peer")
	}
	r1 := must(b.Encrypt([]byte("hi alice")))
	if must(Peek(r1)).Type != TypeMessage {
		t.Fatal("Bob's reply is not a plain message")
	}
	if pt := must(p.a.Decrypt(r1)); string(pt) != "hi alice" {
		t.Fatalf("Alice read %q", pt)
	}
	m2 := must(p.a.Encrypt([]byte("after the reply")))
	if must(Peek(m2)).Type != TypeMessage {
		t.Fatal("Alice still sends prekey messages after a reply")
	}
	if pt := must(b.Decrypt(m2)); string(pt) != "after the reply" {
		t.Fatalf("Bob read %q", pt)
	}
}

// TestPreKeyMessagesUntilReply: every message before a reply carries the
// header, in any order of arrival.
func TestPreKeyMessagesUntilReply(t *testing.T) {
	p := newPair(t, 0, keystest.LastResortID)
	var msgs [][]byte
	for i := range 3 {
		msgs = append(msgs, must(p.a.Encrypt(fmt.Appendf(nil, "m%d", i))))
		if must(Peek(msgs[i])).Type != TypePreKey {
			t.Fatalf("message %d is not a prekey message", i)
		}
	}
	b, pt := p.respond(t, msgs[2]) // the last arrives first
	if string(pt) != "m2" {
		t.Fatalf("got %q", pt)
	}
	for _, i := range []int{0, 1} {
		if pt := must(b.Decrypt(msgs[i])); string(pt) != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %q", pt)
		}
	}
}

// TestAttack02ReplayFirstMessage: a replayed first message reaches the
// existing session through its base key and is a duplicate, before and
// after both sides restart; Respond cannot reuse consumed prekeys.
func TestAttack02ReplayFirstMessage(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("once")))
	m2 := must(p.a.Encrypt([]byte("twice")))
	b, _ := p.respond(t, m1)
	must(b.Decrypt(m2))
	check := func(b *Session, when string) {
		for i, m := range [][]byte{m1, m2} {
			info := must(Peek(m))
			if base, _ := info.BaseKey(); base != b.BaseKey() {
				t.Fatalf("%s: replay %d does not route to the session", when, i)
			}
			before := state(b)
			if _, err := b.Decrypt(m); !errors.Is(err, ErrDuplicate) {
				t.Errorf("%s: replay %d: %v, want ErrDuplicate", when, i, err)
			}
			if !bytes.Equal(before, state(b)) {
				t.Errorf("%s: replay %d changed the session", when, i)
			}
		}
		if _, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, m1); !errors.Is(err, pqxdh.ErrUnknownPreKey) {
			t.Errorf("%s: Respond on a replay: %v, want pqxdh.ErrUnknownPreKey", when, err)
		}
	}
	check(b, "before restart")
	b = must(Unmarshal(state(b)))
	check(b, "after restart")
	// After the conversation moved on, too.
	a := must(Unmarshal(state(p.a)))
	must(a.Decrypt(must(b.Encrypt([]byte("reply")))))
	must(b.Decrypt(must(a.Encrypt([]byte("next")))))
	check(must(Unmarshal(state(b))), "after a round trip and a restart")
}

// TestAttack06FirstMessageToOtherDevice: a first message for another
// device or user, or from a sender other than the one it claims, is
// refused and consumes nothing.
func TestAttack06FirstMessageToOtherDevice(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("for bob/1")))
	bob2 := keystest.NewDevice(bob2Addr)
	if _, _, _, err := Respond(bob2.Identity, bob2Addr, aliceAddr, bob2, m1); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("at another device: %v, want ErrWrongRecipient", err)
	}
	eve := keystest.NewDevice(eveAddr)
	if _, _, _, err := Respond(eve.Identity, eveAddr, aliceAddr, eve, m1); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("at another user: %v, want ErrWrongRecipient", err)
	}
	// The relay attests eve sent it, but the header claims alice.
	if _, _, _, err := Respond(p.bob.Identity, bobAddr, eveAddr, p.bob, m1); !errors.Is(err, ErrSenderMismatch) {
		t.Errorf("sent by another user: %v, want ErrSenderMismatch", err)
	}
	other := addr.Address{User: "alice", Device: 2}
	if _, _, _, err := Respond(p.bob.Identity, bobAddr, other, p.bob, m1); !errors.Is(err, ErrSenderMismatch) {
		t.Errorf("sent by another device: %v, want ErrSenderMismatch", err)
	}
	// Eve, with her own identity, claims to be alice: the header says
	// alice, so the relay-attested sender eve does not match.
	forged := must(Initiate(keystest.Identity("eve"), aliceAddr, p.bob.Bundle(2, 2)))
	fm := must(forged.Encrypt([]byte("I am alice")))
	if _, _, _, err := Respond(p.bob.Identity, bobAddr, eveAddr, p.bob, fm); !errors.Is(err, ErrSenderMismatch) {
		t.Errorf("eve posing as alice: %v, want ErrSenderMismatch", err)
	}
	if len(p.bob.OneTime) != keystest.OneTimeKeys || len(p.bob.KEM) != keystest.OneTimeKeys {
		t.Fatal("refused first messages consumed prekeys")
	}
	p.respond(t, m1)
}

// TestAttack09TypeConfusion: a prekey message re-labelled as a plain
// message (or the reverse), or with its header swapped, does not decrypt,
// and the session is unchanged.
func TestAttack09TypeConfusion(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("first")))
	m2 := must(p.a.Encrypt([]byte("second")))
	b, _ := p.respond(t, m1)
	must(p.a.Decrypt(must(b.Encrypt([]byte("reply")))))
	m3 := must(p.a.Encrypt([]byte("third")))
	before := state(b)
	prefix := must(Peek(m2)).prefixOf(m2)
	asMessage := append([]byte{Version, byte(TypeMessage)}, m2[len(prefix):]...)
	if _, err := b.Decrypt(asMessage); !errors.Is(err, ErrDecrypt) {
		t.Errorf("prekey message relabelled as a message: %v, want ErrDecrypt", err)
	}
	dressed := append(bytes.Clone(prefix), m3[prefixLen:]...)
	if _, err := b.Decrypt(dressed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("message relabelled as a prekey message: %v, want ErrDecrypt", err)
	}
	// A prekey message under another session's header.
	other := newPair(t, 2, 2)
	om := must(other.a.Encrypt(nil))
	swapped := append(must(Peek(om)).prefixOf(om), m2[len(prefix):]...)
	if _, err := b.Decrypt(swapped); !errors.Is(err, ErrOtherSession) {
		t.Errorf("another session's header: %v, want ErrOtherSession", err)
	}
	if _, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, swapped); err == nil {
		t.Error("a body under another session's header started a session")
	}
	for _, typ := range []byte{0, 3, 0x81, 0xff} {
		bad := bytes.Clone(m3)
		bad[1] = typ
		if _, err := b.Decrypt(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("type 0x%02x: %v, want ErrMalformed", typ, err)
		}
	}
	if !bytes.Equal(before, state(b)) {
		t.Fatal("confused messages changed the session")
	}
	if pt := must(b.Decrypt(m2)); string(pt) != "second" {
		t.Fatalf("genuine prekey message after the attempts: %q", pt)
	}
	if pt := must(b.Decrypt(m3)); string(pt) != "third" {
		t.Fatalf("genuine message after the attempts: %q", pt)
	}
}

// TestAttack12ForgedFirstMessageChangesNothing: garbled or forged first
// messages start no session, consume no prekey and leave an existing
// session with the same peer untouched.
func TestAttack12ForgedFirstMessageChangesNothing(t *testing.T) {
	p := newPair(t, 1, 1)
	b, _ := p.respond(t, must(p.a.Encrypt([]byte("hi"))))
	existing := state(b)
	second := newPair(t, 2, 2) // a fresh genuine first message from alice
	second.bob = p.bob
	m := must(second.a.Encrypt([]byte("new session")))
	forgeries := map[string][]byte{}
	garbled := bytes.Clone(m)
	garbled[len(garbled)-1] ^= 1
	forgeries["garbled ciphertext"] = garbled
	garbled = bytes.Clone(m)
	garbled[len(garbled)-keys.KEMCiphertextSize/2-100] ^= 1
	forgeries["garbled header"] = garbled
	mallory := must(Initiate(keystest.Identity("mallory"), aliceAddr, p.bob.Bundle(2, 2)))
	mm := must(mallory.Encrypt([]byte("hi")))
	forgeries["header from another identity with a genuine body"] = append(
		must(Peek(m)).prefixOf(m), mm[len(must(Peek(mm)).prefixOf(mm)):]...)
	forgeries["truncated"] = m[:len(m)-20]
	for name, f := range forgeries {
		s, pt, used, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, f)
		if err == nil || s != nil || pt != nil || used != (pqxdh.Used{}) {
			t.Errorf("%s: started a session (%v)", name, err)
		}
		if _, err := b.Decrypt(f); !errors.Is(err, ErrOtherSession) && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: existing session: %v", name, err)
		}
	}
	if !bytes.Equal(existing, state(b)) || len(p.bob.OneTime) != keystest.OneTimeKeys-1 ||
		len(p.bob.KEM) != keystest.OneTimeKeys-1 {
		t.Fatal("forged first messages changed a session or consumed prekeys")
	}
	if _, pt := p.respond(t, m); string(pt) != "new session" {
		t.Fatal("the genuine first message no longer works")
	}
}

// prefixOf returns the prefix of msg for this Info (test helper).
func (i Info) prefixOf(msg []byte) []byte {
	if i.Header == nil {
		return bytes.Clone(msg[:prefixLen])
	}
	return bytes.Clone(msg[:prefixLen+headerLenSize+int(msg[2])<<8+int(msg[3])])
}

// TestAttack14MalformedPreKeyMessage: every truncation and a bit flip at
// every byte position of a first message gives a clear error, never a
// panic, and consumes nothing; on an established session they leave it
// unchanged.
func TestAttack14MalformedPreKeyMessage(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("first")))
	m2 := must(p.a.Encrypt([]byte("second")))
	for n := range len(m1) {
		if _, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, m1[:n]); err == nil {
			t.Fatalf("first message truncated to %d bytes starts a session", n)
		}
	}
	for i := range flipPositions(m1) {
		bad := bytes.Clone(m1)
		bad[i] ^= 1 << (i % 8)
		if _, _, _, err := Respond(p.bob.Identity, bobAddr, aliceAddr, p.bob, bad); err == nil {
			t.Fatalf("first message with byte %d flipped starts a session", i)
		}
	}
	if len(p.bob.OneTime) != keystest.OneTimeKeys || len(p.bob.KEM) != keystest.OneTimeKeys {
		t.Fatal("malformed first messages consumed prekeys")
	}
	b, _ := p.respond(t, m1)
	before := state(b)
	for n := range len(m2) {
		if _, err := b.Decrypt(m2[:n]); err == nil {
			t.Fatalf("second message truncated to %d bytes decrypts", n)
		}
	}
	for i := range flipPositions(m2) {
		bad := bytes.Clone(m2)
		bad[i] ^= 1 << (i % 8)
		if _, err := b.Decrypt(bad); err == nil {
			t.Fatalf("second message with byte %d flipped decrypts", i)
		}
	}
	if !bytes.Equal(before, state(b)) {
		t.Fatal("malformed messages changed the session")
	}
	if pt := must(b.Decrypt(m2)); string(pt) != "second" {
		t.Fatal("genuine message lost")
	}
}

// flipPositions yields every byte position of a prekey message, except
// that it samples every 16th byte of the ML-KEM ciphertext (whose bytes
// all behave alike) to keep the test fast under -race.
func flipPositions(msg []byte) func(func(int) bool) {
	ctEnd := len(must(Peek(msg)).prefixOf(msg))
	ctStart := ctEnd - keys.KEMCiphertextSize
	return func(yield func(int) bool) {
		for i := range msg {
			if i > ctStart && i < ctEnd && i%16 != 0 {
				continue
			}
			if !yield(i) {
				return
			}
		}
	}
}

func TestPadding(t *testing.T) {
	for n := 1; n < 1<<19; n = n*5/4 + 1 {
		got := paddedLen(n)
		if got < n || got < minPadded || float64(got-n) > 0.12*float64(n)+minPadded {
			t.Fatalf("paddedLen(%d) = %d", n, got)
		}
		if got != paddedLen(got) {
			t.Fatalf("paddedLen is not idempotent at %d", n)
		}
	}
	for n := range 300 {
		pt := bytes.Repeat([]byte{0}, n) // zeros right before the marker must survive
		if got := must(unpad(pad(pt))); !bytes.Equal(got, pt) {
			t.Fatalf("pad/unpad of %d zero bytes gives %d bytes", n, len(got))
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 64), append(make([]byte, 63), 1), append([]byte{0x80}, make([]byte, 64)...)} {
		if _, err := unpad(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("unpad(%x): %v", bad, err)
		}
	}
	// Every plaintext under 64 bytes gives a message of one length.
	p := newPair(t, 1, 1)
	b, _ := p.respond(t, must(p.a.Encrypt(nil)))
	must(p.a.Decrypt(must(b.Encrypt(nil))))
	want := len(must(p.a.Encrypt(nil)))
	for n := range 64 {
		if got := len(must(p.a.Encrypt(make([]byte, n)))); got != want {
			t.Fatalf("%d-byte plaintext gives a %d-byte message, want %d", n, got, want)
		}
	}
}

func TestSizeLimits(t *testing.T) {
	p := newPair(t, 1, 1)
	big := must(p.a.Encrypt(make([]byte, MaxPlaintextLen)))
	if len(big) > MaxMessageLen {
		t.Fatalf("largest prekey message is %d bytes, over %d", len(big), MaxMessageLen)
	}
	if _, err := p.a.Encrypt(make([]byte, MaxPlaintextLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized plaintext: %v", err)
	}
	b, pt := p.respond(t, big)
	if len(pt) != MaxPlaintextLen {
		t.Fatal("largest message did not round trip")
	}
	if _, err := b.Decrypt(make([]byte, MaxMessageLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	p := newPair(t, 1, 1)
	m1 := must(p.a.Encrypt([]byte("1")))
	a := must(Unmarshal(state(p.a))) // unconfirmed initiator: keeps sending the header
	if must(Peek(must(a.Encrypt([]byte("2"))))).Type != TypePreKey {
		t.Fatal("restored initiator forgot its header")
	}
	b, _ := p.respond(t, m1)
	b = must(Unmarshal(state(b)))
	must(a.Decrypt(must(b.Encrypt([]byte("r")))))
	a = must(Unmarshal(state(a)))
	if must(Peek(must(a.Encrypt([]byte("3"))))).Type != TypeMessage || !a.Initiator() || a.BaseKey() != b.BaseKey() {
		t.Fatal("restored confirmed initiator differs")
	}
	if !bytes.Equal(state(a), state(must(Unmarshal(state(a))))) {
		t.Fatal("serialization is not stable")
	}
	good := state(b)
	for n := range len(good) {
		if _, err := Unmarshal(good[:n]); err == nil {
			t.Fatalf("state truncated to %d bytes restores", n)
		}
	}
	for _, mutate := range []func([]byte){
		func(s []byte) { s[0] = 2 },    // version
		func(s []byte) { s[1] = 0x02 }, // confirmed responder
		func(s []byte) { s[1] = 0x04 }, // unknown flag
		func(s []byte) { s[1] = 0x01 }, // initiator without a header
	} {
		bad := bytes.Clone(good)
		mutate(bad)
		if _, err := Unmarshal(bad); err == nil {
			t.Errorf("corrupted state %x… restores", bad[:2])
		}
	}
}

func TestSessionRedacted(t *testing.T) {
	p := newPair(t, 1, 1)
	out := fmt.Sprintf("%v %+v %#v %s %x", p.a, p.a, p.a, p.a, p.a) + fmt.Sprint(*p.a)
	raw := state(p.a)
	if !strings.Contains(out, "REDACTED") || strings.Contains(out, fmt.Sprintf("%x", raw[len(raw)-40:len(raw)-24])) {
		t.Fatalf("session prints %q", out)
	}
}
