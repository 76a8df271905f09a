// Package group is end-to-end encrypted group messaging: who is in a group,
// agreed by signatures the relay cannot forge, and sender keys that let a
// device encrypt a group message once for every member device.
//
// # Membership
//
// A group is an [ID] and a chain of [State]s. Each state (epoch, name,
// members with their identity keys and roles) names the hash of the state
// before it. A [Change] (create, add, remove, leave, promote, demote,
// rename) moves a group from one epoch to the next: it is signed by an
// admin's identity key (a leave by the leaving member's) and names the
// epoch and the hash of the state it applies to. [State.Apply] accepts a
// change only if it verifies against that state, so a relay cannot add a
// member, roll a group back or fork it unnoticed. A [Log] is one device's
// view: the current state, a window of recent ones, changes waiting for
// their parent, and the rules for forks, rollbacks and concurrent admins
// (the lower resulting state hash wins; the loser is reported). A device
// joins through a [Welcome]: the state before the change that added it,
// and that change.
//
// # Sender keys
//
// Each member device sends on a [SenderChain], as in Signal's and
// WhatsApp's sender keys: a chain key ratcheted by HMAC (forward secrecy)
// and an Ed25519 key that signs every message, so that members, who all
// hold the chain key, cannot forge each other's messages. A [Distribution]
// gives the chain, at its current iteration, to a device over the pairwise
// session (never through the relay in the clear); it is bound to the group,
// the epoch and state hash it was given in, and the sending device. A
// [Message] is sealed once (AES-256-GCM) and signed once; its associated
// data binds the group ID, the epoch, the state hash and the sender's
// device. A [ReceiverChain] opens the messages of one sender chain with the
// Double Ratchet's bounds: at most [MaxSkip] keys skipped per message and
// [MaxSkippedKeys] kept per chain, duplicates refused.
//
// When anyone leaves or is removed, the state records the epoch of that
// removal, and every sender chain older than it is refused for messages of
// later epochs: each remaining device starts a fresh chain and gives it to
// the remaining devices only ([NeedsRotation]), so a removed member cannot
// read what is sent after its removal. A new member receives chains at their
// current iteration, so it cannot read what was sent before it joined.
//
// # Devices
//
// [Replica] ties it together for one device of one member: the log, its own
// chain with the set of devices holding it, the chains of the others, and
// messages waiting for a change or a chain. It is pure (no I/O) and persists
// in parts, so that a message costs one small record, not the whole group.
//
// Encodings are versioned and typed (docs/protocol.md, "Groups"); every
// parser checks version, type, lengths and canonical order, and accepts one
// encoding per value. Secret-bearing values ([SenderChain],
// [ReceiverChain], [Distribution], [Replica]) print as REDACTED.
package group

import (
	"encoding/hex"
	"errors"

	"parley.dev/internal/ratchet"
)

// Version is the first byte of every encoding of this package.
const Version = 1

// Type bytes: the second byte of every encoding. Public kinds have the high
// bit clear, secret ones set.
const (
	typeState          = 0x01
	typeChange         = 0x02
	typeWelcome        = 0x03
	typeDistribution   = 0x04 // secret: carries a chain key; sent in sessions only
	typeMessage        = 0x05
	typeLog            = 0x06
	typeSenderChain    = 0x81
	typeReceiverChains = 0x82
	typePending        = 0x83
)

