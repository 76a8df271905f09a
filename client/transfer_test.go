package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// statusOf returns the status of message id in c's conversation with user.
func statusOf(t *testing.T, c *client.Client, user string, id client.MessageID) client.Status {
	t.Helper()
	h, err := c.History(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h {
		if m.ID == id {
			return m.Status
		}
	}
	return 0
}

// TestSendFileOutcomeIsExact: SendFile says where a stored file stands,
// as Send does. The relay down (at once, without waiting for a network
// that is not there), or refusing uploads for now (a rate limit), or the
// recipient's mailbox full: ErrQueued with its cause, and the file goes
// out by itself with the next Sync, once. A file the relay will never
// take is not queued.
func TestSendFileOutcomeIsExact(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(s *server.Server) {
		s.MailboxCap = 1
		s.BlobUploadRate = server.Rate{Burst: 7, Per: time.Hour}
	})
	ctx := context.Background()
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "fills bob's mailbox")

	path, data := randomFile(t, 300_000) // create, 2 parts, finish: 4 upload requests
	id, err := alice.SendFile(ctx, "bob", path, client.FileOptions{})
	var re *client.RelayError
	if !errors.Is(err, client.ErrQueued) || !errors.As(err, &re) || re.Code != "mailbox-full" || statusOf(t, alice, "bob", id) != client.StatusQueued {
		t.Fatalf("SendFile to a full mailbox: %v (%v), want ErrQueued caused by mailbox-full", err, statusOf(t, alice, "bob", id))
	}
	_, err = alice.SendFile(ctx, "bob", path, client.FileOptions{}) // 3 requests left: the upload is cut
	if !errors.Is(err, client.ErrQueued) || !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("SendFile beyond the upload rate: %v, want ErrQueued caused by the rate limit", err)
	}

	r.Stop(t)
	start := time.Now()
	id3, err := alice.SendFile(ctx, "bob", path, client.FileOptions{})
	if !errors.Is(err, client.ErrQueued) || !errors.Is(err, client.ErrUnreachable) || statusOf(t, alice, "bob", id3) != client.StatusUploading {
		t.Fatalf("SendFile while the relay is down: %v (%v), want ErrQueued, ErrUnreachable, uploading", err, statusOf(t, alice, "bob", id3))
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("SendFile took %v to find the relay down: it waited for a network that is not there", took)
	}

	// Everything goes out as the relay comes back (with a fresh rate) and
	// bob's mailbox empties: nobody sends anything again.
	r.Restart(t)
	var got []client.MessageID
	for range 4 {
		for _, e := range syncNow(t, bob) {
			if e.Kind == client.EventMessage && e.Message.Attachment != nil {
				got = append(got, e.Message.ID)
				if b := saved(t, bob, e.Message.ID); !bytes.Equal(b, data) {
					t.Fatal("a queued file arrived different")
				}
			}
		}
		syncNow(t, alice)
	}
	if len(got) != 3 || got[0] != id || got[2] != id3 {
		t.Fatalf("bob received files %v, want the three once each, in order", got)
	}
	if statusOf(t, alice, "bob", id) != client.StatusSent || statusOf(t, alice, "bob", id3) != client.StatusSent {
		t.Fatal("the queued files are not marked sent")
	}
}

// TestDownloadResumesAfterDrops: a download whose connection drops again
// and again resumes each time at its last checkpoint, within the same
// call, and completes byte-identical (from the start each time it never
// would: every connection is cut before the end).
func TestDownloadResumesAfterDrops(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	proxy := startCutProxy(t, r.Addr, 6<<20)
	proxy.down = true
	alice := register(t, r, "alice")
	bob := viaProxy(t, register(t, r, "bob"), proxy)
	path, data := randomFile(t, 10<<20)
	id, err := alice.SendFile(context.Background(), "bob", path, client.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true) // for every connection from now on
	syncNow(t, bob)
	if err := bob.Download(context.Background(), id, nil); err != nil {
		t.Fatalf("Download over a connection cut every 6 MiB: %v", err)
	}
	if proxy.cuts.Load() < 2 {
		t.Fatalf("%d cuts: the test did not exercise resuming", proxy.cuts.Load())
	}
	if got := saved(t, bob, id); !bytes.Equal(got, data) {
		t.Fatal("the resumed download differs")
	}
}

// TestDownloadResumesAfterRestart: the app is killed in the middle of a
// download; restarted, the download resumes at its last checkpoint (the
// relay serves well under the whole file again) and completes
// byte-identical.
func TestDownloadResumesAfterRestart(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	proxy := startCutProxy(t, r.Addr, 6<<20)
	proxy.down = true
	alice := register(t, r, "alice")
	bob := viaProxy(t, register(t, r, "bob"), proxy)
	path, data := randomFile(t, 10<<20)
	id, err := alice.SendFile(context.Background(), "bob", path, client.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true) // for every connection from now on
	syncNow(t, bob)
	ctx, cancel := context.WithCancel(context.Background())
	err = bob.Download(ctx, id, func(done, total int64) {
		if proxy.cuts.Load() > 0 && done > 5<<20 {
			cancel() // killed after the first drop, past the 4 MiB checkpoint
		}
	})
	cancel()
	if err == nil || proxy.cuts.Load() == 0 {
		t.Fatalf("download through a cutting proxy: %v, %d cuts", err, proxy.cuts.Load())
	}
	proxy.armed.Store(false)
	bob = viaProxy(t, bob, proxy)
	before := proxy.served.Load()
	var buf bytes.Buffer
	if err := bob.SaveAttachment(context.Background(), id, &buf, nil); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("the resumed download differs")
	}
	if again := proxy.served.Load() - before; again > int64(len(data))-3<<20 {
		t.Fatalf("the relay served %d bytes after the restart, for a file of %d: it started over", again, len(data))
	}
}

