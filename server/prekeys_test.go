package server_test

import (
	"testing"
	"time"

	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

func fetchBundle(t *testing.T, from *testclient.Device, path string) (*wire.Bundle, error) {
	t.Helper()
	f, err := from.Call("POST", path, nil)
	if err != nil {
		return nil, err
	}
	return f.(*wire.Bundle), nil
}

// verifyBundle checks a bundle as a sender would before PQXDH.
func verifyBundle(t *testing.T, b *wire.Bundle) {
	t.Helper()
	kb := &keys.Bundle{Address: b.Address, DeviceCert: b.DeviceCert, SignedPreKeySig: b.Signed.Signature, KEMPreKeySig: b.KEM.Signature}
	var err error
	must := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	kb.Identity, err = keys.ParseIdentityPublic(b.Identity)
	var e error
	kb.Device, e = keys.ParseDevicePublic(b.DeviceKey)
	must(e)
	kb.SignedPreKey, e = keys.ParseSignedPreKeyPublic(b.Signed.Public)
	must(e)
	kb.KEMPreKey, e = keys.ParseKEMPreKeyPublic(b.KEM.Public)
	must(e)
	if b.OneTimeEC != nil {
		otk, e := keys.ParseOneTimePreKeyPublic(b.OneTimeEC.Public)
		must(e)
		kb.OneTimePreKey = &otk
	}
	must(kb.Verify())
	if err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
}

// TestAttack11PreKeyExhaustion: each one-time key is handed out once;
// when they run out sessions still start on the signed and last-resort
// keys; the owner is told to upload more; fetching is rate-limited.
func TestAttack11PreKeyExhaustion(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.PreKeyLowWater = 2
		s.BundleRate = server.Rate{Burst: 5, Per: time.Minute}
	})
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, true, 1, 3, 3)); err != nil {
		t.Fatal(err)
	}
	aws := alice.Dial(t)
	drain(t, aws)
	path := "/v1/users/alice/devices/1/bundle"
	seenEC, seenKEM := map[uint32]bool{}, map[uint32]bool{}
	for i := range 3 {
		b, err := fetchBundle(t, bob, path)
		if err != nil {
			t.Fatal(err)
		}
		verifyBundle(t, b)
		if b.OneTimeEC == nil || b.KEMLastResort || seenEC[b.OneTimeEC.ID] || seenKEM[b.KEM.ID] {
			t.Fatalf("bundle %d: one-time keys missing or handed out twice: %+v", i, b)
		}
		seenEC[b.OneTimeEC.ID], seenKEM[b.KEM.ID] = true, true
	}
	// Counts fell below 2 after the second fetch: alice is told.
	st := next[*wire.PreKeyStatus](t, aws)
	if !st.Low() || st.LowWater != 2 || st.Max != 1000 {
		t.Errorf("pushed status %+v", st)
	}
	for range 2 { // exhausted: still a valid bundle, on the last-resort key
		b, err := fetchBundle(t, bob, path)
		if err != nil {
			t.Fatal(err)
		}
		verifyBundle(t, b)
		if b.OneTimeEC != nil || !b.KEMLastResort || b.KEM.ID != testclient.LastResortID {
			t.Fatalf("exhausted bundle %+v", b)
		}
	}
	if _, err := fetchBundle(t, bob, path); codeOf(err) != wire.CodeRateLimited {
		t.Fatalf("sixth fetch within a minute: %v, want rate-limited", err)
	}
	carol := register(t, r, "carol") // the limit is per requester
	if _, err := fetchBundle(t, carol, path); err != nil {
		t.Fatalf("another requester: %v", err)
	}
	clk.Advance(12 * time.Second)
	if _, err := fetchBundle(t, bob, path); err != nil {
		t.Fatalf("bob after 12s: %v", err)
	}
	// alice uploads more; fresh keys are handed out again.
	f, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, false, 100, 4, 4))
	if err != nil || f.(*wire.PreKeyStatus).OneTimeEC != 4 || f.(*wire.PreKeyStatus).Low() {
		t.Fatalf("upload: %v %v", f, err)
	}
	if b, _ := fetchBundle(t, carol, path); b == nil || b.OneTimeEC == nil || b.OneTimeEC.ID < 100 {
		t.Fatalf("after the upload: %+v", b)
	}
}

