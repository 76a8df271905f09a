package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"parley.dev/client"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// attachmentMsg returns the one message of evs that carries an attachment.
func attachmentMsg(t *testing.T, evs []client.Event) *client.Message {
	t.Helper()
	for _, e := range evs {
		if e.Kind == client.EventMessage && e.Message.Attachment != nil {
			return e.Message
		}
	}
	t.Fatalf("no attachment among %d events", len(evs))
	return nil
}

func randomFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func saved(t *testing.T, c *client.Client, id client.MessageID) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := c.SaveAttachment(context.Background(), id, &buf, nil); err != nil {
		t.Fatalf("SaveAttachment: %v", err)
	}
	return buf.Bytes()
}

func TestSendFileRoundTrip(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	path, data := randomFile(t, 700_000)
	var last atomic.Int64
	id, err := alice.SendFile(context.Background(), "bob", path, client.FileOptions{
		ContentType: "image/jpeg", Width: 800, Height: 600, Caption: "the view",
		Progress: func(done, total int64) { last.Store(done); _ = total },
	})
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	if last.Load() != int64(len(data)) {
		t.Errorf("progress ended at %d of %d", last.Load(), len(data))
	}
	m := attachmentMsg(t, syncNow(t, bob))
	a := m.Attachment
	if m.ID != id || m.Text != "the view" || a.Name != "photo.jpg" || a.ContentType != "image/jpeg" ||
		a.Size != int64(len(data)) || a.Width != 800 || a.Height != 600 || a.Saved {
		t.Fatalf("received %+v / %+v", m, a)
	}
	if got := saved(t, bob, id); !bytes.Equal(got, data) {
		t.Fatal("bob's copy differs")
	}
	h, _ := bob.History(context.Background(), "alice")
	if len(h) != 1 || h[0].Attachment == nil || !h[0].Attachment.Saved {
		t.Fatalf("history after download: %+v", h)
	}
	// the sender can get its own copy back from the relay too
	if got := saved(t, alice, id); !bytes.Equal(got, data) {
		t.Fatal("alice's copy differs")
	}
}

