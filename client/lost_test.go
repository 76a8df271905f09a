package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/session"
	"parley.dev/internal/wire"
)

// TestLostMessageIsVisible: alice's vault is rolled back to a copy taken
// before her last message, and she writes again: her new message reuses
// the ratchet position of the one bob already read, so bob cannot decrypt
// it. Bob is told (EventError, ErrUndecryptable, naming alice and the
// message ID) instead of a silent drop, nothing is stored, and a true
// duplicate (the same envelope again) is still dropped silently.
func TestLostMessageIsVisible(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "hello")
	syncNow(t, bob)
	send(t, bob, "alice", "hi")
	syncNow(t, alice)

	// A copy of alice's vault, taken while it is closed.
	home := alice.Home
	alice.Close()
	backup := t.TempDir() + "/backup"
	if err := os.CopyFS(backup, os.DirFS(home)); err != nil {
		t.Fatal(err)
	}
	alice = reopen(t, alice)
	rec := record(t, alice)
	send(t, alice, "bob", "read by bob")
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "read by bob")

	// Roll alice back and let her write again.
	alice.Close()
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(home, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	alice = reopen(t, alice)
	lost := send(t, alice, "bob", "written after the rollback")
	evs := syncNow(t, bob)
	errs := kinds(evs, client.EventError)
	if len(kinds(evs, client.EventMessage)) != 0 || len(errs) != 1 {
		t.Fatalf("bob's events = %+v, want one error", evs)
	}
	e := errs[0]
	if !errors.Is(e.Err, client.ErrUndecryptable) || !errors.Is(e.Err, client.ErrUnreadable) {
		t.Fatalf("error = %v, want ErrUndecryptable (an ErrUnreadable)", e.Err)
	}
	if e.Message == nil || e.Message.ID != lost || e.Message.Contact != "alice" || e.Message.Outgoing {
		t.Fatalf("error names message %+v, want alice's %v", e.Message, lost)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "hello", "hi", "read by bob")

	// The envelope bob read, delivered again: a true duplicate, silent.
	replay(t, alice, rec.all())
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("a true duplicate produced %+v", evs)
	}
}

// TestMessageWithEvictedKeyIsVisible: bob receives alice's message 2000
// first (keeping 2,000 skipped keys, the most a session stores), then
// message 2002, which evicts the oldest skipped key, message 0's. When
// message 0 finally arrives it cannot be decrypted: bob is told, naming
// it, instead of dropping it in silence as a duplicate.
func TestMessageWithEvictedKeyIsVisible(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bobAddr, _ := bob.Address()
	s, err := client.StartSession(ctx, alice, bobAddr)
	if err != nil {
		t.Fatal(err)
	}
	envelope := func(i int) (*wire.Submit, addr.MessageID) {
		id := addr.NewMessageID()
		return crafted(t, s, bobAddr, id, fmt.Sprintf("message %d", i)), id
	}
	const n = 2003 // messages 0..2002 of one sending chain
	subs := make([]*wire.Submit, n)
	ids := make([]addr.MessageID, n)
	for i := range subs {
		subs[i], ids[i] = envelope(i)
	}
	for _, i := range []int{2000, 2002} {
		replay(t, alice, subs[i:i+1])
		wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), fmt.Sprintf("message %d", i))
	}
	replay(t, alice, subs[1:2]) // its skipped key is still there
	wantTexts(t, "message 1", texts(syncNow(t, bob), client.EventMessage), "message 1")
	replay(t, alice, subs[0:1])
	evs := syncNow(t, bob)
	errs := kinds(evs, client.EventError)
	if len(evs) != 1 || len(errs) != 1 || !errors.Is(errs[0].Err, client.ErrUndecryptable) ||
		errs[0].Message == nil || errs[0].Message.ID != client.MessageID(ids[0]) {
		t.Fatalf("message 0 with its key evicted: events %+v, want one ErrUndecryptable naming it", evs)
	}
}

// TestReusedMessageIDIsDropped: a contact sends a second message under
// the ID of one bob has stored (a valid ratchet message with new text, as
// a buggy or hostile sender could). It is dropped as a duplicate: no
// event, and the stored message keeps its text; a message ID cannot be
// used to rewrite history.
func TestReusedMessageIDIsDropped(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bobAddr, _ := bob.Address()
	s, err := client.StartSession(ctx, alice, bobAddr)
	if err != nil {
		t.Fatal(err)
	}
	id := addr.NewMessageID()
	first, second := crafted(t, s, bobAddr, id, "the original"), crafted(t, s, bobAddr, id, "a rewrite")
	replay(t, alice, []*wire.Submit{first})
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "the original")
	replay(t, alice, []*wire.Submit{second})
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("a reused message ID produced %+v", evs)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "the original")
}

// crafted is a text message with ID id, encrypted on s, as an envelope
// for to: what a sender that builds its own messages submits.
func crafted(t *testing.T, s *session.Session, to client.Address, id addr.MessageID, text string) *wire.Submit {
	t.Helper()
	pt, err := content.Marshal(&content.Message{Kind: content.KindText, ID: id, Sent: time.Now(), Text: text})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := s.Encrypt(pt)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Submit{To: addr.Address{User: addr.UserID(to.User), Device: addr.DeviceID(to.Device)}, ID: id, Payload: ct}
}
