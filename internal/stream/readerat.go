package stream

import (
	"crypto/cipher"
	"fmt"
	"io"
	"sync"
)

// ReaderAt decrypts a stream of known size with random access, for
// seeking in a stored file or serving a range of it. Every chunk a read
// touches is authenticated before any of its plaintext is returned; the
// last chunk is identified by the size, so a truncated or extended stream
// fails in NewReaderAt, which authenticates the last chunk. ReadAt is safe
// for concurrent use; Read and Seek are not.
type ReaderAt struct {
	src  io.ReaderAt
	size int64 // ciphertext size
	n    int64 // plaintext size
	aead cipher.AEAD

	mu     sync.Mutex // guards enc, buf, cached
	enc    []byte
	buf    []byte
	cached int64 // index of the chunk whose plaintext is in buf, or -1

	off int64 // Read and Seek position
}

// NewReaderAt reads the header of the stream src of size bytes and returns
// a ReaderAt decrypting it under key.
func NewReaderAt(src io.ReaderAt, size int64, key *Key) (*ReaderAt, error) {
	n, err := PlaintextSize(size)
	if err != nil {
		return nil, err
	}
	var h [HeaderSize]byte
	if _, err := src.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, noEOF(err))
	}
	hdr, err := ParseHeader(h[:])
	if err != nil {
		return nil, err
	}
	r := &ReaderAt{src: src, size: size, n: n, aead: payloadAEAD(key, hdr),
		enc: make([]byte, EncChunkSize), buf: make([]byte, 0, ChunkSize), cached: -1}
	// The last chunk is authenticated now, so that a truncated or extended
	// stream (and an empty one) fails here, whatever is read later.
	if _, err := r.chunk(r.lastIndex()); err != nil {
		return nil, err
	}
	return r, nil
}

// Size returns the plaintext size.
func (r *ReaderAt) Size() int64 { return r.n }

// ReadAt implements io.ReaderAt on the plaintext.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("stream: negative offset")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for len(p) > 0 && off < r.n {
		i := off / ChunkSize
		pt, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		k := copy(p, pt[off-i*ChunkSize:])
		p, off, n = p[k:], off+int64(k), n+k
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// lastIndex is the index of the last chunk.
func (r *ReaderAt) lastIndex() int64 {
	if r.n == 0 {
		return 0
	}
	return (r.n - 1) / ChunkSize
}

// chunk reads and opens chunk i into buf, unless it is there already.
func (r *ReaderAt) chunk(i int64) ([]byte, error) {
	if r.cached == i {
		return r.buf, nil
	}
	r.cached = -1
	last := i == r.lastIndex()
	start := HeaderSize + i*EncChunkSize
	size := int64(EncChunkSize)
	if last {
		size = r.size - start
	}
	enc := r.enc[:size]
	if _, err := r.src.ReadAt(enc, start); err != nil {
		return nil, fmt.Errorf("stream: reading chunk %d: %w", i, noEOF(err))
	}
	nc := nonce(uint64(i), last)
	pt, err := r.aead.Open(r.buf[:0], nc[:], enc, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrAuth, i)
	}
	r.buf, r.cached = pt, i
	return pt, nil
}

// Read implements io.Reader from the current position.
func (r *ReaderAt) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker on the plaintext.
func (r *ReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.n
	default:
		return 0, fmt.Errorf("stream: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("stream: negative position")
	}
	r.off = offset
	return offset, nil
}
