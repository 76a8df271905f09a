package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/keys/keystest"
)

var (
	aliceAddr = addr.Address{User: "alice", Device: 1}
	bobAddr   = addr.Address{User: "bob", Device: 1}
	bob2Addr  = addr.Address{User: "bob", Device: 2}
	carolAddr = addr.Address{User: "carol", Device: 1}
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// fixedEntropy makes the initiator deterministic: the ephemeral key and
// the ML-KEM encapsulation randomness come from seed.
func fixedEntropy(seed byte) entropy {
	return entropy{
		ephemeral: func() (*ecdh.PrivateKey, error) {
			return ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{seed}, keys.X25519Size))
		},
		encapsulate: func(ek *mlkem.EncapsulationKey1024) ([]byte, []byte, error) {
			return mlkemtest.Encapsulate1024(ek, bytes.Repeat([]byte{seed + 1}, 32))
		},
	}
}

type handshake struct {
	alice *keys.Identity
	bob   *keystest.Device
	h     *Header
	ra    *Result
}

func newHandshake(t testing.TB, otk, kem keys.PreKeyID) *handshake {
	t.Helper()
	hs := &handshake{alice: keystest.Identity("alice"), bob: keystest.NewDevice(bobAddr)}
	var err error
	hs.h, hs.ra, err = Initiate(hs.alice, aliceAddr, hs.bob.Bundle(otk, kem))
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func sameKeys(a, b *Result) bool {
	return bytes.Equal(a.SessionKey(), b.SessionKey()) && bytes.Equal(a.AssociatedData(), b.AssociatedData())
}

func TestHandshake(t *testing.T) {
	cases := []struct {
		name     string
		otk, kem keys.PreKeyID
		used     Used
	}{
		{"one-time EC and KEM keys", 2, 3, Used{OneTimePreKey: 2, KEMPreKey: 3}},
		{"no one-time EC key", 0, 1, Used{KEMPreKey: 1}},
		{"last-resort KEM key", 4, keystest.LastResortID, Used{OneTimePreKey: 4}},
		{"prekeys exhausted", 0, keystest.LastResortID, Used{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHandshake(t, c.otk, c.kem)
			enc := must(hs.h.MarshalBinary())
			h := must(ParseHeader(enc))
			rb, used, err := Respond(hs.bob.Identity, bobAddr, h, hs.bob)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKeys(hs.ra, rb) {
				t.Fatal("initiator and responder derived different keys")
			}
			if used != c.used {
				t.Fatalf("used %+v, want %+v", used, c.used)
			}
			if h.OneTimePreKey != c.otk || h.KEMPreKey != c.kem || h.SignedPreKey != keystest.SignedPreKeyID {
				t.Fatalf("header names prekeys %d/%d/%d", h.SignedPreKey, h.OneTimePreKey, h.KEMPreKey)
			}
			ad := hs.ra.AssociatedData()
			if !bytes.HasPrefix(ad, hs.alice.Public().Bytes()) ||
				!bytes.Contains(ad, hs.bob.Identity.Public().Bytes()) || len(ad) != 2*keys.IdentityPublicSize+32 {
				t.Fatal("AD is not IK_A ‖ IK_B ‖ TH")
			}
		})
	}
}

func TestFreshKeysEachTime(t *testing.T) {
	a, b := newHandshake(t, 1, 1), newHandshake(t, 1, 1)
	if a.h.Ephemeral == b.h.Ephemeral || bytes.Equal(a.ra.SessionKey(), b.ra.SessionKey()) {
		t.Fatal("two handshakes with one bundle share an ephemeral key or a session key")
	}
}

func TestResultRedacted(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	out := fmt.Sprintf("%v %+v %#v %s %x", hs.ra, hs.ra, hs.ra, hs.ra, hs.ra) + fmt.Sprint(*hs.ra)
	sk := fmt.Sprintf("%x", hs.ra.SessionKey())
	if strings.Contains(out, sk[:16]) || !strings.Contains(out, "REDACTED") {
		t.Fatalf("result prints %q", out)
	}
	hs.ra.Wipe()
	if !bytes.Equal(hs.ra.SessionKey(), make([]byte, SessionKeySize)) {
		t.Fatal("Wipe left the session key")
	}
}

// TestAttack04ForgedPreKeySignature: Initiate refuses a bundle whose
// prekey signatures or device certificate do not verify, or whose keys
// are of the wrong kind.
func TestAttack04ForgedPreKeySignature(t *testing.T) {
	alice := keystest.Identity("alice")
	bob, mallory := keystest.NewDevice(bobAddr), keystest.NewDevice(addr.Address{User: "mallory", Device: 1})
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[10] ^= 0x04; return b }
	cases := map[string]func(b *keys.Bundle){
		"bit-flipped signed prekey signature": func(b *keys.Bundle) { b.SignedPreKeySig = flip(b.SignedPreKeySig) },
		"bit-flipped KEM prekey signature":    func(b *keys.Bundle) { b.KEMPreKeySig = flip(b.KEMPreKeySig) },
		"signed prekey from another identity": func(b *keys.Bundle) {
			b.SignedPreKey, b.SignedPreKeySig = mallory.Signed.Public(), mallory.SignedSig
		},
		"KEM prekey from another identity": func(b *keys.Bundle) {
			b.KEMPreKey, b.KEMPreKeySig = mallory.LastResort.Public(), mallory.LastSig
		},
		"KEM signature where the EC one belongs": func(b *keys.Bundle) { b.SignedPreKeySig = b.KEMPreKeySig },
		"EC signature where the KEM one belongs": func(b *keys.Bundle) { b.KEMPreKeySig = b.SignedPreKeySig },
		"forged device certificate":              func(b *keys.Bundle) { b.DeviceCert = mallory.Cert },
		"identity swapped":                       func(b *keys.Bundle) { b.Identity = mallory.Identity.Public() },
	}
	for name, mutate := range cases {
		b := bob.Bundle(1, 1)
		mutate(b)
		if _, _, err := Initiate(alice, aliceAddr, b); !errors.Is(err, ErrBundle) {
			t.Errorf("%s: %v, want ErrBundle", name, err)
		}
	}
	// A KEM key where an EC key belongs, and the reverse, at the encoding level.
	b := must(bob.Bundle(1, 1).MarshalBinary())
	spk, kem := bob.Signed.Public().Bytes(), bob.KEM[1].Public().Bytes()
	i, j := bytes.Index(b, spk), bytes.Index(b, kem)
	swapped := append(append(append(append(bytes.Clone(b[:i-2]), 0x06, 0x27), kem...), b[i+len(spk):j-2]...), 0x00, 0x26)
	swapped = append(append(swapped, spk...), b[j+len(kem):]...)
	if _, err := keys.ParseBundle(swapped); !errors.Is(err, keys.ErrWrongType) {
		t.Errorf("bundle with EC and KEM prekeys swapped: %v, want keys.ErrWrongType", err)
	}
}

