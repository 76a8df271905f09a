// Package store persists what the relay must remember: accounts, device
// public keys, prekeys, single-use registration tokens and mailboxes of
// opaque envelopes. It holds nothing a relay could read: envelope payloads
// are end-to-end ciphertext, keys are public keys.
//
// There is ONE SQL code path. The same statements (with $n placeholders)
// run on SQLite (the embedded default, see Open) and PostgreSQL; migrations
// are embedded. The storetest package is the conformance suite every
// implementation passes.
//
// Durability: Submit returns only after the envelopes are committed to
// disk; concurrent submissions are group-committed by one writer. Ack
// deletes need not be synced on their own: losing one only redelivers an
// envelope the client drops as a duplicate.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
)

// Errors callers branch on. Implementations wrap them with context.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrExists      = errors.New("store: already exists")
	ErrTokenUsed   = errors.New("store: registration token already used")
	ErrMailboxFull = errors.New("store: mailbox full")
	ErrLimit       = errors.New("store: limit exceeded")
	ErrClosed      = errors.New("store: closed")
	// ErrConflict is Register's answer when the user's state is not what
	// the caller read (another registration came first): nothing changed;
	// read again and decide again.
	ErrConflict = errors.New("store: changed concurrently; read again and retry")
	// ErrChallengeUsed is UseChallenge's answer to a challenge already
	// used. It wraps ErrExists.
	ErrChallengeUsed = fmt.Errorf("store: challenge already used: %w", ErrExists)
	// ErrInvalid is wrapped when an argument is malformed or out of range
	// (an invalid address, a zero message ID, an oversized value). The
	// call changes nothing.
	ErrInvalid = errors.New("store: invalid argument")
)

