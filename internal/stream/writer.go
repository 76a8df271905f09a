package stream

import (
	"crypto/cipher"
	"fmt"
	"io"
)

// Writer encrypts what is written to it into a stream on an io.Writer.
// Close writes the last chunk; a stream without it is refused by readers,
// so always Close (and check its error).
type Writer struct {
	dst   io.Writer
	aead  cipher.AEAD
	chunk uint64 // index of the chunk in buf
	buf   []byte // plaintext of the current chunk, up to ChunkSize
	enc   []byte // ciphertext scratch
	err   error  // sticky
}

// NewWriter writes a fresh header to dst and returns a Writer encrypting
// under key.
func NewWriter(dst io.Writer, key *Key) (*Writer, error) {
	h := NewHeader()
	if _, err := dst.Write(h[:]); err != nil {
		return nil, err
	}
	return ResumeWriter(dst, key, h, 0), nil
}

// ResumeWriter returns a Writer that continues the stream with header h at
// chunk index chunk: dst must already hold the header and exactly chunk
// full chunks. Re-encrypting the same plaintext at the same index yields
// the same bytes, so resuming after a crash never puts two different
// plaintexts under one nonce as long as the caller resumes the same
// content (a new content needs a new header).
func ResumeWriter(dst io.Writer, key *Key, h Header, chunk uint64) *Writer {
	return &Writer{
		dst:   dst,
		aead:  payloadAEAD(key, h),
		chunk: chunk,
		buf:   make([]byte, 0, ChunkSize),
		enc:   make([]byte, 0, EncChunkSize),
	}
}

// Write encrypts p. A chunk is written to dst once the next byte after it
// is known to exist, since the last chunk is sealed differently.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n = p[k:], n+k
	}
	return n, nil
}

// Close writes the last chunk. It does not close dst.
func (w *Writer) Close() error {
	if w.err != nil {
		if w.err == ErrClosed {
			return nil
		}
		return w.err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	w.err = ErrClosed
	clear(w.buf[:cap(w.buf)])
	return nil
}

// flush seals the buffered chunk and writes it.
func (w *Writer) flush(last bool) error {
	if w.chunk >= maxChunks {
		w.err = fmt.Errorf("stream: more than %d chunks", uint64(maxChunks))
		return w.err
	}
	n := nonce(w.chunk, last)
	w.enc = w.aead.Seal(w.enc[:0], n[:], w.buf, nil)
	if _, err := w.dst.Write(w.enc); err != nil {
		w.err = err
		return err
	}
	w.chunk++
	w.buf = w.buf[:0]
	return nil
}

// Chunks returns how many chunks have been written to dst.
func (w *Writer) Chunks() uint64 { return w.chunk }