// TestAttack06FirstMessageToOtherDevice: a header addressed to another
// device of the same user, or to another user, is refused; one whose
// address the relay rewrote yields different keys.
func TestAttack06FirstMessageToOtherDevice(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	bob2 := keystest.NewDevice(bob2Addr)
	if _, _, err := Respond(bob2.Identity, bob2Addr, hs.h, bob2); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("other device: %v, want ErrWrongRecipient", err)
	}
	carol := keystest.NewDevice(carolAddr)
	if _, _, err := Respond(carol.Identity, carolAddr, hs.h, carol); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("other user: %v, want ErrWrongRecipient", err)
	}
	// The relay rewrites To (and From) to pass the check: the transcript
	// differs, so the keys differ and the first message will not decrypt.
	for _, mutate := range []func(h *Header){
		func(h *Header) { h.To = bob2Addr },
		func(h *Header) { h.From = addr.Address{User: "alice", Device: 2} },
		func(h *Header) { h.From = carolAddr },
	} {
		h := *hs.h
		mutate(&h)
		d := keystest.NewDevice(h.To)
		d.Identity, d.Signed, d.KEM, d.OneTime = hs.bob.Identity, hs.bob.Signed, hs.bob.KEM, hs.bob.OneTime
		rb, _, err := Respond(d.Identity, h.To, &h, d)
		if err == nil && sameKeys(rb, hs.ra) {
			t.Errorf("header from %s to %s: responder derived the initiator's keys", h.From, h.To)
		}
	}
	if _, _, err := Initiate(hs.alice, bobAddr, hs.bob.Bundle(1, 1)); !errors.Is(err, ErrSelf) {
		t.Errorf("session with own address: %v", err)
	}
}

