package client_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/session"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// testClock is a settable clock for a Client.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// clocked makes a Client use clock.
func clocked(clock *testClock) func(*client.Client) {
	return func(c *client.Client) { client.SetClock(c, clock.Now) }
}

// TestSignedPreKeyRotation: the signed prekey is replaced weekly; a first
// message written to the old one still decrypts, and old ones are
// forgotten after the relay's TTL.
func TestSignedPreKeyRotation(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	clock := &testClock{now: time.Now()}
	bob := register(t, r, "bob", clocked(clock))
	carol, dave := register(t, r, "carol"), register(t, r, "dave")
	send(t, carol, "bob", "written to the first signed prekey")

	clock.Advance(8 * 24 * time.Hour)
	wantTexts(t, "after the rotation", texts(syncNow(t, bob), client.EventMessage), "written to the first signed prekey")
	if ids := client.SignedPreKeyIDs(bob); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("signed prekeys after a week = %v, want [1 2]", ids)
	}
	send(t, dave, "bob", "written to the second")
	wantTexts(t, "dave's message", texts(syncNow(t, bob), client.EventMessage), "written to the second")

	clock.Advance(40 * 24 * time.Hour)
	syncNow(t, bob)
	if ids := client.SignedPreKeyIDs(bob); !slices.Equal(ids, []uint32{2, 3}) {
		t.Fatalf("signed prekeys 48 days in = %v, want [2 3]", ids)
	}
}

// TestExpiryNotice: a message the recipient never fetched expires at the
// relay, and the sender is told.
func TestExpiryNotice(t *testing.T) {
	t.Parallel()
	clock := servertest.NewClock(time.Now())
	r := startRelay(t, func(s *server.Server) {
		s.Now = clock.Now
		s.MailboxTTL = time.Hour
		s.SweepInterval = 10 * time.Millisecond
	})
	alice := register(t, r, "alice")
	register(t, r, "bob")
	id := send(t, alice, "bob", "never fetched")
	events, _ := listen(t, alice)
	next(t, events, client.EventSynced)
	clock.Advance(2 * time.Hour)
	e := next(t, events, client.EventExpired)
	if e.Message.ID != id || e.Message.Text != "never fetched" || e.Message.Status != client.StatusExpired {
		t.Fatalf("expiry event = %+v", e.Message)
	}
	h, _ := alice.History(context.Background(), "bob")
	if h[0].Status != client.StatusExpired {
		t.Fatalf("history status = %v", h[0].Status)
	}
}

// TestUsedOneTimePreKeysDeleted: once a first message that used a one-time
// X25519 prekey and a one-time ML-KEM prekey has decrypted, the secrets of
// both are gone from the recipient's vault (forward secrecy of the first
// message, and no second session on them), while an unused one stays.
// The first message's own header says which prekeys it used.
func TestUsedOneTimePreKeysDeleted(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	rec := record(t, alice)
	send(t, alice, "bob", "first")
	info, err := session.Peek(rec.all()[0].Payload)
	if err != nil || info.Header == nil {
		t.Fatalf("first envelope: %v, %+v", err, info)
	}
	used := info.Header
	if used.OneTimePreKey == 0 || used.KEMPreKey == 0 {
		t.Fatalf("first message used one-time prekeys %d and %d; want both", used.OneTimePreKey, used.KEMPreKey)
	}
	unused := uint32(1) // bob's one-time prekeys are 1..testOneTimePreKeys; one bundle was taken
	if uint32(used.OneTimePreKey) == unused {
		unused = 2
	}
	if ec, kem := client.PreKeySecrets(bob, uint32(used.OneTimePreKey), uint32(used.KEMPreKey)); !ec || !kem {
		t.Fatalf("before the message bob holds the secrets: %v %v, want both", ec, kem)
	}
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first")
	if ec, kem := client.PreKeySecrets(bob, uint32(used.OneTimePreKey), uint32(used.KEMPreKey)); ec || kem {
		t.Fatalf("after the message bob still holds the used one-time secrets: X25519 %v, ML-KEM %v", ec, kem)
	}
	if ec, _ := client.PreKeySecrets(bob, unused, 0); !ec {
		t.Fatalf("an unused one-time prekey (%d) was deleted too", unused)
	}
	bob = reopen(t, bob)
	if ec, kem := client.PreKeySecrets(bob, uint32(used.OneTimePreKey), uint32(used.KEMPreKey)); ec || kem {
		t.Fatalf("after a restart bob holds the used one-time secrets: %v %v", ec, kem)
	}
}
