// Package stream is Parley's chunked streaming AEAD for attachments and for
// large files kept on a device: STREAM (Hoang, Reyhanitabar, Rogaway,
// Vizár), in the shape age uses for its payload.
//
// A file is encrypted under a fresh random 256-bit key. The ciphertext is
//
//	header  = u8 version (1) | 16-byte random nonce
//	chunk i = ChaCha20-Poly1305(payloadKey, nonce_i, plaintext_i)
//
// with payloadKey = HKDF-SHA256(ikm = key, salt = header nonce, info =
// "parley.dev/stream/v1 payload") and nonce_i = the 11-byte big-endian
// chunk counter i followed by one byte, 0x01 for the last chunk and 0x00
// for every other. Every chunk but the last holds exactly ChunkSize bytes of
// plaintext; the last holds 1 to ChunkSize bytes, or 0 when the whole
// plaintext is empty. There is one encoding per (key, nonce, plaintext).
//
// Because the counter and the last-chunk flag are in the nonce, and the key
// is unique to one file, a reader detects every reordering, truncation
// (at a chunk boundary or not), dropped last chunk, appended data, chunk
// taken from another file and wrong key. It releases a chunk's plaintext
// only once that chunk has authenticated; a stream cut short therefore
// yields its authentic leading chunks and then an error, so callers that
// must not show half a file (the client does not) keep the output aside
// until Read has returned io.EOF.
//
// Memory use is one chunk whatever the file size. Writer, Reader and
// ReaderAt are not safe for concurrent use (ReaderAt's ReadAt is, see its
// doc). Key is secret: it is incomparable and prints as REDACTED.
package stream

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the format, in bytes.
const (
	// Version is the header's first byte.
	Version = 1
	// KeySize is the size of a file key.
	KeySize = chacha20poly1305.KeySize
	// NonceSize is the size of the header's random nonce.
	NonceSize = 16
	// HeaderSize is the size of the header: version and nonce.
	HeaderSize = 1 + NonceSize
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// Overhead is what the AEAD adds to each chunk (the Poly1305 tag).
	Overhead = chacha20poly1305.Overhead
	// EncChunkSize is the ciphertext size of every chunk but the last.
	EncChunkSize = ChunkSize + Overhead
)

// labelPayload is the HKDF info of the payload key.
const labelPayload = "parley.dev/stream/v1 payload"

// lastChunk is the nonce's final byte on the last chunk.
const lastChunk = 0x01

// maxChunks is the most chunks a stream may have: the counter's 11 bytes
// are far beyond that; int64 sizes are the real bound.
const maxChunks = (1<<63 - 1 - HeaderSize) / EncChunkSize

// Errors. Every failure to decrypt wraps ErrAuth; a stream too short to
// hold a header wraps ErrHeader.
var (
	ErrAuth    = errors.New("stream: message authentication failed")
	ErrHeader  = errors.New("stream: bad header")
	ErrClosed  = errors.New("stream: writer closed")
	ErrBadSize = errors.New("stream: impossible ciphertext size")
)

// Key is a file key. Its zero value is not usable; it is incomparable and
// prints as REDACTED.
type Key struct {
	_ [0]func()
	b [KeySize]byte
}

// GenerateKey returns a fresh random key.
func GenerateKey() *Key {
	k := new(Key)
	rand.Read(k.b[:]) // never fails (crypto/rand)
	return k
}

// NewKey returns the key whose bytes are b (KeySize bytes).
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("stream: key of %d bytes, want %d", len(b), KeySize)
	}
	k := new(Key)
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns a copy of the key, for sealed storage or an end-to-end
// message only.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// Wipe zeroes the key. Go cannot promise that no other copy exists.
func (k *Key) Wipe() { clear(k.b[:]) }

// Format prints REDACTED.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, "stream.Key{REDACTED}") }

// Header is a stream's header.
type Header [HeaderSize]byte

// NewHeader returns a header with a fresh random nonce.
func NewHeader() Header {
	var h Header
	h[0] = Version
	rand.Read(h[1:]) // never fails (crypto/rand)
	return h
}

// ParseHeader checks the version byte of a stream's first HeaderSize bytes.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes", ErrHeader, len(b))
	}
	if b[0] != Version {
		return h, fmt.Errorf("%w: version %d", ErrHeader, b[0])
	}
	copy(h[:], b)
	return h, nil
}

// payloadAEAD derives the payload key of (key, header).
func payloadAEAD(k *Key, h Header) cipher.AEAD {
	pk, err := hkdf.Key(sha256.New, k.b[:], h[1:], labelPayload, KeySize)
	if err != nil {
		panic("stream: HKDF length") // constant length
	}
	a, err := chacha20poly1305.New(pk)
	clear(pk)
	if err != nil {
		panic("stream: AEAD key size")
	}
	return a
}

// nonce returns chunk i's nonce.
func nonce(i uint64, last bool) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], i) // bytes 0..2 stay zero: i < 2^63
	if last {
		n[11] = lastChunk
	}
	return n
}

// CiphertextSize returns the size of the stream of a plaintext of n bytes.
func CiphertextSize(n int64) int64 {
	chunks := max((n+ChunkSize-1)/ChunkSize, 1)
	return HeaderSize + n + chunks*Overhead
}

// PlaintextSize returns the plaintext size of a stream of n bytes, or
// ErrBadSize if no stream has that size.
func PlaintextSize(n int64) (int64, error) {
	if n < HeaderSize+Overhead {
		return 0, ErrBadSize
	}
	body := n - HeaderSize
	full, rest := body/EncChunkSize, body%EncChunkSize
	switch {
	case rest == 0 && full > 0: // the last chunk is a full one
		return full * ChunkSize, nil
	case rest > Overhead || (rest == Overhead && full == 0):
		return full*ChunkSize + rest - Overhead, nil
	}
	return 0, ErrBadSize
}

// Opener opens single chunks, for callers that read a stream chunk by
// chunk themselves (a download that resumes at a chunk). It is safe for
// concurrent use.
type Opener struct{ aead cipher.AEAD }

// NewOpener returns the Opener of the stream with header h under key.
func NewOpener(key *Key, h Header) *Opener { return &Opener{aead: payloadAEAD(key, h)} }

// Open authenticates enc as chunk i (the last one if last) and appends its
// plaintext to dst.
func (o *Opener) Open(dst []byte, i uint64, last bool, enc []byte) ([]byte, error) {
	if last && i > 0 && len(enc) == Overhead {
		return nil, fmt.Errorf("%w: empty last chunk %d", ErrAuth, i)
	}
	n := nonce(i, last)
	pt, err := o.aead.Open(dst, n[:], enc, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrAuth, i)
	}
	return pt, nil
}

// Chunks returns the number of chunks of a stream of size bytes, and the
// ciphertext size of its last chunk (ErrBadSize for an impossible size).
func Chunks(size int64) (n int64, lastLen int64, err error) {
	pt, err := PlaintextSize(size)
	if err != nil {
		return 0, 0, err
	}
	n = max((pt+ChunkSize-1)/ChunkSize, 1)
	return n, size - HeaderSize - (n-1)*EncChunkSize, nil
}
