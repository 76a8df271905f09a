package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"parley.dev/internal/addr"
)

// fixture is a full set of keys built from fixed seeds.
type fixture struct {
	id     *Identity
	dev    *DeviceKey
	cert   []byte
	spk    *SignedPreKey
	spkSig []byte
	otk    *OneTimePreKey
	kem    *KEMPreKey
	kemSig []byte
	last   *KEMPreKey
	lrSig  []byte
}

const testUser addr.UserID = "alice"

// testDevice is the device the fixture's prekeys belong to.
var testDevice = addr.Address{User: testUser, Device: 3}

func seed(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// must panics on err: only for setup steps that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newFixture(t testing.TB, s byte) *fixture {
	t.Helper()
	f := &fixture{}
	f.id = must(NewIdentity(seed(s, 32), seed(s+1, 32)))
	f.dev = must(NewDeviceKey(seed(s+2, 32)))
	f.cert = must(f.id.SignDeviceCert(testUser, f.dev.Public()))
	f.spk = must(NewSignedPreKey(7, seed(s+3, 32)))
	f.spkSig = must(f.id.SignSignedPreKey(testDevice, f.spk.Public()))
	f.otk = must(NewOneTimePreKey(8, seed(s+4, 32)))
	f.kem = must(NewKEMPreKey(9, false, seed(s+5, 64)))
	f.kemSig = must(f.id.SignKEMPreKey(testDevice, f.kem.Public()))
	f.last = must(NewKEMPreKey(10, true, seed(s+6, 64)))
	f.lrSig = must(f.id.SignKEMPreKey(testDevice, f.last.Public()))
	return f
}

func (f *fixture) bundle() *Bundle {
	otk := f.otk.Public()
	return &Bundle{
		Address:  testDevice,
		Identity: f.id.Public(), Device: f.dev.Public(), DeviceCert: f.cert,
		SignedPreKey: f.spk.Public(), SignedPreKeySig: f.spkSig,
		OneTimePreKey: &otk, KEMPreKey: f.kem.Public(), KEMPreKeySig: f.kemSig,
	}
}

func TestPublicRoundTrips(t *testing.T) {
	f := newFixture(t, 1)
	ip := f.id.Public()
	if got := must(ParseIdentityPublic(ip.Bytes())); got != ip || !got.Equal(ip) {
		t.Error("identity round trip changed the key")
	}
	if got := must(ParseDevicePublic(f.dev.Public().Bytes())); got != f.dev.Public() {
		t.Error("device round trip changed the key")
	}
	if got := must(ParseSignedPreKeyPublic(f.spk.Public().Bytes())); got != f.spk.Public() {
		t.Error("signed prekey round trip changed the key")
	}
	if got := must(ParseOneTimePreKeyPublic(f.otk.Public().Bytes())); got != f.otk.Public() {
		t.Error("one-time prekey round trip changed the key")
	}
	for _, k := range []*KEMPreKey{f.kem, f.last} {
		if got := must(ParseKEMPreKeyPublic(k.Public().Bytes())); got != k.Public() {
			t.Error("KEM prekey round trip changed the key")
		}
	}
	if len(ip.Bytes()) != IdentityPublicSize || len(f.kem.Public().Bytes()) != KEMPreKeySize ||
		len(f.spk.Public().Bytes()) != ECPreKeySize || len(f.cert) != DeviceCertSize {
		t.Error("encoding sizes differ from the documented constants")
	}
}

func TestTextRoundTrips(t *testing.T) {
	f := newFixture(t, 1)
	text := must(f.id.Public().MarshalText())
	if !strings.HasPrefix(string(text), "parley-identity-2:") || string(text) != f.id.Public().String() {
		t.Fatalf("identity text %q", text)
	}
	var ip IdentityPublic
	if err := ip.UnmarshalText(text); err != nil || !ip.Equal(f.id.Public()) {
		t.Fatalf("identity text round trip: %v", err)
	}
	dtext := must(f.dev.Public().MarshalText())
	var dp DevicePublic
	if err := dp.UnmarshalText(dtext); err != nil || dp != f.dev.Public() {
		t.Fatalf("device text round trip: %v", err)
	}
	// A device key's text is not an identity's, even with the prefix swapped.
	swapped := strings.Replace(string(dtext), "parley-device-2", "parley-identity-2", 1)
	if err := ip.UnmarshalText([]byte(swapped)); !errors.Is(err, ErrWrongType) {
		t.Errorf("device text as identity: %v, want ErrWrongType", err)
	}
	if err := dp.UnmarshalText(text); !errors.Is(err, ErrWrongType) {
		t.Errorf("identity text as device: %v, want ErrWrongType", err)
	}
	for _, s := range []fmt.Stringer{f.spk.Public(), f.otk.Public(), f.kem.Public()} {
		if !strings.HasPrefix(s.String(), "parley-") {
			t.Errorf("text form %.30q has no type prefix", s.String())
		}
	}
}