// TestAttack08LowOrderPoints: a header whose ephemeral key is of low order,
// zero or non-canonical is refused, by the parser and by Respond.
func TestAttack08LowOrderPoints(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	enc := must(hs.h.MarshalBinary())
	off := bytes.Index(enc, hs.h.Ephemeral[:])
	bad := [][]byte{
		make([]byte, 32),
		append([]byte{1}, make([]byte, 31)...),
		bytes.Repeat([]byte{0xff}, 32), // non-canonical
		append(bytes.Repeat([]byte{0xff}, 31), 0x7f),
		must(hex.DecodeString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")),
	}
	for _, k := range bad {
		b := bytes.Clone(enc)
		copy(b[off:], k)
		if _, err := ParseHeader(b); !errors.Is(err, keys.ErrWeakKey) {
			t.Errorf("ephemeral %x: ParseHeader %v, want keys.ErrWeakKey", k, err)
		}
		h := *hs.h
		copy(h.Ephemeral[:], k)
		if _, _, err := Respond(hs.bob.Identity, bobAddr, &h, hs.bob); !errors.Is(err, keys.ErrWeakKey) {
			t.Errorf("ephemeral %x: Respond %v, want keys.ErrWeakKey", k, err)
		}
	}
}

// TestAttack10Downgrade: no session starts without a post-quantum prekey,
// and a header of another version is refused.
func TestAttack10Downgrade(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	b := hs.bob.Bundle(1, 1)
	b.KEMPreKey, b.KEMPreKeySig = keys.KEMPreKeyPublic{}, nil
	if _, _, err := Initiate(hs.alice, aliceAddr, b); !errors.Is(err, keys.ErrNoKEM) {
		t.Errorf("bundle without KEM prekey: %v, want keys.ErrNoKEM", err)
	}
	enc := must(hs.h.MarshalBinary())
	for _, v := range []byte{0, Version + 1, 0xff} {
		enc[0] = v
		if _, err := ParseHeader(enc); !errors.Is(err, ErrVersion) {
			t.Errorf("header version %d: %v, want ErrVersion", v, err)
		}
	}
	h := *hs.h
	h.KEMCiphertext = nil
	if _, _, err := Respond(hs.bob.Identity, bobAddr, &h, hs.bob); !errors.Is(err, ErrMalformed) {
		t.Errorf("header without KEM ciphertext: %v, want ErrMalformed", err)
	}
}

// recordingSource wraps a PreKeySource and records lookups, to show
// Respond only reads.
type recordingSource struct {
	PreKeySource
	lookups int
}

func (r *recordingSource) OneTimePreKey(id keys.PreKeyID) (*keys.OneTimePreKey, error) {
	r.lookups++
	return r.PreKeySource.OneTimePreKey(id)
}

// TestAttack12ForgedHeaderChangesNothing: Respond on forged headers yields
// keys the initiator does not have and only reads prekeys; the prekeys it
// reports as used are still there for the genuine message.
func TestAttack12ForgedHeaderChangesNothing(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	src := &recordingSource{PreKeySource: hs.bob}
	forged := *hs.h
	forged.Identity = keystest.Identity("mallory").Public()
	rb, used, err := Respond(hs.bob.Identity, bobAddr, &forged, src)
	if err != nil {
		t.Fatal(err)
	}
	if sameKeys(rb, hs.ra) {
		t.Fatal("forged identity gives the initiator's keys")
	}
	if used.OneTimePreKey != 1 || len(hs.bob.OneTime) != keystest.OneTimeKeys || src.lookups != 1 {
		t.Fatal("Respond changed the prekey store")
	}
	rb, _, err = Respond(hs.bob.Identity, bobAddr, hs.h, src)
	if err != nil || !sameKeys(rb, hs.ra) {
		t.Fatalf("genuine header after a forged one: %v", err)
	}
	h := *hs.h
	h.OneTimePreKey = 99
	if _, _, err := Respond(hs.bob.Identity, bobAddr, &h, src); !errors.Is(err, ErrUnknownPreKey) {
		t.Errorf("unknown one-time prekey: %v, want ErrUnknownPreKey", err)
	}
}

// TestAttack14MalformedPreKeyMessage: every truncation of a header fails to
// parse, and a bit flip at any byte either fails (parse or Respond) or
// changes the derived keys: every byte is bound.
func TestAttack14MalformedPreKeyMessage(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	enc := must(hs.h.MarshalBinary())
	for n := range len(enc) {
		if _, err := ParseHeader(enc[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("header truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := ParseHeader(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatal("header with a trailing byte parses")
	}
	ctStart := len(enc) - keys.KEMCiphertextSize
	for i := range enc {
		b := bytes.Clone(enc)
		b[i] ^= 1 << (i % 8)
		h, err := ParseHeader(b)
		if err != nil || i > ctStart && i%16 != 0 {
			// Within the ciphertext every flip parses; a sample of them is
			// run through Respond (ML-KEM then yields an unrelated secret).
			continue
		}
		d := hs.bob
		if h.To != bobAddr { // a flipped device number: respond as that device, with bob's keys
			d = &keystest.Device{}
			*d = *hs.bob
			d.Addr = h.To
		}
		rb, _, err := Respond(d.Identity, h.To, h, d)
		if err == nil && sameKeys(rb, hs.ra) {
			t.Fatalf("header with byte %d flipped derives the same keys", i)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	hs := newHandshake(f, 1, 1)
	f.Add(must(hs.h.MarshalBinary()))
	hs = newHandshake(f, 0, keystest.LastResortID)
	f.Add(must(hs.h.MarshalBinary()))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if enc, err := h.MarshalBinary(); err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("accepted header re-encodes differently (%v)", err)
		}
	})
}

// TestTranscriptCoversEveryValue changes each public value of a handshake
// in turn and checks the transcript hash (bound into SK and AD) changes.
func TestTranscriptCoversEveryValue(t *testing.T) {
	hs := newHandshake(t, 1, 1)
	bob, mallory := hs.bob, keystest.NewDevice(addr.Address{User: "mallory", Device: 1})
	otk := bob.OneTime[1].Public()
	base := func() *transcript {
		return &transcript{
			from: aliceAddr, to: bobAddr, initiator: hs.alice.Public(), responder: bob.Identity.Public(),
			signed: bob.Signed.Public(), oneTime: &otk, kem: bob.KEM[1].Public(),
			ephemeral: hs.h.Ephemeral[:], ciphertext: hs.h.KEMCiphertext,
		}
	}
	want := must(base().hash())
	otherOTK := bob.OneTime[2].Public()
	flipped := bytes.Clone(hs.h.KEMCiphertext)
	flipped[0] ^= 1
	lastResort := bob.KEM[1].Public()
	lastResort.LastResort = true
	mutations := map[string]func(t *transcript){
		"from":               func(t *transcript) { t.from.Device = 2 },
		"to":                 func(t *transcript) { t.to = bob2Addr },
		"initiator identity": func(t *transcript) { t.initiator = mallory.Identity.Public() },
		"responder identity": func(t *transcript) { t.responder = mallory.Identity.Public() },
		"signed prekey":      func(t *transcript) { t.signed = mallory.Signed.Public() },
		"no one-time prekey": func(t *transcript) { t.oneTime = nil },
		"one-time prekey":    func(t *transcript) { t.oneTime = &otherOTK },
		"KEM prekey":         func(t *transcript) { t.kem = bob.KEM[2].Public() },
		"last-resort flag":   func(t *transcript) { t.kem = lastResort },
		"ephemeral":          func(t *transcript) { t.ephemeral = bob.Identity.Public().KeyBytes()[32:] },
		"ciphertext":         func(t *transcript) { t.ciphertext = flipped },
	}
	for name, mutate := range mutations {
		tr := base()
		mutate(tr)
		if must(tr.hash()) == want {
			t.Errorf("changing the %s leaves the transcript hash unchanged", name)
		}
	}
}
