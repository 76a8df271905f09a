package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// TestGroupChangeSignature: a group change signature verifies only as
// one, over the same bytes, under the same identity (attack 9).
func TestGroupChangeSignature(t *testing.T) {
	f, g := newFixture(t, 1), newFixture(t, 2)
	change := []byte("a group change")
	sig := f.id.SignGroupChange(change)
	if err := f.id.Public().VerifyGroupChange(change, sig); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other identity": g.id.Public().VerifyGroupChange(change, sig),
		"other bytes":    f.id.Public().VerifyGroupChange([]byte("another change"), sig),
		"short":          f.id.Public().VerifyGroupChange(change, sig[:63]),
		"zero identity":  IdentityPublic{}.VerifyGroupChange(change, sig),
	} {
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The label separates it from a plain signature over the same bytes.
	pub := f.id.Public()
	if ed25519.Verify(pub.sign[:], change, sig) {
		t.Fatal("a group change signature verifies without its label")
	}
	cert, err := f.id.SignDeviceCert(testUser, f.dev.Public())
	if err != nil {
		t.Fatal(err)
	}
	if pub.VerifyGroupChange(signed(sigDeviceCert, []byte{byte(len(testUser))}, []byte(testUser), f.dev.Public().Bytes()), cert[headerLen:]) == nil {
		t.Fatal("a device certificate verifies as a group change")
	}
}

func TestCheckEd25519(t *testing.T) {
	for _, lo := range ed25519SmallOrder {
		if CheckEd25519(lo) == nil {
			t.Errorf("small-order key %x accepted", lo)
		}
	}
	if CheckEd25519(bytes.Repeat([]byte{0xff}, 32)) == nil || CheckEd25519(make([]byte, 31)) == nil {
		t.Fatal("non-canonical or short key accepted")
	}
	pub := newFixture(t, 1).id.Public()
	if err := CheckEd25519(pub.sign[:]); err != nil {
		t.Fatal(err)
	}
}
