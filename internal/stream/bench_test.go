package stream

import (
	"io"
	"testing"
)

// BenchmarkEncrypt measures the stream's cost per byte (MB/s).
func BenchmarkEncrypt(b *testing.B) {
	key := GenerateKey()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	w, _ := NewWriter(io.Discard, key)
	for b.Loop() {
		w.Write(buf)
	}
	w.Close()
}
