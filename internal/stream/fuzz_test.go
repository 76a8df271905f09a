package stream

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// FuzzReader feeds arbitrary streams to both readers under a fixed key:
// never a panic, both agree, and whatever decrypts re-encrypts (same key
// and header) to the very same bytes, so the format has one encoding.
func FuzzReader(f *testing.F) {
	key, _ := NewKey(pattern(KeySize))
	for _, n := range []int{0, 1, 100, ChunkSize, ChunkSize + 1} {
		f.Add(encrypt(f, key, pattern(n)))
	}
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := decryptBoth(t, key, ct)
		if err != nil {
			return
		}
		hdr, err := ParseHeader(ct)
		if err != nil {
			t.Fatalf("decrypted without a header: %v", err)
		}
		var buf bytes.Buffer
		buf.Write(hdr[:])
		w := ResumeWriter(&buf, key, hdr, 0)
		io.Copy(w, bytes.NewReader(pt))
		w.Close()
		if !bytes.Equal(buf.Bytes(), ct) {
			t.Fatalf("a second encoding of the same plaintext decrypted")
		}
	})
}