func TestSecretRoundTrips(t *testing.T) {
	f := newFixture(t, 1)
	id := must(ParseIdentitySecret(f.id.MarshalSecret()))
	if !id.Public().Equal(f.id.Public()) || id.Public() != f.id.Public() {
		t.Error("identity secret round trip changed the key")
	}
	if must(ParseDeviceSecret(f.dev.MarshalSecret())).Public() != f.dev.Public() {
		t.Error("device secret round trip changed the key")
	}
	if must(ParseSignedPreKeySecret(f.spk.MarshalSecret())).Public() != f.spk.Public() {
		t.Error("signed prekey secret round trip changed the key")
	}
	if must(ParseOneTimePreKeySecret(f.otk.MarshalSecret())).Public() != f.otk.Public() {
		t.Error("one-time prekey secret round trip changed the key")
	}
	for _, k := range []*KEMPreKey{f.kem, f.last} {
		if must(ParseKEMPreKeySecret(k.MarshalSecret())).Public() != k.Public() {
			t.Error("KEM prekey secret round trip changed the key")
		}
	}
	// A one-time prekey secret is not a signed prekey secret.
	if _, err := ParseSignedPreKeySecret(f.otk.MarshalSecret()); !errors.Is(err, ErrWrongType) {
		t.Errorf("one-time secret as signed: %v", err)
	}
}

