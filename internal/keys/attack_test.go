package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"parley.dev/internal/addr"
)

// TestAttack04ForgedPreKeySignature: a forged or bit-flipped prekey
// signature, a signature by another identity, and a KEM key where an EC key
// belongs (or the reverse) are all rejected.
func TestAttack04ForgedPreKeySignature(t *testing.T) {
	f, g := newFixture(t, 1), newFixture(t, 50)
	ip := f.id.Public()
	if err := ip.VerifySignedPreKey(testDevice, f.spk.Public(), f.spkSig); err != nil {
		t.Fatal(err)
	}
	if err := ip.VerifyKEMPreKey(testDevice, f.kem.Public(), f.kemSig); err != nil {
		t.Fatal(err)
	}
	for i := range len(f.spkSig) * 8 {
		bad := bytes.Clone(f.spkSig)
		bad[i/8] ^= 1 << (i % 8)
		if ip.VerifySignedPreKey(testDevice, f.spk.Public(), bad) == nil {
			t.Fatalf("signed prekey signature with bit %d flipped verifies", i)
		}
		bad = bytes.Clone(f.kemSig)
		bad[i/8] ^= 1 << (i % 8)
		if ip.VerifyKEMPreKey(testDevice, f.kem.Public(), bad) == nil {
			t.Fatalf("KEM prekey signature with bit %d flipped verifies", i)
		}
	}
	flippedLR := f.kem.Public()
	flippedLR.LastResort = true
	renumbered := f.spk.Public()
	renumbered.ID++
	d := testDevice
	cases := map[string]error{
		"spk signed by another identity": ip.VerifySignedPreKey(d, f.spk.Public(), must(g.id.SignSignedPreKey(d, f.spk.Public()))),
		"kem signed by another identity": ip.VerifyKEMPreKey(d, f.kem.Public(), must(g.id.SignKEMPreKey(d, f.kem.Public()))),
		"another identity's spk":         ip.VerifySignedPreKey(d, g.spk.Public(), g.spkSig),
		"kem signature on spk":           ip.VerifySignedPreKey(d, f.spk.Public(), f.kemSig),
		"spk signature on kem":           ip.VerifyKEMPreKey(d, f.kem.Public(), f.spkSig),
		"one-time kem as last resort":    ip.VerifyKEMPreKey(d, flippedLR, f.kemSig),
		"last-resort sig on one-time":    ip.VerifyKEMPreKey(d, f.kem.Public(), f.lrSig),
		"renumbered spk":                 ip.VerifySignedPreKey(d, renumbered, f.spkSig),
		"empty signature":                ip.VerifySignedPreKey(d, f.spk.Public(), nil),
		"identity binding sig as spk sig": ip.VerifySignedPreKey(d, f.spk.Public(),
			ip.sig[:]),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	// Kind confusion at the encoding level.
	if _, err := ParseSignedPreKeyPublic(f.kem.Public().Bytes()); !errors.Is(err, ErrWrongType) {
		t.Errorf("KEM key parsed as signed EC prekey: %v", err)
	}
	if _, err := ParseKEMPreKeyPublic(f.spk.Public().Bytes()); !errors.Is(err, ErrWrongType) {
		t.Errorf("EC key parsed as KEM prekey: %v", err)
	}
	if _, err := ParseOneTimePreKeyPublic(f.spk.Public().Bytes()); !errors.Is(err, ErrWrongType) {
		t.Errorf("signed prekey parsed as one-time prekey: %v", err)
	}
	if _, err := ParseDevicePublic(f.id.Public().Bytes()); !errors.Is(err, ErrWrongType) {
		t.Errorf("identity parsed as device key: %v", err)
	}
	if err := ip.VerifyKEMPreKey(d, KEMPreKeyPublic{}, f.kemSig); !errors.Is(err, ErrNoKEM) {
		t.Errorf("zero KEM key: %v", err)
	}
}

// TestPreKeySignatureCoversIdentityAndDevice: a prekey signature (key
// version 2) binds the publishing device's address and the signer's whole
// identity, so it verifies for no other device number or user, and under
// no identity that shares only the Ed25519 key (attack 4).
func TestPreKeySignatureCoversIdentityAndDevice(t *testing.T) {
	f := newFixture(t, 1)
	ip := f.id.Public()
	// The same Ed25519 key with another X25519 half, validly bound by it.
	otherDH := must(NewIdentity(seed(1, 32), seed(99, 32))).Public()
	if otherDH.sign != ip.sign || otherDH.dh == ip.dh {
		t.Fatal("fixture: want the same signing key and another DH key")
	}
	nextDevice := addr.Address{User: testDevice.User, Device: testDevice.Device + 1}
	otherUser := addr.Address{User: "mallory", Device: testDevice.Device}
	for name, err := range map[string]error{
		"spk for another device number":  ip.VerifySignedPreKey(nextDevice, f.spk.Public(), f.spkSig),
		"kem for another device number":  ip.VerifyKEMPreKey(nextDevice, f.kem.Public(), f.kemSig),
		"last resort for another device": ip.VerifyKEMPreKey(nextDevice, f.last.Public(), f.lrSig),
		"spk for another user":           ip.VerifySignedPreKey(otherUser, f.spk.Public(), f.spkSig),
		"kem for another user":           ip.VerifyKEMPreKey(otherUser, f.kem.Public(), f.kemSig),
		"spk under another DH half":      otherDH.VerifySignedPreKey(testDevice, f.spk.Public(), f.spkSig),
		"kem under another DH half":      otherDH.VerifyKEMPreKey(testDevice, f.kem.Public(), f.kemSig),
		"spk for an invalid address":     ip.VerifySignedPreKey(addr.Address{User: testDevice.User}, f.spk.Public(), f.spkSig),
	} {
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	if _, err := f.id.SignSignedPreKey(addr.Address{User: testDevice.User}, f.spk.Public()); err == nil {
		t.Error("signed a prekey for device 0")
	}
	b := f.bundle()
	b.Address.Device++
	if err := b.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bundle served under another device number: %v, want ErrBadSignature", err)
	}
}

// TestX25519LowOrderList checks the low-order list against crypto/ecdh:
// every listed point makes X25519 output zero, and random keys do not.
func TestX25519LowOrderList(t *testing.T) {
	priv := must(ecdh.X25519().GenerateKey(rand.Reader))
	for _, lo := range x25519LowOrder {
		pub := must(ecdh.X25519().NewPublicKey(lo))
		if _, err := priv.ECDH(pub); err == nil {
			t.Errorf("%x: X25519 output is nonzero; not a low-order point", lo)
		}
	}
	for range 100 {
		k := must(ecdh.X25519().GenerateKey(rand.Reader))
		if err := CheckX25519(k.PublicKey().Bytes()); err != nil {
			t.Fatalf("random key rejected: %v", err)
		}
	}
}

// TestEd25519SmallOrderList checks each listed point has order dividing 8:
// with R the identity and S = 0, Ed25519 verification holds exactly when
// [k]A is the identity, which for some k = H(R, A, M) happens only if A
// has small order.
func TestEd25519SmallOrderList(t *testing.T) {
	sig := append(bytes.Clone(ed25519SmallOrder[0]), make([]byte, 32)...)
	for _, lo := range ed25519SmallOrder {
		if lo[31]&0x80 != 0 && (lo[0] == 0x01 || lo[0] == 0xec) {
			continue // x = 0 with the sign bit set: not a point Go decodes
		}
		ok := false
		for i := 0; i < 200 && !ok; i++ {
			ok = ed25519.Verify(lo, []byte{byte(i)}, sig)
		}
		if !ok {
			t.Errorf("%x: no message verifies with R = identity, S = 0; not of small order", lo)
		}
	}
}

// TestAttack08LowOrderPoints: low-order, all-zero and non-canonical public
// keys are rejected wherever a key is parsed.
func TestAttack08LowOrderPoints(t *testing.T) {
	f := newFixture(t, 1)
	var bad [][]byte
	bad = append(bad, x25519LowOrder...)
	nonCanonical := []string{
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1 (≡ 1)
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // 2^255-1
	}
	for _, s := range nonCanonical {
		bad = append(bad, mustHex(s))
	}
	good := f.otk.Public().key
	highBit := good
	highBit[31] |= 0x80
	bad = append(bad, highBit[:])
	for _, k := range bad {
		if err := CheckX25519(k); !errors.Is(err, ErrWeakKey) {
			t.Errorf("%x: %v, want ErrWeakKey", k, err)
		}
		enc := appendECPreKey(typeOneTimePreKey, 1, (*[32]byte)(k))
		if _, err := ParseOneTimePreKeyPublic(enc); !errors.Is(err, ErrWeakKey) {
			t.Errorf("one-time prekey %x: %v, want ErrWeakKey", k, err)
		}
		if _, err := ParseSignedPreKeyPublic(appendECPreKey(typeSignedPreKey, 1, (*[32]byte)(k))); !errors.Is(err, ErrWeakKey) {
			t.Errorf("signed prekey %x: %v, want ErrWeakKey", k, err)
		}
		if _, err := ParseIdentityPublic(forgeIdentity(t, k)); !errors.Is(err, ErrWeakKey) {
			t.Errorf("identity with DH key %x (validly signed): %v, want ErrWeakKey", k, err)
		}
		if _, err := f.id.DH(must(ecdh.X25519().NewPublicKey(k))); err == nil && isLowOrder(k) {
			t.Errorf("identity DH with %x gave a result", k)
		}
	}
	for _, k := range append(ed25519SmallOrder, mustHex(nonCanonical[0])) {
		enc := append([]byte{Version, typeDevicePublic}, k...)
		if _, err := ParseDevicePublic(enc); !errors.Is(err, ErrWeakKey) {
			t.Errorf("device key %x: %v, want ErrWeakKey", k, err)
		}
	}
	// A device whose signing key is fine is accepted: the checks are not
	// rejecting everything.
	if _, err := ParseDevicePublic(f.dev.Public().Bytes()); err != nil {
		t.Fatal(err)
	}
}

func isLowOrder(k []byte) bool {
	for _, lo := range x25519LowOrder {
		if bytes.Equal(k, lo) {
			return true
		}
	}
	return false
}

// forgeIdentity returns an identity encoding with the given DH key and a
// valid binding signature, as a malicious user could upload.
func forgeIdentity(t *testing.T, dh []byte) []byte {
	t.Helper()
	sk := ed25519.NewKeyFromSeed(seed(99, 32))
	pub := sk.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(sk, signed(sigIdentityDH, pub, dh))
	b := append([]byte{Version, typeIdentityPublic}, pub...)
	b = append(b, dh...)
	return append(b, sig...)
}

// TestAttack10Downgrade: a bundle without a post-quantum prekey is refused,
// and so is an encoding of an unknown version.
func TestAttack10Downgrade(t *testing.T) {
	f := newFixture(t, 1)
	b := f.bundle()
	b.KEMPreKey, b.KEMPreKeySig = KEMPreKeyPublic{}, nil
	if err := b.Verify(); !errors.Is(err, ErrNoKEM) {
		t.Errorf("bundle without KEM prekey: %v, want ErrNoKEM", err)
	}
	for _, enc := range [][]byte{f.id.Public().Bytes(), f.kem.Public().Bytes(), must(f.bundle().MarshalBinary())} {
		enc[0] = Version + 1
		_, err1 := ParseIdentityPublic(enc)
		_, err2 := ParseKEMPreKeyPublic(enc)
		_, err3 := ParseBundle(enc)
		if !errors.Is(err1, ErrVersion) || !errors.Is(err2, ErrVersion) || !errors.Is(err3, ErrVersion) {
			t.Errorf("version %d accepted: %v, %v, %v", enc[0], err1, err2, err3)
		}
	}
	// Version 1 (prekey signatures over the prekey alone) is retired: its
	// bundles are refused with an error that says so.
	for name, enc := range map[string][]byte{
		"bundle": must(f.bundle().MarshalBinary()), "identity": f.id.Public().Bytes(),
		"signed prekey": f.spk.Public().Bytes(), "KEM prekey": f.kem.Public().Bytes(),
	} {
		enc[0] = 1
		_, err := ParseBundle(enc)
		if name == "identity" {
			_, err = ParseIdentityPublic(enc)
		} else if name == "signed prekey" {
			_, err = ParseSignedPreKeyPublic(enc)
		} else if name == "KEM prekey" {
			_, err = ParseKEMPreKeyPublic(enc)
		}
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 1 is retired") {
			t.Errorf("version 1 %s: %v, want ErrVersion saying version 1 is retired", name, err)
		}
	}
}