// Limits.
const (
	// MaxMembers is the most members a group may have.
	MaxMembers = 1000
	// MaxNameLen is the longest group name, in bytes of UTF-8.
	MaxNameLen = 128
	// MaxKeptStates is how many recent states a Log keeps (the current one
	// included), so that messages and chains of earlier epochs still in
	// flight can be checked against the membership they were sent in.
	MaxKeptStates = 16
	// MaxPendingChanges is how many changes for future epochs a Log keeps
	// while it waits for the ones before them; the oldest is dropped.
	MaxPendingChanges = 64
	// MaxSkip is how many message keys one message may make a receiver
	// skip in one chain: the Double Ratchet's number.
	MaxSkip = ratchet.MaxSkip
	// MaxSkippedKeys is how many skipped message keys a receiving chain
	// keeps, oldest evicted first: the Double Ratchet's number.
	MaxSkippedKeys = ratchet.MaxSkippedKeys
	// MaxChainsPerSender is how many chains of one sending device a
	// receiver keeps (a new one arrives at each rotation); the oldest is
	// dropped.
	MaxChainsPerSender = 4
	// MaxPlaintextLen is the longest plaintext a message carries.
	MaxPlaintextLen = 128 << 10
	// MaxMessageLen is the longest message: the padded plaintext and the
	// header, tag and signature, within a relay envelope.
	MaxMessageLen = 160 << 10
	// MaxPendingMessages is how many messages a Replica keeps while it
	// waits for their state or chain; the oldest is dropped.
	MaxPendingMessages = 256
	// MaxPendingDistributions is how many distributions a Replica keeps
	// while it waits for their state; the oldest is dropped.
	MaxPendingDistributions = 256
)

// Errors callers branch on with errors.Is.
var (
	// ErrMalformed: bytes that do not parse.
	ErrMalformed = errors.New("group: malformed")
	// ErrVersion: an unknown version of an encoding.
	ErrVersion = errors.New("group: unsupported version")
	// ErrTooLarge: a name, member list, plaintext or message over its limit.
	ErrTooLarge = errors.New("group: too large")
	// ErrUnauthorized: a change not signed, or signed by someone the state
	// does not allow to make it.
	ErrUnauthorized = errors.New("group: change not authorized")
	// ErrInvalidChange: a change that makes no sense in the state it names
	// (adding a member, removing a non-member, removing the last admin ...).
	ErrInvalidChange = errors.New("group: change not valid in this state")
	// ErrFork: a change or message that belongs to another branch of the
	// group's history than the one this device holds.
	ErrFork = errors.New("group: fork: another history of this group")
	// ErrRollback: a change or state older than what this device holds.
	ErrRollback = errors.New("group: rollback: older than the state held")
	// ErrConflict: a change that lost to a concurrent change of the same
	// epoch (the lower state hash wins), or that builds on one that lost.
	ErrConflict = errors.New("group: lost to a concurrent change")
	// ErrDuplicate: a change, distribution or message already processed.
	ErrDuplicate = errors.New("group: duplicate")
	// ErrNotMember: a sender or recipient that is not a member in the
	// state a message or chain names.
	ErrNotMember = errors.New("group: not a member")
	// ErrUnknownState: a message or distribution names a state this device
	// does not hold (yet).
	ErrUnknownState = errors.New("group: unknown state")
	// ErrNoChain: a message under a chain this device has not received.
	ErrNoChain = errors.New("group: unknown sender chain")
	// ErrStaleChain: a chain older than the last removal.
	ErrStaleChain = errors.New("group: sender chain predates a removal")
	// ErrTooFarAhead: a message that would skip more than MaxSkip keys.
	ErrTooFarAhead = errors.New("group: message too far ahead")
	// ErrDecrypt: a message whose signature or ciphertext does not verify.
	ErrDecrypt = errors.New("group: message authentication failed")
	// ErrChainExhausted: a sending chain that has used every counter.
	ErrChainExhausted = errors.New("group: sender chain exhausted")
)

// ID names a group. It is cut from a hash of the creator's user ID,
// identity and a random nonce, so that no one else can create a group
// with the ID of another.
type ID [16]byte

// String returns the ID as 32 hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID reads the form String writes.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, ErrMalformed
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || id.IsZero() {
		return ID{}, ErrMalformed
	}
	return id, nil
}

// Hash is a state hash or a change digest.
type Hash [KeySize]byte

// String returns the hash as 64 hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Less reports whether h sorts before o (bytewise).
func (h Hash) Less(o Hash) bool {
	for i := range h {
		if h[i] != o[i] {
			return h[i] < o[i]
		}
	}
	return false
}