// Store is the relay's persistence. Implementations are safe for concurrent
// use. Every method may fail; none panics on bad input.
type Store interface {
	// CreateUser records a new user with its public identity.
	// It fails with ErrExists if the user exists.
	CreateUser(ctx context.Context, u User) error
	// ReplaceIdentity sets a new identity for an existing user and revokes
	// all of its devices (their keys and mailboxes are deleted) in one
	// transaction. It returns the revoked device IDs.
	ReplaceIdentity(ctx context.Context, u User) ([]addr.DeviceID, error)
	// User returns a user, or ErrNotFound.
	User(ctx context.Context, id addr.UserID) (User, error)

	// AddDevice assigns the user's next device ID (never reused) to d and
	// stores it. d.Address.Device is ignored. It fails with ErrNotFound if
	// the user does not exist and with ErrLimit if the user already has
	// MaxDevices devices.
	AddDevice(ctx context.Context, d Device) (addr.DeviceID, error)
	// Device returns one device, or ErrNotFound (also once revoked).
	Device(ctx context.Context, a addr.Address) (Device, error)
	// Devices lists a user's current devices in ID order.
	Devices(ctx context.Context, u addr.UserID) ([]Device, error)
	// RevokeDevice deletes a device, its prekeys and its mailbox.
	RevokeDevice(ctx context.Context, a addr.Address) error

	// Register applies one device registration in one transaction: it
	// marks the token (if any) used, creates the user or replaces its
	// identity (if asked), and adds the device. Either all of it is
	// committed, durably, or none: a registration that fails leaves its
	// token unused. Errors, each changing nothing: ErrTokenUsed; ErrLimit
	// when the user has r.MaxDevices devices or has used every device ID;
	// ErrConflict when the user's identity is not r.Current; ErrInvalid.
	Register(ctx context.Context, r Registration) (Registered, error)

	// UseToken marks a registration token (by its hash) as used until it
	// expires. A second use fails with ErrTokenUsed. The caller must itself
	// refuse tokens past their expiry: once expired, a hash is forgotten.
	UseToken(ctx context.Context, hash [32]byte, expires time.Time) error

	// SharedKey returns the 32-byte secret called name (1 to 64 bytes of
	// printable ASCII), generating a random one and storing it on first
	// use, so that every relay node on one database gets the same bytes.
	// It is a secret: never log it.
	SharedKey(ctx context.Context, name string) ([32]byte, error)
	// UseChallenge records a challenge as used until expires, durably
	// before it returns. A second use fails with ErrChallengeUsed.
	UseChallenge(ctx context.Context, challenge [32]byte, expires time.Time) error
	// PurgeChallenges forgets up to limit used challenges whose expiry is
	// not after now and reports how many it forgot. A limit above
	// MaxBatch is lowered to it; below 1 it is ErrInvalid.
	PurgeChallenges(ctx context.Context, now time.Time, limit int) (int, error)

	// PutPreKeys stores a device's prekeys: Signed and LastResortKEM replace
	// the current ones when set; one-time keys are appended, and the call
	// fails with ErrLimit (storing nothing) if a kind would exceed
	// MaxOneTimePreKeys or an ID is already present.
	PutPreKeys(ctx context.Context, a addr.Address, up PreKeyUpload) error
	// TakeBundle returns the device's signed prekey and KEM prekey and
	// removes the one-time keys it hands out, so that each is handed out at
	// most once. With no one-time KEM key left it returns the last-resort
	// KEM key; with no one-time EC key left, OneTimeEC is nil. ErrNotFound
	// if the device has no signed prekey or no KEM key at all.
	TakeBundle(ctx context.Context, a addr.Address) (Bundle, error)
	// PreKeyCounts reports how many one-time keys a device has left.
	PreKeyCounts(ctx context.Context, a addr.Address) (PreKeyCounts, error)

	// Submit stores envelopes durably, returning one result per envelope
	// in order. It is idempotent on (To, From, ID): a resubmission reports
	// Duplicate and stores nothing. An envelope to an unknown device gets
	// ErrNotFound and one to a mailbox at its cap gets ErrMailboxFull, in
	// its result; the others are still stored. A zero Created becomes
	// now, a zero Expires becomes Created plus the TTL option, and a zero
	// Kind means KindMessage; callers may not submit KindExpired. A
	// malformed envelope (invalid address, zero ID, empty or oversized
	// payload, Expires not after Created) or more than MaxBatch envelopes
	// fail the whole call with ErrInvalid, storing nothing. An envelope
	// acknowledged (deleted) and then resubmitted is stored again.
	Submit(ctx context.Context, envs []Envelope) ([]SubmitResult, error)
	// Pending returns up to limit envelopes of a mailbox with Seq > after,
	// in Seq order, skipping expired ones. A limit above MaxBatch is
	// lowered to it; a limit below 1 is ErrInvalid. An unknown mailbox is
	// empty.
	Pending(ctx context.Context, to addr.Address, after int64, limit int) ([]Envelope, error)
	// Ack deletes the given envelopes of one mailbox and reports how many
	// existed. Seqs of other mailboxes are ignored. It returns after the
	// deletion is committed but does not wait for it to reach the disk.
	Ack(ctx context.Context, to addr.Address, seqs []int64) (int, error)
	// Expire deletes up to limit envelopes whose Expires is not after now
	// and, in the same transaction, queues one KindExpired notice per
	// (sender, recipient) pair into the sender's mailbox (if the sender
	// device still exists and its mailbox is below its cap). It returns
	// the expired KindMessage envelopes grouped by (sender, recipient);
	// expired notices are deleted silently. It also forgets registration
	// tokens whose expiry is not after now. A limit above MaxBatch is
	// lowered to it.
	Expire(ctx context.Context, now time.Time, limit int) ([]Expired, error)
	// MailboxLen returns the number of envelopes queued for a device
	// (expired ones included until Expire removes them), or ErrNotFound.
	MailboxLen(ctx context.Context, a addr.Address) (int, error)

	// UnlockStore keeps the relay PIN factor's keys and counters.
	UnlockStore
	// AdminStore serves the admin console: listing, suspension, erasure.
	AdminStore
	// AuditStore keeps the hash-chained audit log.
	AuditStore

	// PushStore keeps devices' push tokens and wake-up windows.
	PushStore
	// PolicyStore keeps the tenant's signed policies.
	PolicyStore

	// Close flushes pending writes and closes the database.
	Close() error
}

// Limits every implementation enforces. Exceeding a size or batch limit
// fails with ErrInvalid; exceeding a count limit fails with ErrLimit.
const (
	// MaxOneTimePreKeys is the most one-time keys of one kind a device may
	// have stored.
	MaxOneTimePreKeys = 1000
	// MaxDevices is the most current (unrevoked) devices a user may have.
	MaxDevices = 100
	// MaxValueLen bounds every stored public value: an identity, a device
	// key or certificate, a prekey's public key or signature. (An
	// ML-KEM-1024 public key is 1,568 bytes.)
	MaxValueLen = 8 << 10
	// MaxPayloadLen bounds one envelope's payload (the largest a wire
	// frame carries; the relay may accept less).
	MaxPayloadLen = 1 << 20
	// MaxBatch is the most envelopes one Submit call takes, and the most
	// rows one Pending or Expire call returns (larger limits are lowered
	// to it).
	MaxBatch = 1000
	// DefaultMailboxCap is the default most envelopes queued per device.
	DefaultMailboxCap = 20000
	// DefaultTTL is how long an envelope waits when Submit is given no
	// Expires.
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultNoticeTTL is how long a KindExpired notice waits.
	DefaultNoticeTTL = 30 * 24 * time.Hour
)

