package keys

import (
	"bytes"
	"testing"

	"parley.dev/internal/addr"
)

// Each fuzz target checks a parser never panics and that whatever it
// accepts re-encodes to exactly the input (encodings are canonical).

func FuzzParseIdentityPublic(f *testing.F) {
	fx := newFixture(f, 1)
	f.Add(fx.id.Public().Bytes())
	f.Add(forgeIdentityF(x25519LowOrder[2]))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIdentityPublic(b)
		if err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, p.Bytes())
		}
	})
}

func forgeIdentityF(dh []byte) []byte {
	return append(append([]byte{Version, typeIdentityPublic}, make([]byte, 32)...), append(dh, make([]byte, 64)...)...)
}

func FuzzParseDevicePublic(f *testing.F) {
	fx := newFixture(f, 1)
	f.Add(fx.dev.Public().Bytes())
	f.Add(append([]byte{Version, typeDevicePublic}, ed25519SmallOrder[6]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDevicePublic(b)
		if err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, p.Bytes())
		}
	})
}

func FuzzParsePreKeyPublic(f *testing.F) {
	fx := newFixture(f, 1)
	f.Add(fx.spk.Public().Bytes())
	f.Add(fx.otk.Public().Bytes())
	f.Add(fx.kem.Public().Bytes())
	f.Add(fx.last.Public().Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParseSignedPreKeyPublic(b); err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("signed prekey %x re-encodes as %x", b, p.Bytes())
		}
		if p, err := ParseOneTimePreKeyPublic(b); err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("one-time prekey %x re-encodes as %x", b, p.Bytes())
		}
		if p, err := ParseKEMPreKeyPublic(b); err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("KEM prekey %x re-encodes as %x", b, p.Bytes())
		}
	})
}

func FuzzParseSecrets(f *testing.F) {
	fx := newFixture(f, 1)
	for _, b := range [][]byte{fx.id.MarshalSecret(), fx.dev.MarshalSecret(), fx.spk.MarshalSecret(),
		fx.otk.MarshalSecret(), fx.kem.MarshalSecret()} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := ParseIdentitySecret(b); err == nil && !bytes.Equal(k.MarshalSecret(), b) {
			t.Fatal("identity secret does not re-encode")
		}
		if k, err := ParseDeviceSecret(b); err == nil && !bytes.Equal(k.MarshalSecret(), b) {
			t.Fatal("device secret does not re-encode")
		}
		if k, err := ParseSignedPreKeySecret(b); err == nil && !bytes.Equal(k.MarshalSecret(), b) {
			t.Fatal("signed prekey secret does not re-encode")
		}
		if k, err := ParseOneTimePreKeySecret(b); err == nil && !bytes.Equal(k.MarshalSecret(), b) {
			t.Fatal("one-time prekey secret does not re-encode")
		}
		if k, err := ParseKEMPreKeySecret(b); err == nil && !bytes.Equal(k.MarshalSecret(), b) {
			t.Fatal("KEM prekey secret does not re-encode")
		}
	})
}

func FuzzParseBundle(f *testing.F) {
	fx := newFixture(f, 1)
	b := fx.bundle()
	f.Add(must(b.MarshalBinary()))
	b.OneTimePreKey = nil
	f.Add(must(b.MarshalBinary()))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		b.Verify() // must not panic
		if enc, err := b.MarshalBinary(); err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("accepted bundle re-encodes differently (%v)", err)
		}
	})
}

func FuzzVerifyDeviceCert(f *testing.F) {
	fx := newFixture(f, 1)
	f.Add(string(testUser), fx.dev.Public().Bytes(), fx.cert)
	f.Fuzz(func(t *testing.T, user string, dev, cert []byte) {
		d, err := ParseDevicePublic(dev)
		if err != nil {
			return
		}
		err = fx.id.Public().VerifyDeviceCert(addr.UserID(user), d, cert)
		if err == nil && (user != string(testUser) || d != fx.dev.Public()) {
			t.Fatalf("certificate verifies for %q, %x", user, dev)
		}
	})
}

func FuzzUnmarshalText(f *testing.F) {
	fx := newFixture(f, 1)
	f.Add(must(fx.id.Public().MarshalText()))
	f.Add(must(fx.dev.Public().MarshalText()))
	f.Fuzz(func(t *testing.T, text []byte) {
		var ip IdentityPublic
		if ip.UnmarshalText(text) == nil && string(must(ip.MarshalText())) != string(text) {
			t.Fatalf("identity text %q re-encodes differently", text)
		}
		var dp DevicePublic
		if dp.UnmarshalText(text) == nil && string(must(dp.MarshalText())) != string(text) {
			t.Fatalf("device text %q re-encodes differently", text)
		}
	})
}
