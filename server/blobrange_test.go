package server

import "testing"

// FuzzByteRange: whatever a client sends as Range (and If-Range), the
// relay either refuses it or serves bytes within the blob, at least one.
func FuzzByteRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=5-9", "bytes=-7", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=9223372036854775807-", "bytes=-9223372036854775808"} {
		f.Add(s, "", int64(100))
	}
	f.Fuzz(func(t *testing.T, h, ifRange string, size int64) {
		if size < 1 {
			return // blobs have at least one byte
		}
		first, n, partial, err := byteRange(h, ifRange, `"etag"`, size)
		switch {
		case err != nil:
			return
		case first < 0 || n < 1 || first > size-n:
			t.Fatalf("Range %q on %d bytes: first %d, %d bytes", h, size, first, n)
		case !partial && (first != 0 || n != size):
			t.Fatalf("Range %q: whole blob answered as %d+%d", h, first, n)
		}
	})
}
