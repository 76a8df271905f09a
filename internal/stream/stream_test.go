package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/kat.txt")

// sizes covers the chunk boundaries.
var sizes = []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 5}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func encrypt(t testing.TB, key *Key, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key)
	if err != nil {
		t.Fatal(err)
	}
	// odd write sizes exercise the buffering
	for p := pt; len(p) > 0; {
		k := min(len(p), 1000+len(p)%7777)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decryptBoth decrypts ct with Reader and with ReaderAt; both must agree.
func decryptBoth(t testing.TB, key *Key, ct []byte) ([]byte, error) {
	t.Helper()
	got, err := io.ReadAll(NewReader(bytes.NewReader(ct), key))
	ra, errAt := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
	var gotAt []byte
	if errAt == nil {
		gotAt, errAt = io.ReadAll(ra)
	}
	if (err == nil) != (errAt == nil) || (err == nil && !bytes.Equal(got, gotAt)) {
		t.Fatalf("Reader (%v) and ReaderAt (%v) disagree", err, errAt)
	}
	return got, err
}

func TestRoundTrip(t *testing.T) {
	key := GenerateKey()
	for _, n := range sizes {
		pt := pattern(n)
		ct := encrypt(t, key, pt)
		if int64(len(ct)) != CiphertextSize(int64(n)) {
			t.Errorf("size %d: ciphertext %d bytes, CiphertextSize says %d", n, len(ct), CiphertextSize(int64(n)))
		}
		if p, err := PlaintextSize(int64(len(ct))); err != nil || p != int64(n) {
			t.Errorf("size %d: PlaintextSize = %d, %v", n, p, err)
		}
		got, err := decryptBoth(t, key, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("size %d: round trip failed: %v", n, err)
		}
	}
}

func TestPlaintextSizeRefusesImpossibleSizes(t *testing.T) {
	for _, n := range []int64{0, HeaderSize, HeaderSize + Overhead - 1, HeaderSize + EncChunkSize + 1,
		HeaderSize + EncChunkSize + Overhead} {
		if _, err := PlaintextSize(n); !errors.Is(err, ErrBadSize) {
			t.Errorf("PlaintextSize(%d) = %v, want ErrBadSize", n, err)
		}
	}
	for n := int64(0); n < 3*ChunkSize; n += 997 {
		if p, err := PlaintextSize(CiphertextSize(n)); err != nil || p != n {
			t.Fatalf("PlaintextSize(CiphertextSize(%d)) = %d, %v", n, p, err)
		}
	}
}

func TestReaderAtRandomAccess(t *testing.T) {
	key := GenerateKey()
	pt := pattern(3*ChunkSize + 5)
	ct := encrypt(t, key, pt)
	ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{0, 10}, {ChunkSize - 3, 6}, {2*ChunkSize + 1, ChunkSize + 4}, {len(pt) - 1, 1}} {
		buf := make([]byte, r[1])
		if _, err := ra.ReadAt(buf, int64(r[0])); err != nil || !bytes.Equal(buf, pt[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d, %d): %v", r[0], r[1], err)
		}
	}
	if _, err := ra.Seek(ChunkSize+2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(ra)
	if err != nil || !bytes.Equal(rest, pt[ChunkSize+2:]) {
		t.Errorf("Seek then Read: %v", err)
	}
}

// chunks splits a stream into its header and chunks.
func chunks(ct []byte) (hdr []byte, cs [][]byte) {
	hdr, body := ct[:HeaderSize], ct[HeaderSize:]
	for len(body) > 0 {
		k := min(len(body), EncChunkSize)
		cs = append(cs, body[:k])
		body = body[k:]
	}
	return hdr, cs
}

func join(hdr []byte, cs ...[]byte) []byte {
	return bytes.Join(append([][]byte{hdr}, cs...), nil)
}

// TestTampering: every way of changing a stream is refused.
func TestTampering(t *testing.T) {
	key := GenerateKey()
	pt := pattern(3*ChunkSize + 5)
	ct := encrypt(t, key, pt)
	hdr, cs := chunks(ct)
	other := encrypt(t, key, pattern(3*ChunkSize+5)) // same key, same plaintext, another header
	ohdr, ocs := chunks(other)
	otherKey := encrypt(t, GenerateKey(), pt)
	_, kcs := chunks(otherKey)
	cases := map[string][]byte{
		"reordered":                   join(hdr, cs[1], cs[0], cs[2], cs[3]),
		"last chunk dropped":          join(hdr, cs[0], cs[1], cs[2]),
		"middle chunk dropped":        join(hdr, cs[0], cs[2], cs[3]),
		"chunk duplicated":            join(hdr, cs[0], cs[0], cs[1], cs[2], cs[3]),
		"truncated mid chunk":         ct[:len(ct)-3],
		"truncated to header":         hdr,
		"truncated inside header":     ct[:HeaderSize-1],
		"empty":                       nil,
		"appended byte":               append(bytes.Clone(ct), 0),
		"appended chunk":              join(hdr, cs[0], cs[1], cs[2], cs[3], cs[1]),
		"spliced from another file":   join(hdr, cs[0], ocs[1], cs[2], cs[3]),
		"other file's header":         join(ohdr, cs...),
		"spliced from another key":    join(hdr, cs[0], kcs[1], cs[2], cs[3]),
		"version changed":             append([]byte{2}, ct[1:]...),
		"last chunk marked not last":  join(hdr, cs[0], cs[1], cs[2], cs[3][:len(cs[3])-1]),
		"full chunk cut to last size": join(hdr, cs[0], cs[1], cs[2][:len(cs[3])]),
	}
	for name, bad := range cases {
		if _, err := decryptBoth(t, key, bad); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
	if _, err := decryptBoth(t, GenerateKey(), ct); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key: %v, want ErrAuth", err)
	}
}

// TestBitFlips flips one bit at many positions: always refused.
func TestBitFlips(t *testing.T) {
	key := GenerateKey()
	ct := encrypt(t, key, pattern(2*ChunkSize+9))
	// every byte of the header and of each chunk's edges, and a sample of
	// the rest
	var pos []int
	for i := range ct {
		if i < HeaderSize+64 || i%EncChunkSize < 40 || i%EncChunkSize > EncChunkSize-40 || i%4099 == 0 || i > len(ct)-64 {
			pos = append(pos, i)
		}
	}
	for _, i := range pos {
		bad := bytes.Clone(ct)
		bad[i] ^= 1 << (i % 8)
		if _, err := decryptBoth(t, key, bad); err == nil {
			t.Fatalf("flip at byte %d decrypted", i)
		}
	}
}

// TestNoPlaintextBeforeAuthentication: a tampered chunk releases none of
// its plaintext; the chunks before it, authentic, do come out.
func TestNoPlaintextBeforeAuthentication(t *testing.T) {
	key := GenerateKey()
	pt := pattern(3*ChunkSize + 5)
	ct := encrypt(t, key, pt)
	bad := bytes.Clone(ct)
	bad[HeaderSize+EncChunkSize+10] ^= 0x80 // inside chunk 1
	got, err := io.ReadAll(NewReader(bytes.NewReader(bad), key))
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if !bytes.Equal(got, pt[:ChunkSize]) {
		t.Fatalf("released %d bytes before the error, want exactly chunk 0 (%d)", len(got), ChunkSize)
	}
	ra, err := NewReaderAt(bytes.NewReader(bad), int64(len(bad)), key)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := ra.ReadAt(buf, ChunkSize+5); n != 0 || !errors.Is(err, ErrAuth) {
		t.Fatalf("ReadAt in the tampered chunk: %d bytes, %v", n, err)
	}
	// a stream missing its last chunk: the leading chunks, then an error,
	// never io.EOF
	hdr, cs := chunks(ct)
	r := NewReader(bytes.NewReader(join(hdr, cs[0], cs[1])), key)
	if _, err := io.ReadAll(r); !errors.Is(err, ErrAuth) {
		t.Fatalf("stream without its last chunk: %v", err)
	}
}

func TestResumeWriterReproducesTheStream(t *testing.T) {
	key := GenerateKey()
	pt := pattern(3*ChunkSize + 5)
	ct := encrypt(t, key, pt)
	hdr, err := ParseHeader(ct)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(ct[:HeaderSize+2*EncChunkSize])
	w := ResumeWriter(&buf, key, hdr, 2)
	w.Write(pt[2*ChunkSize:])
	if err := w.Close(); err != nil || !bytes.Equal(buf.Bytes(), ct) {
		t.Fatalf("resumed stream differs: %v", err)
	}
}

func TestKeyRedacted(t *testing.T) {
	k, _ := NewKey(bytes.Repeat([]byte{0xAB}, KeySize))
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		if s := sprintf(f, k); strings.Contains(strings.ToLower(s), "abab") || !strings.Contains(s, "REDACTED") {
			t.Errorf("%s prints %q", f, s)
		}
	}
}