// TestListenTransfers: while Listen runs, received attachments below
// AutoDownload are downloaded in the background (EventDownloaded, after
// their EventMessage; larger ones wait for Download), and an upload
// interrupted by a relay outage resumes by itself once Listen reconnects.
func TestListenTransfers(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bob.AutoDownload = 100_000
	client.SetBackoff(alice, 10*time.Millisecond)
	events, _ := listen(t, bob)
	next(t, events, client.EventSynced)

	small, smallData := randomFile(t, 60_000)
	big, _ := randomFile(t, 200_000)
	ctx := context.Background()
	smallID, err := alice.SendFile(ctx, "bob", small, client.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bigID, err := alice.SendFile(ctx, "bob", big, client.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := next(t, events, client.EventDownloaded)
	if e.Message.ID != smallID || !e.Message.Attachment.Saved {
		t.Fatalf("EventDownloaded for %v (saved %v), want the small file", e.Message.ID, e.Message.Attachment.Saved)
	}
	rd, err := bob.OpenAttachment(smallID)
	if err != nil {
		t.Fatalf("OpenAttachment after EventDownloaded: %v", err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if !bytes.Equal(got, smallData) {
		t.Fatal("the automatic download differs")
	}
	if _, err := bob.OpenAttachment(bigID); !errors.Is(err, client.ErrNoAttachment) {
		t.Fatalf("the file above AutoDownload: %v, want it not downloaded", err)
	}

	// alice's upload meets a relay outage; her Listen finishes it
	r.Stop(t)
	late, lateData := randomFile(t, 70_000)
	lateID, err := alice.SendFile(ctx, "bob", late, client.FileOptions{})
	if !errors.Is(err, client.ErrQueued) {
		t.Fatalf("SendFile while the relay is down: %v", err)
	}
	r.Restart(t)
	aliceEvents, _ := listen(t, alice)
	for next(t, aliceEvents, client.EventSent).Message.ID != lateID { // SendFile's earlier reports first
	}
	for {
		e := next(t, events, client.EventDownloaded)
		if e.Message.ID == lateID {
			break
		}
	}
	var buf bytes.Buffer
	if err := bob.SaveAttachment(ctx, lateID, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), lateData) {
		t.Fatalf("the file uploaded by Listen: %v", err)
	}
}

// blobFile returns the path of the relay's only blob file.
func blobFile(t *testing.T, r *servertest.Relay) string {
	t.Helper()
	var found []string
	filepath.WalkDir(filepath.Join(r.Dir, server.BlobsDir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("the relay holds %d blob files, want 1", len(found))
	}
	return found[0]
}

// TestBadBlobsRefused: a blob the relay altered (one bit of a middle
// chunk) is refused, ErrAttachmentCorrupt, and nothing of it is kept: no
// file to open, the automatic download reports it once (an EventError
// naming the message) and does not try again. A blob the relay no longer
// has (expired) is ErrAttachmentGone.
func TestBadBlobsRefused(t *testing.T) {
	t.Parallel()
	clk := servertest.NewClock(time.Now())
	r := startRelay(t, func(s *server.Server) { s.Now = clk.Now })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bob.AutoDownload = 1 << 20
	path, _ := randomFile(t, 300_000)
	id, err := alice.SendFile(context.Background(), "bob", path, client.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := blobFile(t, r)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	reported := 0
	for _, e := range syncNow(t, bob) {
		if e.Kind == client.EventError && e.Message != nil && e.Message.ID == id && errors.Is(e.Err, client.ErrAttachmentCorrupt) {
			reported++
		}
		if e.Kind == client.EventDownloaded {
			t.Fatal("a corrupt blob was reported downloaded")
		}
	}
	if reported != 1 {
		t.Fatalf("the corrupt automatic download was reported %d times, want once", reported)
	}
	for _, e := range syncNow(t, bob) {
		if e.Kind == client.EventError {
			t.Fatalf("the next Sync tried again: %v", e.Err)
		}
	}
	if err := bob.Download(context.Background(), id, nil); !errors.Is(err, client.ErrAttachmentCorrupt) {
		t.Fatalf("Download of a corrupt blob: %v", err)
	}
	if _, err := bob.OpenAttachment(id); !errors.Is(err, client.ErrNoAttachment) {
		t.Fatalf("OpenAttachment after a refused download: %v", err)
	}
	var buf bytes.Buffer
	if err := bob.SaveAttachment(context.Background(), id, &buf, nil); !errors.Is(err, client.ErrAttachmentCorrupt) || buf.Len() > 0 {
		t.Fatalf("SaveAttachment of a corrupt blob: %v, %d bytes written", err, buf.Len())
	}

	clk.Advance(server.DefaultBlobTTL + time.Hour)
	if err := bob.Download(context.Background(), id, nil); !errors.Is(err, client.ErrAttachmentGone) {
		t.Fatalf("Download of an expired blob: %v", err)
	}
}