func TestGenerate(t *testing.T) {
	id := must(GenerateIdentity())
	id2 := must(GenerateIdentity())
	if id.Public().Equal(id2.Public()) {
		t.Fatal("two generated identities are equal")
	}
	must(ParseIdentityPublic(id.Public().Bytes()))
	dev := must(GenerateDeviceKey())
	sig := dev.Sign([]byte("challenge"))
	if !dev.Public().Verify([]byte("challenge"), sig) || dev.Public().Verify([]byte("other"), sig) {
		t.Error("device signature does not verify exactly its message")
	}
	spk := must(GenerateSignedPreKey(1))
	if err := id.Public().VerifySignedPreKey(testDevice, spk.Public(), must(id.SignSignedPreKey(testDevice, spk.Public()))); err != nil {
		t.Error(err)
	}
	must(GenerateOneTimePreKey(1))
	kem := must(GenerateKEMPreKey(1, true))
	if err := id.Public().VerifyKEMPreKey(testDevice, kem.Public(), must(id.SignKEMPreKey(testDevice, kem.Public()))); err != nil {
		t.Error(err)
	}
	for _, err := range []error{
		errOf(GenerateSignedPreKey(0)), errOf(GenerateOneTimePreKey(0)), errOf(GenerateKEMPreKey(0, false)),
	} {
		if err == nil {
			t.Error("prekey ID 0 accepted")
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestDHAgrees(t *testing.T) {
	f := newFixture(t, 1)
	eph := must(ecdh.X25519().GenerateKey(rand.Reader))
	idKey := must(f.id.Public().DHKey())
	a := must(f.id.DH(eph.PublicKey()))
	b := must(eph.ECDH(idKey))
	spkKey := must(f.spk.Public().Key())
	c := must(f.spk.DH(eph.PublicKey()))
	d := must(eph.ECDH(spkKey))
	otkKey := must(f.otk.Public().Key())
	e := must(f.otk.DH(eph.PublicKey()))
	g := must(eph.ECDH(otkKey))
	if !bytes.Equal(a, b) || !bytes.Equal(c, d) || !bytes.Equal(e, g) {
		t.Fatal("DH results disagree")
	}
	if f.spk.PrivateKey().PublicKey().Equal(spkKey) == false {
		t.Fatal("signed prekey private key does not match its public key")
	}
	ek := must(f.kem.Public().EncapsulationKey())
	ss, ct := ek.Encapsulate()
	if got := must(f.kem.Decapsulate(ct)); !bytes.Equal(got, ss) {
		t.Fatal("KEM shared secrets disagree")
	}
	if _, err := f.kem.Decapsulate(ct[1:]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short ciphertext: %v", err)
	}
}

// TestSecretsRedacted prints every secret type with every common verb, as a
// value and as a pointer, and looks for its key bytes in hex and base64.
func TestSecretsRedacted(t *testing.T) {
	f := newFixture(t, 1)
	secrets := []struct {
		name string
		v    any
		val  any
		raw  []byte
	}{
		{"Identity", f.id, *f.id, f.id.MarshalSecret()},
		{"DeviceKey", f.dev, *f.dev, f.dev.MarshalSecret()},
		{"SignedPreKey", f.spk, *f.spk, f.spk.MarshalSecret()},
		{"OneTimePreKey", f.otk, *f.otk, f.otk.MarshalSecret()},
		{"KEMPreKey", f.kem, *f.kem, f.kem.MarshalSecret()},
		{"SignedPreKey.PrivateKey", f.spk.PrivateKey(), *f.spk.PrivateKey(), f.spk.MarshalSecret()},
	}
	for _, s := range secrets {
		out := fmt.Sprintf("%v %+v %#v %s %x %X %q %d", s.v, s.v, s.v, s.v, s.v, s.v, s.v, s.v) +
			fmt.Sprintf("%v %+v %#v %s %x", s.val, s.val, s.val, s.val, s.val) +
			fmt.Sprint(s.v, s.val) + fmt.Sprintf("%v", []any{s.v}) + fmt.Sprintf("%+v", struct{ K any }{s.v})
		if !strings.Contains(out, redacted) {
			t.Errorf("%s: output %q lacks %s", s.name, out, redacted)
		}
		// Any 16 key bytes would do: take the first and the last after the
		// version and type bytes.
		for _, secret := range [][]byte{s.raw[headerLen : headerLen+16], s.raw[len(s.raw)-16:]} {
			for _, enc := range secretForms(secret) {
				if strings.Contains(out, enc) {
					t.Errorf("%s: printed output contains key bytes %s", s.name, enc)
				}
			}
		}
		if reflect.TypeOf(s.val).Comparable() {
			t.Errorf("%s is comparable", s.name)
		}
	}
}

// secretForms returns the ways fmt and the encoders can show secret:
// hex either case, base64, decimal ("[4 4 ...]"), Go syntax ("0x4, 0x4")
// and the raw or quoted bytes.
func secretForms(secret []byte) []string {
	return []string{hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret)[:20], base64.RawURLEncoding.EncodeToString(secret)[:20],
		strings.Trim(fmt.Sprint(secret), "[]"), strings.TrimSuffix(strings.SplitN(fmt.Sprintf("%#v", secret), "{", 2)[1], "}"),
		string(secret), strings.Trim(fmt.Sprintf("%q", secret), `"`)}
}

func TestDeviceCert(t *testing.T) {
	f, g := newFixture(t, 1), newFixture(t, 50)
	ip := f.id.Public()
	if err := ip.VerifyDeviceCert(testUser, f.dev.Public(), f.cert); err != nil {
		t.Fatal(err)
	}
	gcert := must(g.id.SignDeviceCert(testUser, f.dev.Public()))
	cases := map[string]error{
		"other user":     ip.VerifyDeviceCert("mallory", f.dev.Public(), f.cert),
		"other device":   ip.VerifyDeviceCert(testUser, g.dev.Public(), f.cert),
		"other identity": ip.VerifyDeviceCert(testUser, f.dev.Public(), gcert),
		"zero device":    ip.VerifyDeviceCert(testUser, DevicePublic{}, f.cert),
		"invalid user":   ip.VerifyDeviceCert("Bad User", f.dev.Public(), f.cert),
		"prekey sig as cert": ip.VerifyDeviceCert(testUser, f.dev.Public(),
			append([]byte{Version, typeDeviceCert}, f.spkSig...)),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	for i := range len(f.cert) * 8 {
		bad := bytes.Clone(f.cert)
		bad[i/8] ^= 1 << (i % 8)
		if ip.VerifyDeviceCert(testUser, f.dev.Public(), bad) == nil {
			t.Fatalf("certificate with bit %d flipped verifies", i)
		}
	}
	if _, err := f.id.SignDeviceCert("Bad User", f.dev.Public()); err == nil {
		t.Error("signed a certificate for an invalid user ID")
	}
}

func TestIdentityBinding(t *testing.T) {
	f, g := newFixture(t, 1), newFixture(t, 50)
	// Swap in another identity's DH key: the binding signature fails.
	b := f.id.Public().Bytes()
	gp := g.id.Public()
	copy(b[headerLen+32:], gp.dh[:])
	if _, err := ParseIdentityPublic(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("identity with a swapped DH key: %v, want ErrBadSignature", err)
	}
}

func TestBundle(t *testing.T) {
	f := newFixture(t, 1)
	b := f.bundle()
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	enc := must(b.MarshalBinary())
	got := must(ParseBundle(enc))
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("bundle round trip:\n got %+v\nwant %+v", got, b)
	}
	b.OneTimePreKey = nil
	got = must(ParseBundle(must(b.MarshalBinary())))
	if got.OneTimePreKey != nil || got.Verify() != nil {
		t.Fatal("bundle without a one-time key did not round trip")
	}
	if _, err := ParseBundle(append(enc, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := ParseBundle(make([]byte, MaxBundleSize+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized bundle: %v", err)
	}
}

func TestBundleVerifyRejects(t *testing.T) {
	f, g := newFixture(t, 1), newFixture(t, 50)
	cases := map[string]func(b *Bundle){
		"bad address":         func(b *Bundle) { b.Address.Device = 0 },
		"no identity":         func(b *Bundle) { b.Identity = IdentityPublic{} },
		"other identity":      func(b *Bundle) { b.Identity = g.id.Public() },
		"other device":        func(b *Bundle) { b.Device = g.dev.Public() },
		"cert for other user": func(b *Bundle) { b.Address.User = "bob" },
		"forged spk sig":      func(b *Bundle) { b.SignedPreKeySig = g.spkSig },
		"forged kem sig":      func(b *Bundle) { b.KEMPreKeySig = g.kemSig },
		"swapped spk":         func(b *Bundle) { b.SignedPreKey = g.spk.Public() },
		"zero one-time key":   func(b *Bundle) { b.OneTimePreKey = &OneTimePreKeyPublic{ID: 1} },
		"no KEM key":          func(b *Bundle) { b.KEMPreKey, b.KEMPreKeySig = KEMPreKeyPublic{}, nil },
	}
	for name, mutate := range cases {
		b := f.bundle()
		mutate(b)
		if err := b.Verify(); err == nil {
			t.Errorf("%s: bundle verifies", name)
		}
	}
}

func TestKEMFlags(t *testing.T) {
	f := newFixture(t, 1)
	enc := f.kem.Public().Bytes()
	enc[headerLen+preKeyIDSize] = 0x02
	if _, err := ParseKEMPreKeyPublic(enc); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown KEM flag: %v", err)
	}
	enc = f.kem.Public().Bytes()
	// An encapsulation key with a coefficient >= q is invalid (FIPS 203 7.2).
	for i := headerLen + preKeyIDSize + kemFlagsSize; i < headerLen+preKeyIDSize+kemFlagsSize+3; i++ {
		enc[i] = 0xff
	}
	if _, err := ParseKEMPreKeyPublic(enc); !errors.Is(err, ErrWeakKey) {
		t.Errorf("invalid encapsulation key: %v", err)
	}
	zero := KEMPreKeyPublic{ID: 1}.Bytes() // all-zero t and ρ: passes FIPS 203's check
	if _, err := mlkem.NewEncapsulationKey1024(zero[headerLen+preKeyIDSize+kemFlagsSize:]); err != nil {
		t.Fatalf("mlkem now rejects the all-zero key (%v); the extra check may go", err)
	}
	if _, err := ParseKEMPreKeyPublic(zero); !errors.Is(err, ErrWeakKey) {
		t.Errorf("all-zero encapsulation key: %v, want ErrWeakKey", err)
	}
	if len(enc) != KEMPreKeySize || mlkem.EncapsulationKeySize1024 != 1568 {
		t.Error("unexpected KEM sizes")
	}
}
