package client_test

import (
	"context"
	"errors"
	"testing"

	"parley.dev/client"
	"parley.dev/server"
)

// TestSendOutcomeIsExact: once Send has stored a message it says exactly
// what became of it. The relay refusing it for now (bob's mailbox is
// full) or being unreachable gives ErrQueued (with the cause): the message
// waits in the outbox and goes out by itself on the next Sync, so the
// caller must not send it again. A message the relay took is nil, one
// that can never be sent is not ErrQueued.
func TestSendOutcomeIsExact(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(s *server.Server) { s.MailboxCap = 1 })
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if _, err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	status := func(id client.MessageID) client.Status {
		h, _ := alice.History(ctx, "bob")
		for _, m := range h {
			if m.ID == id {
				return m.Status
			}
		}
		return 0
	}

	id, err := alice.Send(ctx, "bob", "two (bob's mailbox is full)")
	var re *client.RelayError
	if !errors.Is(err, client.ErrQueued) || !errors.As(err, &re) || re.Code != "mailbox-full" {
		t.Fatalf("Send to a full mailbox: %v, want ErrQueued caused by mailbox-full", err)
	}
	if id == (client.MessageID{}) || status(id) != client.StatusQueued {
		t.Fatalf("the refused message is %v, want queued", status(id))
	}

	r.Stop(t)
	id2, err := alice.Send(ctx, "bob", "three (the relay is down)")
	if !errors.Is(err, client.ErrQueued) || !errors.Is(err, client.ErrUnreachable) || status(id2) != client.StatusQueued {
		t.Fatalf("Send while the relay is down: %v (%v), want ErrQueued and ErrUnreachable", err, status(id2))
	}

	// Both go out by themselves as the relay comes back and bob's mailbox
	// empties: nobody sends them again.
	r.Restart(t)
	var got []string
	for range 3 {
		got = append(got, texts(syncNow(t, bob), client.EventMessage)...)
		syncNow(t, alice)
	}
	wantTexts(t, "bob's messages", got, "one", "two (bob's mailbox is full)", "three (the relay is down)")
	if status(id) != client.StatusSent || status(id2) != client.StatusSent {
		t.Fatalf("after the syncs: %v, %v, want sent", status(id), status(id2))
	}

	if _, err := alice.Send(ctx, "nobody", "to no one"); errors.Is(err, client.ErrQueued) || !errors.Is(err, client.ErrUnknownUser) {
		t.Fatalf("Send to an unknown user: %v, want ErrUnknownUser, not ErrQueued", err)
	}
}