// TestAttack14MalformedKeys truncates every encoding at every length and
// flips bits (every bit of an identity, a bit of every byte of a bundle):
// parsers return an error, never panic, and never accept a changed signed
// value.
func TestAttack14MalformedKeys(t *testing.T) {
	f := newFixture(t, 1)
	encs := map[string][]byte{
		"identity": f.id.Public().Bytes(), "device": f.dev.Public().Bytes(),
		"spk": f.spk.Public().Bytes(), "otk": f.otk.Public().Bytes(), "kem": f.kem.Public().Bytes(),
		"identity secret": f.id.MarshalSecret(), "kem secret": f.kem.MarshalSecret(),
		"bundle": must(f.bundle().MarshalBinary()),
	}
	for name, enc := range encs {
		for n := range len(enc) {
			if parseAny(enc[:n]) == nil {
				t.Errorf("%s truncated to %d bytes parses", name, n)
			}
		}
	}
	ident := encs["identity"]
	for i := range len(ident) * 8 {
		bad := bytes.Clone(ident)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := ParseIdentityPublic(bad); err == nil {
			t.Fatalf("identity with bit %d flipped parses", i)
		}
	}
	// No bit flip may leave a bundle that verifies, except in two unsigned
	// fields. The relay assigns device numbers, so no certificate can bind
	// them; a wrong one misroutes the first message, which the responder
	// rejects (pqxdh's TestAttack06FirstMessageToOtherDevice). One-time
	// prekeys are unsigned (as in X3DH and PQXDH); a substituted one makes
	// the first message fail to decrypt, consuming nothing.
	bundle := encs["bundle"]
	devStart := headerLen + 1 + len(testUser)
	otk := bytes.Index(bundle, f.otk.Public().Bytes())
	kem := bytes.Index(bundle, f.kem.Public().Bytes()) + headerLen + preKeyIDSize + kemFlagsSize
	for i := range bundle { // one bit per byte, a different bit each time
		if i >= devStart && i < devStart+4 || i >= otk && i < otk+ECPreKeySize {
			continue
		}
		if i >= kem && i < kem+mlkem.EncapsulationKeySize1024 && i%8 != 0 {
			continue // a sample of the ML-KEM key's bytes keeps the test fast
		}
		bad := bytes.Clone(bundle)
		bad[i] ^= 1 << (i % 8)
		if b, err := ParseBundle(bad); err == nil && b.Verify() == nil {
			t.Fatalf("bundle with byte %d flipped verifies", i)
		}
	}
}

// parseAny runs every parser on b: nil if any accepts it, else all errors.
func parseAny(b []byte) error {
	parsers := []func([]byte) error{
		func(b []byte) error { _, err := ParseIdentityPublic(b); return err },
		func(b []byte) error { _, err := ParseDevicePublic(b); return err },
		func(b []byte) error { _, err := ParseSignedPreKeyPublic(b); return err },
		func(b []byte) error { _, err := ParseOneTimePreKeyPublic(b); return err },
		func(b []byte) error { _, err := ParseKEMPreKeyPublic(b); return err },
		func(b []byte) error { _, err := ParseBundle(b); return err },
		func(b []byte) error { _, err := ParseIdentitySecret(b); return err },
		func(b []byte) error { _, err := ParseDeviceSecret(b); return err },
		func(b []byte) error { _, err := ParseSignedPreKeySecret(b); return err },
		func(b []byte) error { _, err := ParseOneTimePreKeySecret(b); return err },
		func(b []byte) error { _, err := ParseKEMPreKeySecret(b); return err },
	}
	var errs []error
	for _, p := range parsers {
		err := p(b)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
