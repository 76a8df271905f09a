package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/stream"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// blobPath is the path of blob id.
func blobPath(id [wire.BlobIDLen]byte) string {
	return "/v1/blobs/" + base64.RawURLEncoding.EncodeToString(id[:])
}

// createBlob asks the relay for a blob of size bytes as d.
func createBlob(t testing.TB, d *testclient.Device, size int) *wire.BlobUpload {
	t.Helper()
	f, err := d.Call("POST", "/v1/blobs", &wire.BlobCreate{Size: uint64(size)})
	if err != nil {
		t.Fatalf("create blob: %v", err)
	}
	return f.(*wire.BlobUpload)
}

// uploadAuth is the Authorization of one upload request under up's
// capability: method, path, offset and body MACed under its key.
func uploadAuth(t testing.TB, up *wire.BlobUpload, method, path string, offset uint64, body []byte) string {
	t.Helper()
	msg, err := wire.BlobRequestMessage(method, path, offset, sha256.Sum256(body))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, up.Key[:])
	m.Write(msg)
	return wire.UploadAuthorization(up.Capability, [32]byte(m.Sum(nil)))
}

// capRequest makes an upload request under up's capability.
func capRequest(t testing.TB, d *testclient.Device, up *wire.BlobUpload, method, path string, offset uint64, body []byte) *testclient.Response {
	t.Helper()
	return rawUpload(t, d, uploadAuth(t, up, method, path, offset, body), method, path, offset, body)
}

