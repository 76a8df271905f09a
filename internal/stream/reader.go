package stream

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// Reader decrypts a stream read sequentially from an io.Reader. Read
// returns plaintext only from chunks that authenticated, and io.EOF only
// after the last chunk did; any tampering gives an error wrapping ErrAuth
// (sticky: every later Read returns it too).
type Reader struct {
	src   io.Reader
	key   *Key
	aead  cipher.AEAD // nil until the header is read
	chunk uint64
	enc   []byte // one chunk of ciphertext and one byte of look-ahead
	have  int    // bytes of enc filled
	out   []byte // plaintext not yet returned
	buf   []byte
	err   error
}

// NewReader returns a Reader decrypting src under key. The header is read
// on the first Read.
func NewReader(src io.Reader, key *Key) *Reader {
	return &Reader{src: src, key: key, enc: make([]byte, EncChunkSize+1), buf: make([]byte, 0, ChunkSize)}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// next reads and opens one chunk into out, or sets io.EOF after the last.
func (r *Reader) next() error {
	if r.aead == nil {
		var h [HeaderSize]byte
		if _, err := io.ReadFull(r.src, h[:]); err != nil {
			return fmt.Errorf("%w: %v", ErrHeader, noEOF(err))
		}
		hdr, err := ParseHeader(h[:])
		if err != nil {
			return err
		}
		r.aead = payloadAEAD(r.key, hdr)
	}
	if r.chunk > 0 && r.have == 0 {
		return io.EOF // the last chunk was opened and nothing followed
	}
	// Fill one chunk plus one byte: that byte tells whether this chunk is
	// the last.
	n, err := io.ReadFull(r.src, r.enc[r.have:])
	r.have += n
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return r.open(r.have, true)
	case err != nil:
		return err
	}
	return r.open(EncChunkSize, false)
}

// open authenticates the first n bytes of enc as chunk r.chunk and keeps
// the rest (the look-ahead byte) for the next chunk.
func (r *Reader) open(n int, last bool) error {
	if n < Overhead || (last && n == Overhead && r.chunk > 0) {
		return fmt.Errorf("%w: chunk %d truncated", ErrAuth, r.chunk)
	}
	nc := nonce(r.chunk, last)
	pt, err := r.aead.Open(r.buf[:0], nc[:], r.enc[:n], nil)
	if err != nil {
		return fmt.Errorf("%w: chunk %d", ErrAuth, r.chunk)
	}
	r.out = pt
	r.chunk++
	if last {
		r.have = 0
	} else {
		r.enc[0] = r.enc[EncChunkSize]
		r.have = 1
	}
	return nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