// User is an account: an ID and the encoded public identity (see
// internal/keys).
type User struct {
	ID       addr.UserID
	Identity []byte
	Created  time.Time
	// Suspended is set by SetSuspended (read-only elsewhere): the user's
	// devices may not authenticate.
	Suspended bool
}

// Registration is one device registration (see Store.Register).
type Registration struct {
	// User names the user; its Identity is stored (and required) when
	// the user is created or its identity replaced; Created defaults to
	// now.
	User User
	// Current is the user's identity as the caller read it before
	// deciding: nil if the user did not exist. The registration goes
	// ahead only if that is still so (else ErrConflict).
	Current []byte
	// Replace makes User.Identity the user's identity in place of Current
	// and revokes all of its devices first (see ReplaceIdentity).
	Replace bool
	// Device is the new device's key and certificate (Address is
	// ignored; Created defaults to now).
	Device Device
	// Token, if not nil, is used as UseToken would.
	Token *Token
	// MaxDevices is the most devices the user may have with the new one
	// (0 or more than MaxDevices: MaxDevices).
	MaxDevices int
}

// Token is a registration token by its hash, kept until it expires.
type Token struct {
	Hash    [32]byte
	Expires time.Time
}

// Registered is what Register did.
type Registered struct {
	Device  addr.DeviceID   // the new device's ID
	NewUser bool            // the user was created
	Revoked []addr.DeviceID // devices revoked by replacing the identity
}

// Device is one registered device: its address, its encoded public
// authentication key and the certificate by which the user's identity key
// vouches for it (both see internal/keys).
type Device struct {
	Address addr.Address
	Key     []byte
	Cert    []byte
	Created time.Time
	// LastSeen is when the device last connected (Touch), zero if never.
	// Devices lists it; Device too. Read-only.
	LastSeen time.Time
	// Suspended is the user's suspension (Device only; read-only).
	Suspended bool
}

// PreKey is one encoded public prekey as uploaded by its device. The store
// does not interpret Public or Signature.
type PreKey struct {
	ID        uint32
	Public    []byte
	Signature []byte
}

// PreKeyUpload is one upload of prekeys by a device.
type PreKeyUpload struct {
	Signed        *PreKey
	LastResortKEM *PreKey
	OneTimeEC     []PreKey
	OneTimeKEM    []PreKey
}

// Bundle is what a sender fetches to start a session with a device.
type Bundle struct {
	Signed        PreKey
	OneTimeEC     *PreKey // nil when exhausted
	KEM           PreKey
	KEMLastResort bool // KEM is the last-resort key
}

// PreKeyCounts is how many one-time keys a device has left.
type PreKeyCounts struct {
	OneTimeEC  int
	OneTimeKEM int
}

// Kind tells what an envelope carries.
type Kind uint8

const (
	// KindMessage is end-to-end ciphertext from another device.
	KindMessage Kind = 1
	// KindExpired is a relay notice: Payload is the concatenated 16-byte IDs
	// of messages this device sent to From that expired undelivered.
	KindExpired Kind = 2
)

// Envelope is one queued item of a mailbox.
type Envelope struct {
	Seq     int64 // assigned by Submit; orders a mailbox
	To      addr.Address
	From    addr.Address
	ID      addr.MessageID
	Kind    Kind
	Created time.Time
	Expires time.Time
	Payload []byte
}

// SubmitResult is the outcome of one submitted envelope.
type SubmitResult struct {
	Seq       int64 // of the stored (or previously stored) envelope
	Duplicate bool  // an envelope with this (To, From, ID) was already stored
	Err       error // nil, or wraps ErrNotFound or ErrMailboxFull
}

// Expired is what Expire removed for one (sender, recipient) pair.
type Expired struct {
	From addr.Address
	To   addr.Address
	IDs  []addr.MessageID
}