func TestBundleErrors(t *testing.T) {
	r := startRelay(t)
	register(t, r, "alice")
	bob := register(t, r, "bob")
	if _, err := fetchBundle(t, bob, "/v1/users/alice/devices/1/bundle"); codeOf(err) != wire.CodeNoPreKeys {
		t.Errorf("no prekeys uploaded: %v", err)
	}
	if _, err := fetchBundle(t, bob, "/v1/users/alice/devices/7/bundle"); codeOf(err) != wire.CodeUnknownDevice {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := fetchBundle(t, bob, "/v1/users/ALICE/devices/1/bundle"); codeOf(err) != wire.CodeMalformed {
		t.Errorf("bad user in path: %v", err)
	}
	if _, err := fetchBundle(t, bob, "/v1/users/alice/devices/0/bundle"); codeOf(err) != wire.CodeMalformed {
		t.Errorf("device 0: %v", err)
	}
}

// TestPreKeyUploadRefusesBadKeys: the relay stores no key a client would
// refuse, and a refused upload stores nothing (brief attack 4 on the
// relay's side).
func TestPreKeyUploadRefusesBadKeys(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	mallory := testclient.NewIdentity(t)
	fresh := func() *wire.PreKeyUpload { return alice.PreKeys(t, true, 1, 2, 2) }
	for _, tc := range []struct {
		name string
		edit func(u *wire.PreKeyUpload)
		code wire.Code
	}{
		{"signed prekey signed by another identity", func(u *wire.PreKeyUpload) {
			k, _ := keys.ParseSignedPreKeyPublic(u.Signed.Public)
			u.Signed.Signature, _ = mallory.SignSignedPreKey(alice.Addr, k)
		}, wire.CodeBadKey},
		{"signed prekey signed for another device", func(u *wire.PreKeyUpload) {
			k, _ := keys.ParseSignedPreKeyPublic(u.Signed.Public)
			other := alice.Addr
			other.Device++
			u.Signed.Signature, _ = alice.Identity.SignSignedPreKey(other, k)
		}, wire.CodeBadKey},
		{"KEM prekey signed for another device", func(u *wire.PreKeyUpload) {
			k, _ := keys.ParseKEMPreKeyPublic(u.OneTimeKEM[0].Public)
			other := alice.Addr
			other.Device++
			u.OneTimeKEM[0].Signature, _ = alice.Identity.SignKEMPreKey(other, k)
		}, wire.CodeBadKey},
		{"bit flip in a KEM signature", func(u *wire.PreKeyUpload) { u.OneTimeKEM[1].Signature[3] ^= 1 }, wire.CodeBadKey},
		{"KEM key where an EC key belongs", func(u *wire.PreKeyUpload) { u.OneTimeEC[0] = u.OneTimeKEM[0] }, wire.CodeBadKey},
		{"EC key where a KEM key belongs", func(u *wire.PreKeyUpload) { u.OneTimeKEM[0] = *u.Signed }, wire.CodeBadKey},
		{"one-time KEM key as last resort", func(u *wire.PreKeyUpload) { u.LastResortKEM = &u.OneTimeKEM[0] }, wire.CodeBadKey},
		{"last-resort key as one-time", func(u *wire.PreKeyUpload) { u.OneTimeKEM[0] = *u.LastResortKEM }, wire.CodeBadKey},
		{"ID differs from the encoding", func(u *wire.PreKeyUpload) { u.OneTimeEC[0].ID = 77 }, wire.CodeBadKey},
		{"signature on a one-time EC key", func(u *wire.PreKeyUpload) { u.OneTimeEC[0].Signature = u.Signed.Signature }, wire.CodeBadKey},
		{"duplicate IDs", func(u *wire.PreKeyUpload) { u.OneTimeEC[1] = u.OneTimeEC[0] }, wire.CodeBadKey},
		{"truncated key", func(u *wire.PreKeyUpload) { u.OneTimeEC[0].Public = u.OneTimeEC[0].Public[:20] }, wire.CodeBadKey},
		{"low-order X25519 key", func(u *wire.PreKeyUpload) {
			p := u.OneTimeEC[0].Public
			clear(p[len(p)-32:])
		}, wire.CodeBadKey},
	} {
		u := fresh()
		tc.edit(u)
		if _, err := alice.Call("PUT", "/v1/prekeys", u); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	f, err := alice.Call("GET", "/v1/prekeys", nil)
	if st := f.(*wire.PreKeyStatus); err != nil || st.OneTimeEC != 0 || st.OneTimeKEM != 0 {
		t.Fatalf("after refused uploads: %+v %v", f, err)
	}
	bob := register(t, r, "bob")
	if _, err := fetchBundle(t, bob, "/v1/users/alice/devices/1/bundle"); codeOf(err) != wire.CodeNoPreKeys {
		t.Errorf("a refused upload left a bundle: %v", err)
	}
	// Too many in one upload is refused by the parser.
	many := alice.PreKeys(t, false, 1, wire.MaxPreKeysPerUpload, 0)
	many.OneTimeEC = append(many.OneTimeEC, many.OneTimeEC[0])
	if _, err := wire.Marshal(many); err == nil {
		t.Error("an oversized upload marshals")
	}
}

func TestPreKeyStoreLimit(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	for i := range 10 {
		up := alice.PreKeys(t, false, uint32(1+i*100), 100, 0)
		if _, err := alice.Call("PUT", "/v1/prekeys", up); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, false, 5000, 1, 0)); codeOf(err) != wire.CodeLimit {
		t.Fatalf("1,001st one-time key: %v, want limit", err)
	}
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, false, 50, 1, 0)); codeOf(err) != wire.CodeLimit {
		t.Fatalf("an ID already stored: %v, want limit", err)
	}
}
