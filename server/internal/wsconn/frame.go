package wsconn

import (
	"encoding/binary"
	"errors"

	"github.com/gobwas/ws"
)

// Frame header sizes (RFC 6455, section 5.2).
const (
	// maxHeader is the longest header: 2 bytes, an 8-byte extended
	// length and a 4-byte mask.
	maxHeader = 14
	// maxServerHeader is the longest header the server writes (unmasked).
	maxServerHeader = 10
)

// errFrameTooLong is a header declaring a payload of 2^63 bytes or more.
var errFrameTooLong = errors.New("wsconn: frame length out of range")

// parseHeader reads a frame header from the start of b. It returns the
// header and its size, or ok false if b holds only part of a header. It
// checks the encoding only (a minimal length encoding is not required,
// as in other implementations); ws.CheckHeader checks the rules.
func parseHeader(b []byte) (h ws.Header, n int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 0x7
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < n+2 {
			return h, 0, false, nil
		}
		h.Length = int64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, 0, false, nil
		}
		u := binary.BigEndian.Uint64(b[n:])
		if u > 1<<63-1 {
			return h, 0, false, errFrameTooLong
		}
		h.Length = int64(u)
		n += 8
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, false, nil
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, true, nil
}

// headerLen is the size of an unmasked header for a payload of n bytes.
func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// putHeader writes an unmasked, final header of opcode op for a payload
// of n bytes into b, which has headerLen(n) bytes.
func putHeader(b []byte, op ws.OpCode, n int) {
	b[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		b[1] = byte(n)
	case n <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
}

// appendFrame appends one final, unmasked frame of opcode op whose
// payload body appends to b. The header is sized after the payload is
// known: body writes behind a gap of maxServerHeader bytes, which is then
// closed.
func appendFrame(b []byte, op ws.OpCode, body func([]byte) ([]byte, error)) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, maxServerHeader)...)
	out, err := body(b)
	if err != nil {
		return b[:start], err
	}
	n := len(out) - start - maxServerHeader
	hl := headerLen(n)
	if gap := maxServerHeader - hl; gap > 0 {
		copy(out[start+hl:], out[start+maxServerHeader:])
		out = out[:len(out)-gap]
	}
	putHeader(out[start:], op, n)
	return out, nil
}

// appendControl appends a control frame (close, ping, pong) with payload p
// (at most 125 bytes).
func appendControl(b []byte, op ws.OpCode, p []byte) []byte {
	out, _ := appendFrame(b, op, func(b []byte) ([]byte, error) { return append(b, p...), nil })
	return out
}
