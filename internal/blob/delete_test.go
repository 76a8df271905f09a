package blob_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/blob"
	"parley.dev/internal/store/storetest"
)

// deletedMarker is a blob's "ciphertext" in the deletion tests: 16 bytes,
// repeated, so that any 64-byte-aligned piece of the blob holds two
// copies whole (needle).
var (
	deletedMarker = []byte("BLOB-MARKER-9e1f")
	needle        = bytes.Repeat(deletedMarker, 2)
)

// filesHolding lists the files under dir (relative names) whose bytes
// contain b.
func filesHolding(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, b) {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	return found
}

// TestDiskDeletedBlobLeavesNoFile: an unfinished blob's metadata holds
// the tail of its ciphertext (the running SHA-256 keeps up to 63 bytes not
// yet hashed). Once the blob is deleted its file is gone at once, and
// after the checkpoint interval its bytes are in no file of the store's
// directory: secure_delete zeroes the row in the database file and the
// truncating checkpoint removes the WAL's copies (fake time: a synctest
// bubble).
func TestDiskDeletedBlobLeavesNoFile(t *testing.T) {
	for _, expire := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			dir := t.TempDir()
			clock := storetest.NewClock(storetest.Epoch)
			s, err := blob.OpenDisk(context.Background(), dir, blob.Options{Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			id := blob.NewID()
			now := clock.Now()
			owner := addr.Address{User: "alice", Device: 1}
			if err := s.Create(ctx, blob.Blob{ID: id, Owner: owner, Size: 1000, Created: now, Expires: now.Add(time.Hour)}, blob.Limits{Quota: 1 << 20, MaxBlobs: 10}); err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat(deletedMarker, 7)[:100] // 36 bytes beyond the first SHA-256 block
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if got := filesHolding(t, dir, needle); !slices.Contains(got, "blobs.db-wal") || len(got) != 2 {
				t.Fatalf("the unfinished blob is in %v, want its file and the metadata's WAL (else this test proves nothing)", got)
			}
			if expire {
				clock.Advance(2 * time.Hour)
				if n, err := s.Expire(ctx, clock.Now(), 10); err != nil || n != 1 {
					t.Fatalf("Expire = %d, %v", n, err)
				}
			} else if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got := filesHolding(t, dir, needle); !slices.Equal(got, []string{"blobs.db-wal"}) {
				t.Fatalf("right after the deletion the blob is in %v, want only the WAL", got)
			}
			time.Sleep(blob.DefaultCheckpointInterval - time.Second)
			synctest.Wait()
			if got := filesHolding(t, dir, needle); len(got) == 0 {
				t.Fatal("gone before the interval: the checkpoint is not what removes it")
			}
			time.Sleep(time.Second)
			synctest.Wait()
			for _, b := range [][]byte{needle, id[:]} {
				if got := filesHolding(t, dir, b); len(got) > 0 {
					t.Errorf("%q still in %v after the checkpoint interval", b[:8], got)
				}
			}
		})
	}
}