// TestKnownAnswer pins the format: a fixed key, header and plaintext give
// a fixed stream (its SHA-256 is in testdata/kat.txt; -update rewrites it).
func TestKnownAnswer(t *testing.T) {
	key, _ := NewKey(pattern(KeySize))
	var hdr Header
	hdr[0] = Version
	copy(hdr[1:], bytes.Repeat([]byte{0x5A}, NonceSize))
	var buf bytes.Buffer
	buf.Write(hdr[:])
	w := ResumeWriter(&buf, key, hdr, 0)
	w.Write(pattern(2*ChunkSize + 3))
	w.Close()
	sum := sha256.Sum256(buf.Bytes())
	got := hex.EncodeToString(sum[:]) + "\n"
	path := filepath.Join("testdata", "kat.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Fatalf("stream SHA-256 = %s, testdata says %s (%v)", got, want, err)
	}
}

func TestOpenerMatchesReader(t *testing.T) {
	key := GenerateKey()
	pt := pattern(2*ChunkSize + 7)
	ct := encrypt(t, key, pt)
	hdr, _ := ParseHeader(ct)
	n, lastLen, err := Chunks(int64(len(ct)))
	if err != nil || n != 3 || lastLen != 7+Overhead {
		t.Fatalf("Chunks = %d, %d, %v", n, lastLen, err)
	}
	o := NewOpener(key, hdr)
	var got []byte
	body := ct[HeaderSize:]
	for i := int64(0); i < n; i++ {
		k := min(int64(len(body)), EncChunkSize)
		if got, err = o.Open(got, uint64(i), i == n-1, body[:k]); err != nil {
			t.Fatal(err)
		}
		body = body[k:]
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("Opener output differs")
	}
	if _, err := o.Open(nil, 1, true, ct[HeaderSize+EncChunkSize:HeaderSize+2*EncChunkSize]); err == nil {
		t.Fatal("a middle chunk opened as the last")
	}
}
