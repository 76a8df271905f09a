package client_test

// The queue of relay blobs to delete (blobdel): a blob creation the quota
// refuses while blobs stay queued waits for them instead of failing.

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"parley.dev/client"
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
	r := startRelay(t, func(s *server.Server) { s.BlobQuota = 210_000 })
	alice := register(t, r, "alice")
	register(t, r, "bob")
	// 12 queued blobs of 15,000 bytes: one round deletes 8 of them, after
	// which the 60,000 bytes left and the file's 160,000 exceed the quota.
	if err := client.QueueNewBlobs(ctx, alice, 12, 15_000); err != nil {
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