// rawUpload sends an upload request with the given Authorization.
func rawUpload(t testing.TB, d *testclient.Device, auth, method, path string, offset uint64, body []byte) *testclient.Response {
	t.Helper()
	req, err := http.NewRequest(method, d.Base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if method == http.MethodPatch {
		req.Header.Set(wire.OffsetHeader, strconv.FormatUint(offset, 10))
	}
	return do(t, d, req)
}

// do sends req with d's HTTP client and reads the answer.
func do(t testing.TB, d *testclient.Device, req *http.Request) *testclient.Response {
	t.Helper()
	resp, err := d.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &testclient.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	r.Frame, _ = wire.Parse(b)
	return r
}

// uploadBlob stores data as a finished blob of d, in one part.
func uploadBlob(t testing.TB, d *testclient.Device, data []byte) *wire.BlobUpload {
	t.Helper()
	up := createBlob(t, d, len(data))
	if r := capRequest(t, d, up, "PATCH", blobPath(up.ID), 0, data); r.Err() != nil {
		t.Fatalf("append: %v", r.Err())
	}
	fin, _ := wire.Marshal(&wire.BlobFinish{SHA256: sha256.Sum256(data)})
	if r := capRequest(t, d, up, "POST", blobPath(up.ID)+"/finish", 0, fin); r.Err() != nil {
		t.Fatalf("finish: %v", r.Err())
	}
	return up
}

// get downloads path with the given request headers.
func get(t testing.TB, d *testclient.Device, method, path string, hdr ...string) *testclient.Response {
	t.Helper()
	req, err := http.NewRequest(method, d.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, d, req)
}

// metricLine returns the value of one metrics line.
func metricLine(t testing.TB, r *servertest.Relay, prefix string) string {
	t.Helper()
	resp, err := http.Get(r.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, prefix+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestBlobRanges: a download answers the whole blob or one range of it;
// every Range it does not serve (several ranges, another unit, bad syntax,
// past the end) is a 416 carrying an Error frame, counted in the metrics
// like every refusal.
func TestBlobRanges(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	data := make([]byte, 100_000)
	rand.Read(data)
	p := blobPath(uploadBlob(t, alice, data).ID)
	size := strconv.Itoa(len(data))

	whole := get(t, alice, "GET", p)
	if whole.Status != 200 || !bytes.Equal(whole.Body, data) || whole.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d, %d bytes, Accept-Ranges %q", whole.Status, len(whole.Body), whole.Header.Get("Accept-Ranges"))
	}
	for _, c := range []struct {
		rng         string
		first, last int
	}{
		{"bytes=99990-", 99990, 99999},
		{"bytes=10-19", 10, 19},
		{"bytes=99990-200000", 99990, 99999},
		{"bytes=-7", 99993, 99999},
		{"bytes=-200000", 0, 99999},
		{" bytes= 5 - 6 ", 5, 6},
	} {
		g := get(t, alice, "GET", p, "Range", c.rng)
		want := fmt.Sprintf("bytes %d-%d/%s", c.first, c.last, size)
		if g.Status != 206 || g.Header.Get("Content-Range") != want || !bytes.Equal(g.Body, data[c.first:c.last+1]) {
			t.Errorf("Range %q: %d, Content-Range %q (want %q), %d bytes", c.rng, g.Status, g.Header.Get("Content-Range"), want, len(g.Body))
		}
	}
	if g := get(t, alice, "GET", p, "Range", "bytes=0-9", "If-Range", `"another"`); g.Status != 200 || len(g.Body) != len(data) {
		t.Errorf("If-Range naming another blob: %d, %d bytes; want the whole blob", g.Status, len(g.Body))
	}
	h := get(t, alice, "HEAD", p, "Range", "bytes=100-")
	if h.Status != 206 || len(h.Body) != 0 || h.Header.Get("Content-Length") != strconv.Itoa(len(data)-100) {
		t.Errorf("HEAD with a range: %d, %d bytes, Content-Length %q", h.Status, len(h.Body), h.Header.Get("Content-Length"))
	}

	refused := []string{"bytes=0-1,5-6", "bytes=0-1, 10-", "items=0-5", "bytes=5-1", "bytes=x-", "bytes=", "bytes=--1", "bytes=-0", "bytes=100000-", "bytes=2000000-2000001"}
	for _, rng := range refused {
		g := get(t, alice, "GET", p, "Range", rng)
		e, ok := g.Frame.(*wire.Error)
		if g.Status != http.StatusRequestedRangeNotSatisfiable || !ok || e.Code != wire.CodeRange ||
			g.Header.Get("Content-Type") != wire.ContentType || g.Header.Get("Content-Range") != "bytes */"+size {
			t.Errorf("Range %q: %d %q (%v), Content-Range %q; want 416 with a bad-range frame", rng, g.Status, g.Header.Get("Content-Type"), g.Err(), g.Header.Get("Content-Range"))
		}
	}
	if g := get(t, alice, "GET", blobPath([16]byte{1})); g.Code() != wire.CodeNoBlob {
		t.Errorf("unknown blob: %d %v", g.Status, g.Err())
	}
	if got := metricLine(t, r, `parley_rejected_total{reason="bad-range"}`); got != strconv.Itoa(len(refused)) {
		t.Errorf("metrics count %s bad-range refusals, want %d", got, len(refused))
	}
	if got := metricLine(t, r, `parley_rejected_total{reason="no-blob"}`); got != "1" {
		t.Errorf("metrics count %s no-blob refusals, want 1", got)
	}
}

// TestBlobAccess: one user's blobs are invisible to another (list, renew,
// delete), and an upload capability works only for its own blob, for the
// request it was MACed for, and while its device is current.
func TestBlobAccess(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	data := []byte("alice's ciphertext, 42 bytes of it .......")
	up := uploadBlob(t, alice, data)
	p := blobPath(up.ID)

	list := func(d *testclient.Device) *wire.BlobList {
		f, err := d.Call("GET", "/v1/blobs", nil)
		if err != nil {
			t.Fatal(err)
		}
		return f.(*wire.BlobList)
	}
	if l := list(alice); len(l.Blobs) != 1 || l.Blobs[0].ID != up.ID || l.Used != uint64(len(data)) {
		t.Fatalf("alice's list: %+v", l)
	}
	if l := list(bob); len(l.Blobs) != 0 || l.Used != 0 {
		t.Fatalf("bob sees %+v", l)
	}
	if _, err := bob.Call("POST", p+"/capability", nil); codeOf(err) != wire.CodeNoBlob {
		t.Errorf("bob renews alice's upload: %v, want no-blob", err)
	}
	if _, err := bob.Call("DELETE", p, nil); codeOf(err) != wire.CodeNoBlob {
		t.Errorf("bob deletes alice's blob: %v, want no-blob", err)
	}
	if g := get(t, bob, "GET", p); !bytes.Equal(g.Body, data) {
		t.Fatalf("alice's blob after bob's attempts: %d %v", g.Status, g.Err())
	}

	// a capability is for one blob
	mine := createBlob(t, bob, 10)
	forged := *mine
	forged.ID = up.ID
	if g := capRequest(t, bob, &forged, "GET", p+"/upload", 0, nil); g.Code() != wire.CodeUnauthorized {
		t.Errorf("bob's capability on alice's blob: %d %v", g.Status, g.Err())
	}
	// a logged request is not reusable at another offset or with another body
	part := []byte("0123456789")
	path := blobPath(mine.ID)
	auth := uploadAuth(t, mine, "PATCH", path, 0, part[:5])
	if g := rawUpload(t, bob, auth, "PATCH", path, 0, part[:5]); g.Err() != nil {
		t.Fatal(g.Err())
	}
	if g := rawUpload(t, bob, auth, "PATCH", path, 5, part[:5]); g.Code() != wire.CodeUnauthorized {
		t.Errorf("request replayed at another offset: %d %v", g.Status, g.Err())
	}
	if g := rawUpload(t, bob, auth, "PATCH", path, 5, part[5:]); g.Code() != wire.CodeUnauthorized {
		t.Errorf("request replayed with another body: %d %v", g.Status, g.Err())
	}
	if st, err := bob.Call("POST", path+"/capability", nil); err != nil || st.(*wire.BlobUpload).Stored != 5 {
		t.Fatalf("after refused parts: %v, %v", st, err)
	}
	// a revoked device's capability stops at once
	laptop := sibling(t, r, bob)
	upLaptop := createBlob(t, laptop, 10)
	if _, err := bob.Call("DELETE", fmt.Sprintf("/v1/users/bob/devices/%d", laptop.Addr.Device), nil); err != nil {
		t.Fatal(err)
	}
	if g := capRequest(t, laptop, upLaptop, "PATCH", blobPath(upLaptop.ID), 0, part); g.Code() != wire.CodeUnauthorized {
		t.Errorf("revoked device's capability: %d %v", g.Status, g.Err())
	}
}

// TestBlobsGoneFromDisk is the canary of blob deletion: a finished blob
// deleted by its owner, and a finished and an unfinished blob that expire,
// leave their bytes and IDs in no file of the relay's data directory once
// the checkpoint interval has passed (the unfinished one's metadata holds the
// tail of its ciphertext in its running SHA-256 state).
func TestBlobsGoneFromDisk(t *testing.T) {
	const interval = 300 * time.Millisecond
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.CheckpointInterval, s.SweepInterval = interval, 50*time.Millisecond
	})
	alice := register(t, r, "alice")
	marker := []byte("RELAY-BLOB-MARKER-5ca1ab1e-00112233") // 35 bytes
	data := bytes.Repeat(marker, 3000)
	needle := marker[:32]
	deleted, expired := uploadBlob(t, alice, data), uploadBlob(t, alice, data)
	partial := createBlob(t, alice, len(data))
	if g := capRequest(t, alice, partial, "PATCH", blobPath(partial.ID), 0, data[:100]); g.Err() != nil {
		t.Fatal(g.Err())
	}
	if got := filesHolding(t, r.Dir, needle); len(got) < 3 {
		t.Fatalf("the blobs are in %v: the scan cannot see them", got)
	}
	if _, err := alice.Call("DELETE", blobPath(deleted.ID), nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(server.DefaultBlobTTL + time.Hour) // past every expiry
	start := time.Now()
	ups := []*wire.BlobUpload{deleted, expired, partial}
	waitFor(t, func() bool {
		left := len(filesHolding(t, r.Dir, needle))
		for _, up := range ups {
			left += len(filesHolding(t, r.Dir, up.ID[:]))
		}
		return left == 0
	})
	if took := time.Since(start); took > interval+5*time.Second { // slack for a loaded machine
		t.Errorf("blobs gone %v after their expiry, want within about %v", took, interval)
	}
	for _, up := range ups {
		if g := get(t, alice, "GET", blobPath(up.ID)); g.Code() != wire.CodeNoBlob {
			t.Errorf("a removed blob answers %d %v", g.Status, g.Err())
		}
	}
}

// TestBlobSizeLimitIsAFile: the relay's size limit is on files, so the
// blob of a file of exactly MaxBlobSize bytes (the file plus the stream's
// header and tags) is accepted, and one byte more is too large.
func TestBlobSizeLimitIsAFile(t *testing.T) {
	const limit = 1 << 20
	r := startRelay(t, func(s *server.Server) { s.MaxBlobSize = limit })
	alice := register(t, r, "alice")
	size := stream.CiphertextSize(limit)
	if _, err := alice.Call("POST", "/v1/blobs", &wire.BlobCreate{Size: uint64(size)}); err != nil {
		t.Fatalf("the blob of a file of the limit: %v", err)
	}
	if _, err := alice.Call("POST", "/v1/blobs", &wire.BlobCreate{Size: uint64(size + 1)}); codeOf(err) != wire.CodeTooLarge {
		t.Fatalf("one byte more: %v, want too-large", err)
	}
}

// TestBlobsAcrossNodes: with a PostgreSQL store every relay node sees
// every blob, and an upload capability issued by one node works on
// another (they derive it from the secret the store shares): a blob
// created on node 0, uploaded through node 1 and finished on node 0
// downloads from node 1.
func TestBlobsAcrossNodes(t *testing.T) {
	c := startCluster(t, 2, "")
	alice := register(t, c.nodes[0], "alice")
	data := bytes.Repeat([]byte("across nodes "), 50_000)
	up := createBlob(t, alice, len(data))
	on1 := c.on(1, alice)
	half := len(data) / 2
	if g := capRequest(t, on1, up, "PATCH", blobPath(up.ID), 0, data[:half]); g.Err() != nil {
		t.Fatalf("a part on another node: %v", g.Err())
	}
	if g := capRequest(t, alice, up, "PATCH", blobPath(up.ID), uint64(half), data[half:]); g.Err() != nil {
		t.Fatalf("the rest on the first node: %v", g.Err())
	}
	fin, _ := wire.Marshal(&wire.BlobFinish{SHA256: sha256.Sum256(data)})
	if g := capRequest(t, alice, up, "POST", blobPath(up.ID)+"/finish", 0, fin); g.Err() != nil {
		t.Fatalf("finish: %v", g.Err())
	}
	if g := get(t, on1, "GET", blobPath(up.ID), "Range", "bytes=10-"); g.Status != 206 || !bytes.Equal(g.Body, data[10:]) {
		t.Fatalf("download from the other node: %d %v", g.Status, g.Err())
	}
}
