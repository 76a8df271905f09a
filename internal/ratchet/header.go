package ratchet

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Message layout (version 2). A message is a header followed by the
// AES-256-GCM ciphertext of the plaintext (plaintext length + 16 bytes):
//
//	offset size field
//	0      1    version, MessageVersion
//	1      32   sender's current ratchet public key (X25519, canonical)
//	33     4    PN: messages the sender sent in its previous sending chain (uint32)
//	37     4    N: this message's number in the current sending chain (uint32)
//	41     16   salt: fresh random bytes, mixed with the message key into the
//	            AES key and nonce
//	57     ...  ciphertext || tag
//
// Version 1 (no salt: the AES key and nonce came from the message key
// alone) is refused with ErrVersion, as is every other version.
const (
	// MessageVersion is the first byte of every message.
	MessageVersion = 2
	// HeaderLen is the size of a message header in bytes.
	HeaderLen = offSalt + saltSize
	// Overhead is how much longer a message is than its plaintext.
	Overhead = HeaderLen + tagSize
	// MaxPlaintextLen is the longest plaintext Encrypt accepts: 1 MiB less
	// 4 KiB, so that a message and a session header fit in one relay
	// envelope (1 MiB).
	MaxPlaintextLen = 1<<20 - 4096
	// MaxMessageLen is the longest message Decrypt accepts.
	MaxMessageLen = MaxPlaintextLen + Overhead

	offVersion = 0
	offDH      = offVersion + 1
	offPN      = offDH + KeySize
	offN       = offPN + 4
	offSalt    = offN + 4
)

// maxCounter is the largest N a sender uses. One more would not fit the
// receiver's "next expected" counter, so a sending chain ends there.
const maxCounter = math.MaxUint32 - 1

// header is a parsed message header.
type header struct {
	dh    [KeySize]byte // sender's ratchet public key
	pn, n uint32
	salt  messageSalt
}

// put writes h into b[:HeaderLen].
func (h *header) put(b []byte) {
	b[offVersion] = MessageVersion
	copy(b[offDH:offPN], h.dh[:])
	binary.BigEndian.PutUint32(b[offPN:], h.pn)
	binary.BigEndian.PutUint32(b[offN:], h.n)
	copy(b[offSalt:HeaderLen], h.salt[:])
}

// parseHeader reads the header at the start of msg. It checks the version
// and that the public key is a canonical X25519 encoding; whether the key
// has low order is found by the DH that uses it.
func parseHeader(msg []byte) (header, error) {
	var h header
	if len(msg) < HeaderLen {
		return h, fmt.Errorf("%w: message is %d bytes, shorter than a %d-byte header", ErrMalformed, len(msg), HeaderLen)
	}
	if v := msg[offVersion]; v != MessageVersion {
		return h, fmt.Errorf("%w: message version %d, want %d", ErrVersion, v, MessageVersion)
	}
	copy(h.dh[:], msg[offDH:offPN])
	if !canonicalX25519(&h.dh) {
		return h, fmt.Errorf("%w: ratchet public key is not a canonical X25519 encoding", ErrMalformed)
	}
	h.pn = binary.BigEndian.Uint32(msg[offPN:])
	h.n = binary.BigEndian.Uint32(msg[offN:])
	copy(h.salt[:], msg[offSalt:HeaderLen])
	return h, nil
}

// canonicalX25519 reports whether k is the canonical little-endian encoding
// of a field element: the top bit is clear and the value is below
// p = 2^255 - 19. Honest keys always are; other encodings alias them.
func canonicalX25519(k *[KeySize]byte) bool {
	if k[31]&0x80 != 0 {
		return false
	}
	if k[31] != 0x7f || k[0] < 0xed {
		return true
	}
	for _, b := range k[1:31] {
		if b != 0xff {
			return true
		}
	}
	return false // p <= k < 2^255
}
