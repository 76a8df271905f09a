// Package audit is the relay's tamper-evident audit log: an append-only
// list of security events and admin actions, each entry holding the
// SHA-256 of the one before it, so that editing, deleting or reordering
// any entry breaks the chain and Verify finds where.
//
// The package is pure: it defines the entry, its hash and the check. The
// relay's store (internal/store) keeps the entries and the chain's head,
// and serialises appends from every relay node into one chain.
//
// Entries carry no message content and no contact graph: who did what to
// which account or device, and when. Never put a token, key, PIN or
// envelope into Detail.
//
// # Hash
//
//	hash = SHA-256("parley audit v1" || prev || seq (8 bytes, big endian) ||
//	               time (Unix microseconds, 8 bytes) ||
//	               len(kind) || kind || len(actor) || actor ||
//	               len(subject) || subject || len(detail) || detail)
//
// with each len a 2-byte big-endian length. The first entry's prev is the
// zero hash, or, once old entries were pruned, the hash of the last pruned
// entry (the Anchor).
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// hashLabel separates audit hashes from every other SHA-256 use.
const hashLabel = "parley audit v1"

// MaxField bounds each text field of an entry, in bytes.
const MaxField = 512

// Kind names what happened. The set is open: new kinds may be added.
type Kind string

// The events the relay logs.
const (
	Register      Kind = "register"       // a new account and its first device
	DeviceLink    Kind = "device.link"    // another device added to an account
	DeviceRevoke  Kind = "device.revoke"  // a device revoked (by its user or an admin)
	IdentityReset Kind = "identity.reset" // an account's identity replaced, its devices revoked
	TokenUse      Kind = "token.use"      // a registration token used
	UnlockLockout Kind = "unlock.lockout" // a vault's PIN factor destroyed after too many wrong PINs
	PolicyPublish Kind = "policy.publish" // a tenant policy published
	UserSuspend   Kind = "user.suspend"   // an account suspended
	UserResume    Kind = "user.resume"    // an account resumed
	UserDelete    Kind = "user.delete"    // an account erased (by its user or an admin)
	TokenMint     Kind = "token.mint"     // an admin minted a registration token
	AuditPrune    Kind = "audit.prune"    // entries older than the retention removed
)

// Hash is an entry's SHA-256 chain hash.
type Hash [sha256.Size]byte

// String is the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText makes JSON carry the hash in hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form.
func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("audit: hash of %d hex digits, want %d", len(b), 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Entry is one audit log entry. The store sets Seq, Time, Prev and Hash
// when it appends; the caller fills Kind, Actor, Subject and Detail.
type Entry struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"kind"`
	Actor   string    `json:"actor"`            // "admin", "relay", or the acting device's address
	Subject string    `json:"subject"`          // the account or device acted on
	Detail  string    `json:"detail,omitempty"` // a short, content-free note
	Prev    Hash      `json:"prev"`
	Hash    Hash      `json:"hash"`
}

// Check reports whether the caller's fields are within bounds.
func (e Entry) Check() error {
	if e.Kind == "" {
		return errors.New("audit: entry without a kind")
	}
	for name, v := range map[string]string{"kind": string(e.Kind), "actor": e.Actor, "subject": e.Subject, "detail": e.Detail} {
		if len(v) > MaxField {
			return fmt.Errorf("audit: %s of %d bytes, at most %d", name, len(v), MaxField)
		}
	}
	return nil
}

// Sum computes e's hash from its fields and e.Prev.
func (e Entry) Sum() Hash {
	h := sha256.New()
	h.Write([]byte(hashLabel))
	h.Write(e.Prev[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixMicro()))
	h.Write(n[:])
	for _, f := range []string{string(e.Kind), e.Actor, e.Subject, e.Detail} {
		binary.BigEndian.PutUint16(n[:2], uint16(min(len(f), 0xffff)))
		h.Write(n[:2])
		h.Write([]byte(f))
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// PruneEntry is the entry a store appends when it prunes the log through
// entry seq, in the same transaction. Verify requires one naming the
// anchor of a pruned log, so that entries deleted from the front without
// a prune show.
func PruneEntry(seq int64) Entry {
	return Entry{Kind: AuditPrune, Actor: "relay", Detail: pruneDetail(seq)}
}

func pruneDetail(seq int64) string { return fmt.Sprintf("through entry %d", seq) }

// Anchor is where the stored chain starts: the sequence number and hash of
// the last entry pruned (zero for a log never pruned), and where it ends:
// the head the store recorded with its last append.
type Anchor struct {
	Seq      int64 `json:"seq"`
	Hash     Hash  `json:"hash"`
	HeadSeq  int64 `json:"head_seq"`
	HeadHash Hash  `json:"head_hash"`
}

// ErrBroken is wrapped by Verify's errors.
var ErrBroken = errors.New("audit: chain broken")

// BreakError says where the chain breaks.
type BreakError struct {
	Seq    int64  // the entry where the break shows
	Reason string // what is wrong there
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("audit: chain broken at entry %d: %s", e.Seq, e.Reason)
}

func (e *BreakError) Unwrap() error { return ErrBroken }

// Verify checks that entries, in the order given, form one unbroken chain
// from a.Seq/a.Hash to a.HeadSeq/a.HeadHash: consecutive sequence numbers,
// each Prev the hash of the entry before, each Hash its fields' hash. An
// edited entry fails its own hash; a deleted one leaves a gap; reordered
// ones are out of sequence; a removed tail misses the head. It returns
// a *BreakError (wrapping ErrBroken) at the first break.
func Verify(a Anchor, entries []Entry) error {
	v := NewVerifier(a)
	for _, e := range entries {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return v.End()
}

// Verifier checks a chain one entry at a time, so that a long log need
// not fit in memory. The zero value is not usable; see NewVerifier.
type Verifier struct {
	a      Anchor
	seq    int64
	prev   Hash
	n      int64
	pruned bool // a prune entry names the anchor
}

// NewVerifier starts a check from a's anchor.
func NewVerifier(a Anchor) *Verifier { return &Verifier{a: a, seq: a.Seq, prev: a.Hash} }

// Add checks the next entry.
func (v *Verifier) Add(e Entry) error {
	switch {
	case e.Seq != v.seq+1:
		return &BreakError{e.Seq, fmt.Sprintf("follows entry %d (an entry deleted or reordered)", v.seq)}
	case e.Prev != v.prev:
		return &BreakError{e.Seq, "does not hold the previous entry's hash"}
	case e.Sum() != e.Hash:
		return &BreakError{e.Seq, "its fields do not match its hash (edited)"}
	}
	v.seq, v.prev = e.Seq, e.Hash
	v.n++
	if e.Kind == AuditPrune && e.Detail == pruneDetail(v.a.Seq) {
		v.pruned = true
	}
	return nil
}

// Checked returns how many entries Add accepted.
func (v *Verifier) Checked() int64 { return v.n }

// End checks that the last entry added is the head and, for a pruned
// log, that a prune entry names its anchor.
func (v *Verifier) End() error {
	if v.a.Seq > 0 && !v.pruned {
		return &BreakError{v.a.Seq, "the log starts after it but no prune entry says so (entries deleted from the front)"}
	}
	if v.seq != v.a.HeadSeq || v.prev != v.a.HeadHash {
		return &BreakError{v.seq, fmt.Sprintf("the log ends at entry %d but its head is entry %d (entries removed or the head edited)", v.seq, v.a.HeadSeq)}
	}
	return nil
}
