package session

import (
	"encoding/binary"
	"fmt"

	"parley.dev/internal/keys"
	"parley.dev/internal/pqxdh"
)

// Message layout (version 1):
//
//	PreKeyMessage: u8 version (1) ‖ u8 type (0x01) ‖ u16-prefixed PQXDH header ‖ ratchet message
//	Message:       u8 version (1) ‖ u8 type (0x02) ‖ ratchet message
//
// Everything before the ratchet message (the "prefix") is the ratchet's
// extraAD, so the type byte and the whole PQXDH header are authenticated
// with every message (attack 9). The ratchet message is the padded
// plaintext sealed by the Double Ratchet (internal/ratchet).
const (
	// Version is the first byte of every session message.
	Version = 1

	headerLenSize = 2 // u16 length of the PQXDH header
	prefixLen     = 2 // version and type
)

// MessageType is the second byte of a session message.
type MessageType byte

const (
	// TypePreKey marks a message that carries the PQXDH header: the
	// initiator sends these until it has decrypted a reply.
	TypePreKey MessageType = 0x01
	// TypeMessage marks a plain Double Ratchet message.
	TypeMessage MessageType = 0x02
)

func (t MessageType) String() string {
	switch t {
	case TypePreKey:
		return "prekey message"
	case TypeMessage:
		return "message"
	}
	return fmt.Sprintf("unknown type 0x%02x", byte(t))
}

// Info is what Peek reads from a message without decrypting it.
type Info struct {
	Type MessageType
	// Header is the PQXDH header of a TypePreKey message (nil otherwise):
	// its Ephemeral field is the session's base key, its Identity the
	// initiator's identity and its From the claimed sender.
	Header *pqxdh.Header
}

// BaseKey returns the session's base key (the initiator's ephemeral key)
// for a TypePreKey message, and false for others.
func (i Info) BaseKey() ([keys.X25519Size]byte, bool) {
	if i.Header == nil {
		return [keys.X25519Size]byte{}, false
	}
	return i.Header.Ephemeral, true
}

// parsed is a split message.
type parsed struct {
	info   Info
	prefix []byte // extraAD: everything before the ratchet message
	body   []byte // the ratchet message
}

// Peek reads a message's type and, for a TypePreKey message, its checked
// PQXDH header. It has no side effects: a client uses it to route a
// message to the session with the same base key, or to Respond.
func Peek(msg []byte) (Info, error) {
	p, err := parse(msg)
	return p.info, err
}

func parse(msg []byte) (parsed, error) {
	if len(msg) > MaxMessageLen {
		return parsed{}, fmt.Errorf("%w: message is %d bytes, limit %d", ErrTooLarge, len(msg), MaxMessageLen)
	}
	if len(msg) < prefixLen {
		return parsed{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(msg))
	}
	if msg[0] != Version {
		return parsed{}, fmt.Errorf("%w %d", ErrVersion, msg[0])
	}
	p := parsed{info: Info{Type: MessageType(msg[1])}}
	switch p.info.Type {
	case TypeMessage:
		p.prefix, p.body = msg[:prefixLen], msg[prefixLen:]
	case TypePreKey:
		if len(msg) < prefixLen+headerLenSize {
			return parsed{}, fmt.Errorf("%w: truncated prekey message", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(msg[prefixLen:]))
		end := prefixLen + headerLenSize + n
		if len(msg) < end {
			return parsed{}, fmt.Errorf("%w: truncated PQXDH header", ErrMalformed)
		}
		h, err := pqxdh.ParseHeader(msg[prefixLen+headerLenSize : end])
		if err != nil {
			return parsed{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		p.info.Header = h
		p.prefix, p.body = msg[:end], msg[end:]
	default:
		return parsed{}, fmt.Errorf("%w: %v", ErrMalformed, p.info.Type)
	}
	return p, nil
}

// appendPrefix returns the prefix of a message of type t (with the encoded
// PQXDH header for TypePreKey).
func appendPrefix(b []byte, t MessageType, header []byte) []byte {
	b = append(b, Version, byte(t))
	if t == TypePreKey {
		b = binary.BigEndian.AppendUint16(b, uint16(len(header)))
		b = append(b, header...)
	}
	return b
}
