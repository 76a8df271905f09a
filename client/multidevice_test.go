package client_test

import (
	"context"
	"errors"
	"testing"

	"parley.dev/client"
	"parley.dev/server/servertest"
)

// link adds a second device to the user registered on first.
func link(t *testing.T, r *servertest.Relay, first *client.Client, name string) *client.Client {
	t.Helper()
	ctx := context.Background()
	dev := newClient(t, r, name)
	req, err := dev.LinkRequest(ctx)
	if err != nil {
		t.Fatalf("LinkRequest: %v", err)
	}
	approval, err := first.ApproveLink(ctx, req)
	if err != nil {
		t.Fatalf("ApproveLink: %v", err)
	}
	a, _ := first.Address()
	if _, err := dev.Register(ctx, a.User, client.RegisterOptions{Link: approval}); err != nil {
		t.Fatalf("Register with a link: %v", err)
	}
	return dev
}

func TestMultipleDevices(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "before bob's second device")
	syncNow(t, bob)

	bob2 := link(t, r, bob, "bob2")
	if a, _ := bob2.Address(); a.String() != "bob/2" {
		t.Fatalf("linked device is %v", a)
	}
	alice2 := link(t, r, alice, "alice2")

	// Both of bob's devices receive; alice's second device gets a copy.
	send(t, alice, "bob", "to both of bob's devices")
	wantTexts(t, "bob/1", texts(syncNow(t, bob), client.EventMessage), "to both of bob's devices")
	wantTexts(t, "bob/2", texts(syncNow(t, bob2), client.EventMessage), "to both of bob's devices")
	evs := syncNow(t, alice2)
	ms := kinds(evs, client.EventMessage)
	if len(ms) != 1 || ms[0].Message.Text != "to both of bob's devices" || !ms[0].Message.Outgoing || ms[0].Message.Contact != "bob" {
		t.Fatalf("alice/2's events = %+v, want one outgoing copy in the conversation with bob", evs)
	}

	// Bob answers from his second device; his first device gets a copy,
	// and both of alice's devices the message.
	send(t, bob2, "alice", "from bob's second device")
	for _, c := range []*client.Client{alice, alice2} {
		wantTexts(t, "alice's devices", texts(syncNow(t, c), client.EventMessage), "from bob's second device")
	}
	wantTexts(t, "bob/1's copy", texts(syncNow(t, bob), client.EventMessage), "from bob's second device")
	wantTexts(t, "bob/1's history", historyTexts(t, bob, "alice"),
		"before bob's second device", "to both of bob's devices", "from bob's second device")
	wantTexts(t, "alice/2's history", historyTexts(t, alice2, "bob"), "to both of bob's devices", "from bob's second device")

	// The same identity on every device: the safety number does not change.
	n1, _ := alice.SafetyNumber(ctx, "bob")
	n2, _ := alice2.SafetyNumber(ctx, "bob")
	nb, _ := bob2.SafetyNumber(ctx, "alice")
	if n1.Digits != n2.Digits || n1.Digits != nb.Digits {
		t.Fatal("safety numbers differ between devices of the same users")
	}
	if evs := syncNow(t, alice); len(kinds(evs, client.EventIdentityChanged)) != 0 {
		t.Fatalf("a linked device looked like an identity change: %+v", evs)
	}
}

func TestLinkRefusals(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	bob, carol := register(t, r, "bob"), register(t, r, "carol")
	dev := newClient(t, r, "dev")
	other := newClient(t, r, "other")
	if _, err := dev.Register(ctx, "bob", client.RegisterOptions{Link: "parley-link-1:AQ"}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("Register with a link but no request: %v, want ErrInvalid", err)
	}
	req, _ := dev.LinkRequest(ctx)
	otherReq, _ := other.LinkRequest(ctx)
	forOther, _ := bob.ApproveLink(ctx, otherReq)
	if _, err := dev.Register(ctx, "bob", client.RegisterOptions{Link: forOther}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("an approval for another device's request: %v, want ErrInvalid", err)
	}
	fromCarol, _ := carol.ApproveLink(ctx, req)
	if _, err := dev.Register(ctx, "bob", client.RegisterOptions{Link: fromCarol}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("carol's approval used for bob: %v, want ErrInvalid", err)
	}
	for _, bad := range []string{"", "hello", "parley-link-request-1:AAAA", req + "x"} {
		if _, err := bob.ApproveLink(ctx, bad); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("ApproveLink(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := bob.LinkRequest(ctx); !errors.Is(err, client.ErrRegistered) {
		t.Fatalf("LinkRequest on a registered device: %v", err)
	}
}

func TestRevokeDevice(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bob2 := link(t, r, bob, "bob2")
	devs, err := bob.Devices(ctx)
	if err != nil || len(devs) != 2 || devs[1].String() != "bob/2" {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
	if err := bob.RevokeDevice(ctx, 1); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("revoking oneself: %v, want ErrInvalid", err)
	}
	if err := bob.RevokeDevice(ctx, 2); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	if _, err := bob2.Sync(ctx); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("the revoked device's Sync: %v, want ErrRevoked", err)
	}
	if devs, _ := bob.Devices(ctx); len(devs) != 1 {
		t.Fatalf("Devices after revoking = %v", devs)
	}
	send(t, alice, "bob", "only to bob/1")
	wantTexts(t, "bob/1", texts(syncNow(t, bob), client.EventMessage), "only to bob/1")
}
