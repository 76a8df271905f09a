// Package session is one end-to-end encrypted session between two devices:
// PQXDH to start it (package pqxdh) and the Double Ratchet for every
// message (package ratchet), with versioned, typed messages.
//
// The initiator calls Initiate with the other device's prekey bundle and
// sends TypePreKey messages, which carry the PQXDH header, until it has
// decrypted a reply; then it sends plain TypeMessage messages. The
// responder receives the first message with Respond, which returns a
// Session only if the message decrypts, and the one-time prekeys to delete
// then. The type byte and the PQXDH header are bound into every message's
// associated data.
//
// A client keeps, per remote device, the sessions it has, and routes each
// incoming message with Peek: a TypePreKey message whose base key (the
// initiator's ephemeral key) matches a session goes to that session's
// Decrypt, which rejects a replay as ErrDuplicate, also after a restart;
// one with a new base key goes to Respond. Plaintexts are padded (see
// padding.go) so that lengths leak little, and every message fits a relay
// envelope of MaxMessageLen bytes.
//
// A Session holds secrets: it prints as REDACTED, cannot be compared, and
// is serialized with MarshalBinary for the vault only. It is not safe for
// concurrent use. Layouts are in docs/protocol.md, "Session messages".
package session

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/pqxdh"
	"parley.dev/internal/ratchet"
)

// Size limits.
const (
	// MaxMessageLen is the largest session message: a relay envelope
	// (wire.DefaultMaxEnvelope, 256 KiB).
	MaxMessageLen = 256 << 10
	// MaxPlaintextLen is the largest plaintext Encrypt accepts. Padded
	// (at most 233,472 bytes), sealed and prefixed with a PQXDH header it
	// stays under MaxMessageLen.
	MaxPlaintextLen = 224 << 10
)

// Errors callers branch on. ErrDuplicate, ErrDecrypt and ErrTooFarAhead
// are the ratchet's.
var (
	ErrMalformed      = errors.New("session: malformed message")
	ErrVersion        = errors.New("session: unsupported version")
	ErrTooLarge       = errors.New("session: too large")
	ErrWrongType      = errors.New("session: unexpected message type")
	ErrOtherSession   = errors.New("session: prekey message of another session")
	ErrSenderMismatch = errors.New("session: sender differs from the address the message claims")
	ErrDuplicate      = ratchet.ErrDuplicate
	ErrDecrypt        = ratchet.ErrDecrypt
	ErrTooFarAhead    = ratchet.ErrTooFarAhead
	ErrWrongRecipient = pqxdh.ErrWrongRecipient
)

// Session is one side of a session with one remote device. Make one with
// Initiate, Respond or Unmarshal; the zero value is unusable.
type Session struct {
	_              [0]func()
	local, remote  addr.Address
	remoteIdentity keys.IdentityPublic
	initiator      bool
	confirmed      bool                  // initiator: a reply decrypted, so stop sending the header
	baseKey        [keys.X25519Size]byte // the initiator's ephemeral key
	header         []byte                // initiator: the encoded PQXDH header
	ratchet        *ratchet.State
}

// Initiate starts a session from local (at localAddr) with the device of
// bundle b. b is verified (pqxdh.Initiate). The caller checks b.Identity
// is the identity it expects for b.Address.User (attack 5).
func Initiate(local *keys.Identity, localAddr addr.Address, b *keys.Bundle) (*Session, error) {
	h, res, err := pqxdh.Initiate(local, localAddr, b)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	defer res.Wipe()
	spk, err := b.SignedPreKey.Key()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	sk := res.SessionKey()
	defer clear(sk)
	r, err := ratchet.NewInitiator(sk, res.AssociatedData(), spk)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	header, err := h.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return &Session{
		local: localAddr, remote: b.Address, remoteIdentity: b.Identity,
		initiator: true, baseKey: h.Ephemeral, header: header, ratchet: r,
	}, nil
}

// Respond starts a session from a first message msg (TypePreKey) that the
// relay attests came from device from, at local (at localAddr), with its
// prekeys in prekeys. It returns the session and the plaintext only if
// the message decrypts; then the caller deletes the prekeys in used. On
// any error nothing was consumed and nothing changed (attack 12).
//
// The caller must first Peek and route a message whose base key matches
// an existing session to that session (attack 2). It must also compare
// RemoteIdentity with the identity it knows for from.User (attack 5).
func Respond(local *keys.Identity, localAddr, from addr.Address, prekeys pqxdh.PreKeySource, msg []byte) (*Session, []byte, pqxdh.Used, error) {
	p, err := parse(msg)
	if err != nil {
		return nil, nil, pqxdh.Used{}, err
	}
	h := p.info.Header
	if p.info.Type != TypePreKey {
		return nil, nil, pqxdh.Used{}, fmt.Errorf("%w: %v, want a prekey message", ErrWrongType, p.info.Type)
	}
	if h.From != from {
		return nil, nil, pqxdh.Used{}, fmt.Errorf("%w: sent by %s, header says %s", ErrSenderMismatch, from, h.From)
	}
	s, used, err := respond(local, localAddr, prekeys, h)
	if err != nil {
		return nil, nil, pqxdh.Used{}, err
	}
	plaintext, err := s.open(p)
	if err != nil {
		return nil, nil, pqxdh.Used{}, err
	}
	return s, plaintext, used, nil
}

