package client_test

// The queue of relay blobs to delete (blobdel): a blob creation the quota
// refuses while blobs stay queued waits for them instead of failing.

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"parley.dev/client"
	"parley.dev/internal/wire"
	"parley.dev/server"
)

// TestLongDeletionQueueDoesNotFailAFile: a file the quota refuses while
// more blobs are queued for deletion than one round deletes waits
// (ErrQueued, StatusUploading) instead of failing for good, and the next
// Sync deletes the rest and sends it. (Found by stop 29's review: the file
// was marked failed with ErrQuota whenever the queued deletions that the
// refusal ran did not free enough, or stopped at a refused deletion.)
func TestLongDeletionQueueDoesNotFailAFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := quotaPair(t, 210_000)
	// 12 queued blobs of 15,000 bytes: one round deletes 8 of them, after
	// which the 60,000 bytes left and the file's 160,000 exceed the quota.
	if err := client.NewRelayBlobs(ctx, alice, 12, 15_000, true); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a long talk "), 160_000/12)
	id, err := alice.SendFileFrom(ctx, "bob", bytes.NewReader(data), client.FileOptions{Name: "talk.ogg"})
	if !errors.Is(err, client.ErrQueued) || errors.Is(err, client.ErrQuota) {
		t.Fatalf("SendFileFrom over the quota while 4 blobs stay queued for deletion: %v; want ErrQueued, not ErrQuota", err)
	}
	if st := statusOf(t, alice, "bob", id); st != client.StatusUploading {
		t.Fatalf("the file's status: %v, want StatusUploading", st)
	}
	syncNow(t, alice)
	if st := statusOf(t, alice, "bob", id); st != client.StatusSent {
		t.Errorf("after a Sync deleted the rest of the queue: status %v, want StatusSent", st)
	}
	if n, err := client.QueuedBlobDeletes(alice); err != nil || n != 0 {
		t.Errorf("after the Sync: %d blobs still queued for deletion (%v), want none", n, err)
	}
}

// TestQuotaWaitEnds: waiting for queued deletions ends. A file that stays
// over the quota once every queued blob is deleted (another unfinished
// upload holds the space) waits while the queue shrinks, then fails for
// good with ErrQuota (StatusFailed, an EventError), leaving no record.
func TestQuotaWaitEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := quotaPair(t, 210_000)
	// 120,000 bytes held by a blob nobody deletes, and 12 queued blobs of
	// 7,500: the file's 100,000 fit neither after one run of the queue
	// nor after all of it.
	if err := client.NewRelayBlobs(ctx, alice, 1, 120_000, false); err != nil {
		t.Fatal(err)
	}
	if err := client.NewRelayBlobs(ctx, alice, 12, 7_500, true); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a long talk "), 100_000/12)
	id, err := alice.SendFileFrom(ctx, "bob", bytes.NewReader(data), client.FileOptions{Name: "talk.ogg"})
	if !errors.Is(err, client.ErrQueued) {
		t.Fatalf("SendFileFrom over the quota while 4 blobs stay queued for deletion: %v; want ErrQueued", err)
	}
	evs := syncNow(t, alice)
	if !slices.ContainsFunc(evs, func(e client.Event) bool { return errors.Is(e.Err, client.ErrQuota) }) {
		t.Errorf("the Sync that emptied the queue: no ErrQuota event in %v", evs)
	}
	if st := statusOf(t, alice, "bob", id); st != client.StatusFailed {
		t.Errorf("the file's status once the queue is empty and the quota still refuses: %v, want StatusFailed", st)
	}
	if n, err := client.PendingUploads(alice); err != nil || n != 0 {
		t.Errorf("alice keeps %d upload records (%v), want none", n, err)
	}
	if n, err := client.QueuedBlobDeletes(alice); err != nil || n != 0 {
		t.Errorf("%d blobs still queued for deletion (%v), want none", n, err)
	}
}

// TestDeletionRefusedForNowWaits: a file the quota refuses while the
// relay refuses the queued deletion for now (a rate limit) waits
// (ErrQueued) instead of failing, and the next Sync, the limit passed,
// deletes the blob and sends the file.
func TestDeletionRefusedForNowWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := quotaPair(t, 200_000)
	if err := client.NewRelayBlobs(ctx, alice, 1, 150_000, true); err != nil {
		t.Fatal(err)
	}
	limited := 1
	err := client.RefuseBlobDeletes(alice, func([wire.BlobIDLen]byte) (wire.Code, bool) {
		limited--
		return wire.CodeRateLimited, limited >= 0
	})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a long talk "), 100_000/12)
	id, err := alice.SendFileFrom(ctx, "bob", bytes.NewReader(data), client.FileOptions{Name: "talk.ogg"})
	if !errors.Is(err, client.ErrQueued) || errors.Is(err, client.ErrQuota) {
		t.Fatalf("SendFileFrom over the quota while the queued deletion is rate-limited: %v; want ErrQueued, not ErrQuota", err)
	}
	syncNow(t, alice)
	if st := statusOf(t, alice, "bob", id); st != client.StatusSent {
		t.Errorf("after a Sync the rate limit let through: status %v, want StatusSent", st)
	}
}

// TestUndeletableBlobHoldsNothingUp: a queued blob the relay refuses to
// delete (an internal error, every time) stays queued without holding up
// the rest of the queue, so a file that the other deletions make room for
// is sent; and a file for which no deletion can make room fails with
// ErrQuota at once rather than waiting for ever on that blob.
func TestUndeletableBlobHoldsNothingUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := quotaPair(t, 200_000)
	var stuck [wire.BlobIDLen]byte // all zeros: the first in the queue's order
	if err := client.QueueBlobDelete(alice, stuck); err != nil {
		t.Fatal(err)
	}
	if err := client.NewRelayBlobs(ctx, alice, 1, 150_000, true); err != nil {
		t.Fatal(err)
	}
	err := client.RefuseBlobDeletes(alice, func(id [wire.BlobIDLen]byte) (wire.Code, bool) {
		return wire.CodeInternal, id == stuck
	})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a long talk "), 100_000/12)
	send := func() (client.MessageID, error) {
		return alice.SendFileFrom(ctx, "bob", bytes.NewReader(data), client.FileOptions{Name: "talk.ogg"})
	}
	if _, err := send(); err != nil {
		t.Fatalf("SendFileFrom, room made by deleting the second queued blob: %v; want it sent", err)
	}
	if n, err := client.QueuedBlobDeletes(alice); err != nil || n != 1 {
		t.Errorf("%d blobs queued for deletion (%v), want the undeletable one", n, err)
	}
	id, err := send() // the first file's 100,000 bytes and this one's exceed the quota
	if !errors.Is(err, client.ErrQuota) || errors.Is(err, client.ErrQueued) {
		t.Fatalf("SendFileFrom over the quota with only an undeletable blob queued: %v; want ErrQuota", err)
	}
	if st := statusOf(t, alice, "bob", id); st != client.StatusFailed {
		t.Errorf("its status: %v, want StatusFailed", st)
	}
}

// quotaPair registers alice and bob at a relay with the given blob quota
// and returns alice.
func quotaPair(t *testing.T, quota int64) *client.Client {
	t.Helper()
	r := startRelay(t, func(s *server.Server) { s.BlobQuota = quota })
	register(t, r, "bob")
	return register(t, r, "alice")
}
