package vault

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"parley.dev/internal/stream"
)

func newTestVault(t *testing.T) *Vault {
	t.Helper()
	v, err := Create(t.Context(), filepath.Join(t.TempDir(), "v"), testPIN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func canaryFile(n int) []byte {
	return bytes.Repeat([]byte("CANARY-FILE-0123456789 attachment plaintext "), n/44+1)[:n]
}

func TestFileRoundTripResumeAndNoCleartext(t *testing.T) {
	v := newTestVault(t)
	data := canaryFile(5*stream.ChunkSize + 123)
	w, err := v.CreateFile("att/1")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:3*stream.ChunkSize+10])
	if err := w.Sync(); err != nil || w.Chunks() != 3 {
		t.Fatalf("Chunks after 3 full chunks and a bit = %d, %v", w.Chunks(), err)
	}
	w.Close() // a crash, as far as the file is concerned
	w, err = v.ResumeFile("att/1", 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[3*stream.ChunkSize:])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := v.OpenFile("att/1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if found := scanDir(t, v.dir, map[string][]byte{"file": []byte("CANARY-FILE-0123456789")}); len(found) > 0 {
		t.Fatalf("plaintext of a file found on disk: %v", found)
	}
	if _, err := v.OpenFile("att/2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestFileTamperedOrMoved(t *testing.T) {
	v := newTestVault(t)
	for _, name := range []string{"a", "b"} {
		w, _ := v.CreateFile(name)
		w.Write(canaryFile(stream.ChunkSize + 5))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	pa, _ := v.filePath("a")
	pb, _ := v.filePath("b")
	orig, _ := os.ReadFile(pa)
	for _, pos := range []int{3, fileHeaderSize + 2, len(orig) / 2, len(orig) - 1} {
		bad := bytes.Clone(orig)
		bad[pos] ^= 1
		os.WriteFile(pa, bad, 0o600)
		r, err := v.OpenFile("a")
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		if err == nil {
			t.Fatalf("flip at %d read without error", pos)
		}
	}
	os.WriteFile(pa, orig[:len(orig)-1], 0o600)
	if _, err := v.OpenFile("a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated file: %v", err)
	}
	// b's bytes under a's name: the name is in the key
	ob, _ := os.ReadFile(pb)
	os.WriteFile(pa, ob, 0o600)
	if _, err := v.OpenFile("a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("file moved to another name: %v", err)
	}
	if err := v.RemoveFile("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pa); err == nil {
		t.Fatal("RemoveFile left the file")
	}
}
