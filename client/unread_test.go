package client_test

import (
	"context"
	"testing"
	"time"

	"parley.dev/client"
)

// TestUnreadMarksOfABatch: the app dies right after a batch of three
// messages is stored (one vault transaction, one mark record). The next
// Sync reports all three, in order, once; then no mark is left, and
// nothing reports them again.
func TestUnreadMarksOfABatch(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	want := []string{"one", "two", "three"}
	if err := sendBurst(context.Background(), alice, "bob", want); err != nil {
		t.Fatal(err)
	}
	client.CrashAfterStore(bob, 1)
	if evs, err := bob.Sync(context.Background()); err == nil || len(evs) != 0 {
		t.Fatalf("Sync that crashed after the store: %+v, %v", evs, err)
	}
	bob = reopen(t, bob)
	if n, err := client.UnreadRecords(bob); err != nil || n != 1 {
		t.Fatalf("after a crash: %d unread records (%v), want the batch's one", n, err)
	}
	wantTexts(t, "the next Sync", texts(syncNow(t, bob), client.EventMessage), want...)
	if n, err := client.UnreadRecords(bob); err != nil || n != 0 {
		t.Fatalf("after reporting: %d unread records (%v), want none", n, err)
	}
	if evs := syncNow(t, bob); len(evs) != 0 {
		t.Fatalf("reported again: %+v", evs)
	}
}

// TestLegacyUnreadMark: a mark written one record per message, as vaults
// did before, is reported and cleared like a batch's.
func TestLegacyUnreadMark(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "old mark")
	evs := syncNow(t, bob)
	if len(evs) != 1 || evs[0].Message == nil {
		t.Fatalf("first Sync: %+v", evs)
	}
	if err := client.MarkUnreadLegacy(bob, evs[0].Message.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	bob = reopen(t, bob)
	wantTexts(t, "Sync with a legacy mark", texts(syncNow(t, bob), client.EventMessage), "old mark")
	if n, err := client.UnreadRecords(bob); err != nil || n != 0 {
		t.Fatalf("after reporting: %d unread records (%v), want none", n, err)
	}
}

// TestSweepClearsUnreadMark: a disappearing message stored but never
// reported (the app died) leaves no unread mark behind once its timer
// deletes it, and is never reported.
func TestSweepClearsUnreadMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock, alice, bob := timedPair(t, day)
	syncNow(t, bob)
	send(t, alice, "bob", "gone in a day")
	client.CrashAfterStore(bob, 1)
	if _, err := bob.Sync(ctx); err == nil {
		t.Fatal("Sync that crashed after the store succeeded")
	}
	bob = reopen(t, bob, clocked(clock))
	if n, err := client.UnreadRecords(bob); err != nil || n != 1 {
		t.Fatalf("after the crash: %d unread records (%v), want 1", n, err)
	}
	clock.Advance(day + time.Second)
	wantTexts(t, "bob's history after a day", historyTexts(t, bob, "alice"))
	if n, err := client.UnreadRecords(bob); err != nil || n != 0 {
		t.Fatalf("after the timer: %d unread records (%v), want none", n, err)
	}
	if got := texts(syncNow(t, bob), client.EventMessage); len(got) != 0 {
		t.Fatalf("reported after deletion: %q", got)
	}
}