func TestSendFileFromReaderKeepsACopy(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	data := bytes.Repeat([]byte("voice note "), 20_000)
	id, err := alice.SendFileFrom(context.Background(), "bob", bytes.NewReader(data), client.FileOptions{Name: "note.ogg"})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := alice.OpenAttachment(id)
	if err != nil {
		t.Fatalf("the sender's spooled copy: %v", err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("spooled copy differs")
	}
	attachmentMsg(t, syncNow(t, bob))
	if got := saved(t, bob, id); !bytes.Equal(got, data) {
		t.Fatal("bob's copy differs")
	}
}

func TestAutoDownloadBelowLimit(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bob.AutoDownload = 100_000
	small, _ := randomFile(t, 50_000)
	big, _ := randomFile(t, 200_000)
	ids := map[string]client.MessageID{}
	for name, p := range map[string]string{"small": small, "big": big} {
		id, err := alice.SendFile(context.Background(), "bob", p, client.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	syncNow(t, bob)
	h, _ := bob.History(context.Background(), "alice")
	got := map[client.MessageID]bool{}
	for _, m := range h {
		got[m.ID] = m.Attachment.Saved
	}
	if !got[ids["small"]] || got[ids["big"]] {
		t.Fatalf("saved after Sync: small %v, big %v; want true, false", got[ids["small"]], got[ids["big"]])
	}
}

// cutProxy forwards TCP to the relay and, while armed, cuts every
// connection after limit bytes from the client (or, with down, from the
// relay). served counts the bytes from the relay.
type cutProxy struct {
	l      net.Listener
	to     string
	armed  atomic.Bool
	down   bool
	limit  int64
	cuts   atomic.Int64
	served atomic.Int64
}

func startCutProxy(t *testing.T, to string, limit int64) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, to: to, limit: limit}
	t.Cleanup(func() { l.Close() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer s.Close()
	armed := p.armed.Load()
	var wg sync.WaitGroup
	wg.Go(func() {
		n, _ := io.Copy(countWriter{c, &p.served}, p.limited(s, armed && p.down))
		if armed && p.down && n >= p.limit {
			p.cuts.Add(1)
		}
		c.Close()
	})
	n, _ := io.Copy(s, p.limited(c, armed && !p.down))
	if armed && !p.down && n >= p.limit {
		p.cuts.Add(1)
	}
	s.Close()
	wg.Wait()
}

func (p *cutProxy) limited(r io.Reader, cut bool) io.Reader {
	if cut {
		return io.LimitReader(r, p.limit)
	}
	return r
}

// countWriter counts what it writes.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// viaProxy reopens c (closing it) with its relay reached through p, as
// the same app restarted would be.
func viaProxy(t *testing.T, c *client.Client, p *cutProxy) *client.Client {
	t.Helper()
	c.Close()
	c = &client.Client{Home: c.Home, Server: "https://" + p.l.Addr().String(), AutoDownload: c.AutoDownload}
	if err := c.Unlock(context.Background(), testPIN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUploadKilledHalfwayResumes: the connection drops in the middle of an
// upload and the app is closed; reopened, the upload resumes where the
// relay stopped (not from zero) and the received file is byte-identical.
func TestUploadKilledHalfwayResumes(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	proxy := startCutProxy(t, r.Addr, 1_500_000)
	bob := register(t, r, "bob")
	alice := viaProxy(t, register(t, r, "alice"), proxy)
	path, data := randomFile(t, 3_000_000)
	proxy.armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	var progress atomic.Int64
	_, err := alice.SendFile(ctx, "bob", path, client.FileOptions{Progress: func(done, _ int64) {
		progress.Store(done)
		if proxy.cuts.Load() > 0 {
			cancel() // the app is killed after the first drop
		}
	}})
	cancel()
	if err == nil || proxy.cuts.Load() == 0 {
		t.Fatalf("upload through a cutting proxy: err %v, cuts %d", err, proxy.cuts.Load())
	}
	before := progress.Load()
	if before == 0 || before >= int64(len(data)) {
		t.Fatalf("progress before the kill = %d", before)
	}
	proxy.armed.Store(false)
	alice = viaProxy(t, alice, proxy)
	if _, err := alice.Sync(context.Background()); err != nil { // resumes the upload, sends the message
		t.Fatalf("Sync after restart: %v", err)
	}
	m := attachmentMsg(t, syncNow(t, bob))
	if got := saved(t, bob, m.ID); !bytes.Equal(got, data) {
		t.Fatal("resumed upload is not byte-identical")
	}
	used := relayUsage(t, r)
	if used != int64(len(data))+int64(len(data)/65536+1)*16+17 {
		t.Fatalf("relay holds %d bytes: the resumed upload left a second blob or garbage", used)
	}
}

// relayUsage sums the sizes of the relay's blob files.
func relayUsage(t *testing.T, r *servertest.Relay) int64 {
	var n int64
	filepath.Walk(filepath.Join(r.Dir, server.BlobsDir, "data"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func TestAttachmentRefusals(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(s *server.Server) { s.MaxBlobSize = 100_000; s.BlobQuota = 150_000 })
	alice := register(t, r, "alice")
	register(t, r, "bob")
	big, _ := randomFile(t, 200_000)
	_, err := alice.SendFile(context.Background(), "bob", big, client.FileOptions{})
	wantErr(t, "file over the relay's limit", err, client.ErrTooLarge)
	mid, _ := randomFile(t, 90_000)
	if _, err := alice.SendFile(context.Background(), "bob", mid, client.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.SendFile(context.Background(), "bob", mid, client.FileOptions{})
	wantErr(t, "over the quota", err, client.ErrQuota)
	h, _ := alice.History(context.Background(), "bob")
	failed := 0
	for _, m := range h {
		if m.Status == client.StatusFailed {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d refused attachments marked failed, want 2", failed)
	}
	if _, err := alice.SendFile(context.Background(), "bob", "/nonexistent/x", client.FileOptions{}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
}
