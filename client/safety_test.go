package client_test

import (
	"context"
	"errors"
	"testing"

	"parley.dev/client"
)

func TestSafetyNumbers(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	if _, err := alice.SafetyNumber(ctx, "bob"); !errors.Is(err, client.ErrUnknownContact) {
		t.Fatalf("before any message: %v, want ErrUnknownContact", err)
	}
	send(t, alice, "bob", "hi")
	syncNow(t, bob)
	send(t, carol, "alice", "hi")
	syncNow(t, alice)

	na, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if na.Digits != nb.Digits || len(na.Digits) != 60 {
		t.Fatalf("alice sees %s, bob sees %s", na, nb)
	}
	if string(na.QR) == string(nb.QR) {
		t.Fatal("alice and bob show the same QR payload: a scan of one's own screen would match")
	}
	if err := alice.VerifyQR(ctx, "bob", na.QR); !errors.Is(err, client.ErrSafetyMismatch) {
		t.Fatalf("alice scanning her own QR code: %v, want ErrSafetyMismatch", err)
	}
	if nc, _ := alice.SafetyNumber(ctx, "carol"); nc.Digits == na.Digits {
		t.Fatal("two contacts share a safety number")
	}
	if len(na.String()) != 60+11 {
		t.Fatalf("String() = %q, want 12 groups of 5", na.String())
	}

	wrong := []byte(nb.Digits)
	wrong[17] = '0' + (wrong[17]-'0'+1)%10
	if err := alice.Verify(ctx, "bob", string(wrong)); !errors.Is(err, client.ErrSafetyMismatch) {
		t.Fatalf("Verify with a wrong digit: %v, want ErrSafetyMismatch", err)
	}
	if cs, _ := alice.Contacts(ctx); cs[0].Verified {
		t.Fatal("a wrong number marked bob verified")
	}
	if err := alice.Verify(ctx, "bob", nb.String()); err != nil {
		t.Fatalf("Verify with bob's number: %v", err)
	}
	if cs, _ := alice.Contacts(ctx); cs[0].User != "bob" || !cs[0].Verified || cs[1].Verified {
		t.Fatalf("contacts = %+v", cs)
	}
	nc, _ := carol.SafetyNumber(ctx, "alice")
	if err := alice.VerifyQR(ctx, "carol", na.QR); !errors.Is(err, client.ErrSafetyMismatch) {
		t.Fatalf("VerifyQR with another contact's code: %v", err)
	}
	if err := alice.VerifyQR(ctx, "carol", nc.QR); err != nil {
		t.Fatalf("VerifyQR: %v", err)
	}
	if err := bob.VerifyQR(ctx, "alice", na.QR); err != nil {
		t.Fatalf("bob scanning alice's QR code: %v", err)
	}
}
