package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"parley.dev/internal/policy"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func signedPolicy(t *testing.T, key ed25519.PrivateKey, version uint64) []byte {
	t.Helper()
	doc, err := policy.Sign(&policy.Policy{Version: version, Issued: time.Unix(1_800_000_000, 0), MinPINDigits: 8}, key)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestPolicyPublishAndServe: no policy is CodeNoPolicy; one published
// while the relay runs is served to anyone, unauthenticated; an older or
// equal version and a malformed document are refused.
func TestPolicyPublishAndServe(t *testing.T) {
	r := startRelay(t)
	d := newDevice(t, r, "alice")
	if res, err := d.Raw("GET", wire.PathPolicy, nil, ""); err != nil || res.Code() != wire.CodeNoPolicy || res.Status != 404 {
		t.Fatalf("before publishing: %+v, %v", res, err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	pub := &server.Server{DataDir: r.Dir}
	ctx := context.Background()
	if v, err := pub.PublishPolicy(ctx, signedPolicy(t, key, 4)); err != nil || v != 4 {
		t.Fatalf("PublishPolicy = %d, %v", v, err)
	}
	for _, v := range []uint64{4, 3} {
		if _, err := pub.PublishPolicy(ctx, signedPolicy(t, key, v)); !errors.Is(err, server.ErrPolicyStale) {
			t.Errorf("version %d again: %v", v, err)
		}
	}
	if _, err := pub.PublishPolicy(ctx, []byte("not a policy")); !errors.Is(err, policy.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	res, err := d.Raw("GET", wire.PathPolicy, nil, "")
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	got, err := policy.Verify(res.Frame.(*wire.Policy).Doc, key.Public().(ed25519.PublicKey))
	if err != nil || got.Version != 4 || got.MinPINDigits != 8 {
		t.Fatalf("served %+v, %v", got, err)
	}
}

// TestSubmitTTL: an envelope with a TTL shorter than the mailbox's expires
// at its TTL; a longer TTL is capped at the mailbox's.
func TestSubmitTTL(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) { s.MailboxTTL = time.Hour })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	drain(t, bws)
	for i, ttl := range []uint32{600, 7200, 0} {
		if err := bws.Send(&wire.Submit{To: alice.Addr, ID: msgID(i + 1), Payload: []byte("x"), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
		if res := next[*wire.SubmitResult](t, bws); res.Code != wire.CodeOK {
			t.Fatalf("submit: %+v", res)
		}
	}
	clk.Advance(11 * time.Minute)
	if got := drain(t, alice.Dial(t)); len(got) != 2 || got[0].ID != msgID(2) || got[1].ID != msgID(3) {
		t.Fatalf("after 11 minutes alice got %v, want messages 2 and 3", got)
	}
	clk.Advance(50 * time.Minute)
	if got := drain(t, alice.Dial(t)); len(got) != 0 {
		t.Fatalf("after 61 minutes alice got %v, want none (the 2 h TTL is capped at the mailbox's hour)", got)
	}
}