// respond runs PQXDH and starts the responder's ratchet.
func respond(local *keys.Identity, localAddr addr.Address, prekeys pqxdh.PreKeySource, h *pqxdh.Header) (*Session, pqxdh.Used, error) {
	res, used, err := pqxdh.Respond(local, localAddr, h, prekeys)
	if err != nil {
		return nil, used, fmt.Errorf("session: %w", err)
	}
	defer res.Wipe()
	spk, err := prekeys.SignedPreKey(h.SignedPreKey)
	if err != nil {
		return nil, used, fmt.Errorf("session: %w", err)
	}
	sk := res.SessionKey()
	defer clear(sk)
	raw := spk.PrivateKey().SecretBytes()
	defer clear(raw)
	dhs, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return nil, used, fmt.Errorf("session: %w", err)
	}
	r, err := ratchet.NewResponder(sk, res.AssociatedData(), dhs)
	if err != nil {
		return nil, used, fmt.Errorf("session: %w", err)
	}
	return &Session{
		local: localAddr, remote: h.From, remoteIdentity: h.Identity,
		baseKey: h.Ephemeral, ratchet: r,
	}, used, nil
}

// Encrypt pads and seals plaintext (at most MaxPlaintextLen bytes) as the
// next message to the remote device. The caller persists the session
// before sending the result.
func (s *Session) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextLen {
		return nil, fmt.Errorf("%w: plaintext is %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintextLen)
	}
	t := TypeMessage
	if s.initiator && !s.confirmed {
		t = TypePreKey
	}
	prefix := appendPrefix(nil, t, s.header)
	padded := pad(plaintext)
	defer clear(padded)
	body, err := s.ratchet.Encrypt(padded, prefix)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return append(prefix, body...), nil
}

// Decrypt opens a message from the remote device. It is transactional: on
// any error the session is exactly as before, with one exception: bad
// padding inside a message that authenticates consumes that message (only
// the remote device can produce one). A replayed message fails with
// ErrDuplicate; a TypePreKey message of another session (another base
// key) with ErrOtherSession, which the caller routes to Respond.
func (s *Session) Decrypt(msg []byte) ([]byte, error) {
	p, err := parse(msg)
	if err != nil {
		return nil, err
	}
	if h := p.info.Header; h != nil {
		if s.initiator {
			return nil, fmt.Errorf("%w: prekey message to the initiator", ErrWrongType)
		}
		if h.Ephemeral != s.baseKey {
			return nil, ErrOtherSession
		}
		if h.From != s.remote || h.To != s.local {
			return nil, fmt.Errorf("%w: addresses differ from the session's", ErrMalformed)
		}
	}
	plaintext, err := s.open(p)
	if err != nil {
		return nil, err
	}
	if s.initiator && !s.confirmed {
		s.confirmed, s.header = true, nil
	}
	return plaintext, nil
}

// open decrypts and unpads.
func (s *Session) open(p parsed) ([]byte, error) {
	padded, err := s.ratchet.Decrypt(p.body, p.prefix)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return unpad(padded)
}

// RemoteIdentity returns the remote user's identity: from the bundle for
// the initiator, from the first message for the responder.
func (s *Session) RemoteIdentity() keys.IdentityPublic { return s.remoteIdentity }

// RemoteAddress returns the remote device's address.
func (s *Session) RemoteAddress() addr.Address { return s.remote }

// LocalAddress returns this device's address.
func (s *Session) LocalAddress() addr.Address { return s.local }

// BaseKey returns the session's base key, the initiator's PQXDH ephemeral
// key: what routes TypePreKey messages to their session.
func (s *Session) BaseKey() [keys.X25519Size]byte { return s.baseKey }

// Initiator reports whether this side started the session.
func (s *Session) Initiator() bool { return s.initiator }

// Format, String and GoString print REDACTED for every verb.
func (Session) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (Session) String() string             { return redacted }
func (Session) GoString() string           { return redacted }

const redacted = "REDACTED"
