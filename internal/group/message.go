package group

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Message layout (type 0x05):
//
//	u8  version, u8 type 0x05
//	16  group ID
//	u64 epoch the sender sent in
//	32  hash of that state
//	    sender device: u8-prefixed user ID, u32 device
//	u32 chain ID
//	u32 N, the message's number in the chain
//	16  salt, fresh random bytes
//	    AES-256-GCM ciphertext of the padded plaintext, with its 16-byte tag
//	64  Ed25519 signature by the chain's signing key
//
// The header is every byte before the ciphertext. The AEAD's associated
// data is "parley.dev/v1 group-message" ‖ 0x00 ‖ header; the signature is
// over "parley.dev/v1 group-message" ‖ 0x00 ‖ header ‖ ciphertext. The AES
// key and nonce are HKDF-SHA-256(ikm = message key, salt = salt, info =
// "parley.dev/v1 group-message-key"), 44 bytes.

// Message is a parsed group message: its header, readable without any
// key, and the sealed part. It is immutable.
type Message struct {
	Group  ID
	Epoch  uint64
	State  Hash
	Sender addr.Address
	Chain  uint32
	N      uint32

	salt   []byte
	header []byte // version .. salt
	ct     []byte // ciphertext and tag
	sig    []byte
	raw    []byte
}

// minMessageLen is the size of a message with a one-byte user ID and no
// plaintext (the padded plaintext is never empty, so no real message is
// this short).
const minMessageLen = 2 + 16 + 8 + KeySize + 1 + 1 + 4 + 4 + 4 + saltSize + tagSize + sigSize

// ParseMessage reads a group message's header. It checks the form only;
// ReceiverChain.Open authenticates it.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageLen {
		return nil, fmt.Errorf("%w: message is %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageLen)
	}
	if len(b) < minMessageLen {
		return nil, malformed("message: too short")
	}
	s := cryptobyte.String(b)
	if err := readHeader(&s, typeMessage, "message"); err != nil {
		return nil, err
	}
	m := &Message{raw: b}
	var group, state []byte
	if !s.ReadBytes(&group, len(m.Group)) || !s.ReadUint64(&m.Epoch) || !s.ReadBytes(&state, KeySize) ||
		!readAddress(&s, &m.Sender) || !s.ReadUint32(&m.Chain) || !s.ReadUint32(&m.N) ||
		!s.ReadBytes(&m.salt, saltSize) {
		return nil, malformed("message header")
	}
	copy(m.Group[:], group)
	copy(m.State[:], state)
	hl := len(b) - len(s)
	if len(s) < tagSize+sigSize {
		return nil, malformed("message: too short")
	}
	m.header = b[:hl]
	m.ct = b[hl : len(b)-sigSize]
	m.sig = b[len(b)-sigSize:]
	return m, nil
}

// appendHeader writes a message header.
func appendHeader(group ID, st *State, sender addr.Address, chain, n uint32, salt []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 128))
	b.AddUint8(Version)
	b.AddUint8(typeMessage)
	b.AddBytes(group[:])
	b.AddUint64(st.epoch)
	b.AddBytes(st.hash[:])
	addAddress(b, sender)
	b.AddUint32(chain)
	b.AddUint32(n)
	b.AddBytes(salt)
	return b.Bytes()
}

// Bytes returns the message's encoding.
func (m *Message) Bytes() []byte { return m.raw }
