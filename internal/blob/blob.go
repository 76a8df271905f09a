// Package blob is the relay's store of attachment blobs: opaque
// ciphertext that clients upload in parts, resumably, and download by an
// unguessable ID, until the blob expires.
//
// The relay cannot read a blob: clients encrypt attachments end to end
// (internal/stream) under keys that travel only inside end-to-end
// messages. The store keeps, per blob: its random ID, the uploading device
// (for the per-user quota and for listing one's own blobs), its declared
// size, the bytes stored so far with a running SHA-256, whether it is
// finished, and its creation and expiry times.
//
// Two backends share one SQL code path for that metadata:
//   - Disk (the embedded default): metadata in a SQLite file and contents in
//     one file per blob, under a directory; each part is fsynced before its
//     Append returns, and the metadata commit is synchronous.
//   - Postgres: metadata and contents (rows of at most ChunkRow bytes) in
//     PostgreSQL, so that every relay node sees every blob.
//
// The blobtest package is the conformance suite both pass.
//
// # Uploads
//
// Create reserves the declared size against the owner's quota. Append
// writes a part at an offset that must equal the bytes stored so far, so a
// client resumes by asking Stat for that offset; a part is all or nothing:
// a part cut short, or refused by the caller's verify function, leaves the
// blob as it was. Appends to one blob are serialized by a lease stored
// with the blob, so they are safe across relay nodes without holding a
// database transaction while a part streams in. Finish checks that every
// declared byte is stored and that their SHA-256 is the one the client
// computed, then makes the blob downloadable.
//
// Stores are safe for concurrent use.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"parley.dev/internal/addr"
)

// IDLen is the size of a blob ID: 128 random bits.
const IDLen = 16

// ID names a blob. IDs are drawn at random by the relay, so they cannot be
// guessed; whoever knows one may download the (encrypted) blob.
type ID [IDLen]byte

// NewID returns a fresh random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:]) // never fails (crypto/rand)
	return id
}

// String is the ID's text form: unpadded base64url (22 characters).
func (id ID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseID reads the text form.
func ParseID(s string) (ID, error) {
	var id ID
	// The decoder skips line breaks even in strict mode: one ID, one text.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != IDLen || strings.ContainsAny(s, "\r\n") {
		return id, fmt.Errorf("%w: blob ID %q", ErrInvalid, s)
	}
	copy(id[:], b)
	return id, nil
}

// Blob is what the store knows of one blob.
type Blob struct {
	ID    ID
	Owner addr.Address // the uploading device; quotas count per Owner.User
	// Size is the declared size in bytes; Stored is how many are stored.
	Size, Stored int64
	// Done is true once Finish accepted the blob; SHA256 is then its hash.
	Done    bool
	SHA256  [32]byte
	Created time.Time
	Expires time.Time
}

// Limits bound what one user may keep.
type Limits struct {
	// Quota is the most bytes (declared sizes) of one user's blobs.
	Quota int64
	// MaxBlobs is the most blobs one user may have.
	MaxBlobs int
}

// Usage is what a user's blobs take.
type Usage struct {
	Bytes int64
	Blobs int
}

// Errors callers branch on; implementations wrap them.
var (
	ErrNotFound   = errors.New("blob: not found")
	ErrInvalid    = errors.New("blob: invalid argument")
	ErrQuota      = errors.New("blob: quota exceeded")
	ErrTooLarge   = errors.New("blob: beyond the declared size")
	ErrShort      = errors.New("blob: part shorter than announced")
	ErrBusy       = errors.New("blob: another upload to this blob is running")
	ErrFinished   = errors.New("blob: already finished")
	ErrIncomplete = errors.New("blob: not every byte is stored")
	ErrMismatch   = errors.New("blob: SHA-256 does not match")
	ErrClosed     = errors.New("blob: store closed")
)

// OffsetError is returned by Append when the offset is not the number of
// bytes stored; the client resumes at Stored.
type OffsetError struct{ Stored int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("blob: offset mismatch, %d bytes stored", e.Stored)
}

// Store is the blob store. Every method may fail; none panics on bad
// input. A blob past its Expires is reported as not found even before
// Expire removes it.
type Store interface {
	// Create stores a new empty blob b (ID, Owner, Size, Created and
	// Expires set by the caller) if the owner's user stays within lim:
	// otherwise ErrQuota. Size must be at least 1.
	Create(ctx context.Context, b Blob, lim Limits) error
	// Append stores the next n bytes of r at offset, which must equal
	// the bytes stored (else *OffsetError), within the declared size
	// (else ErrTooLarge). Before committing, it calls verify (if not nil)
	// with the part's SHA-256; an error from verify, or fewer than n
	// bytes from r (ErrShort), commits nothing. It returns the blob as
	// stored afterwards. ErrBusy if another Append to the blob runs.
	Append(ctx context.Context, id ID, offset int64, r io.Reader, n int64, verify func(sum [32]byte) error) (Blob, error)
	// Finish makes a fully stored blob downloadable if its SHA-256 is
	// sum (else ErrMismatch, and nothing changes) and sets its expiry.
	Finish(ctx context.Context, id ID, sum [32]byte, expires time.Time) (Blob, error)
	// Stat returns a blob, finished or not.
	Stat(ctx context.Context, id ID) (Blob, error)
	// Open returns a reader of a finished blob (ErrNotFound otherwise).
	Open(ctx context.Context, id ID) (*Reader, error)
	// List returns the blobs uploaded by user's devices, oldest first.
	List(ctx context.Context, user addr.UserID) ([]Blob, error)
	// Usage returns what user's blobs take.
	Usage(ctx context.Context, user addr.UserID) (Usage, error)
	// Delete removes a blob and its contents.
	Delete(ctx context.Context, id ID) error
	// DeleteUser removes every blob of user's devices, finished or not,
	// with their contents, and the user's usage record (account
	// erasure). It returns how many blobs it removed.
	DeleteUser(ctx context.Context, user addr.UserID) (int, error)
	// Expire removes up to limit blobs whose Expires is not after now,
	// contents first, and returns how many it removed.
	Expire(ctx context.Context, now time.Time, limit int) (int, error)
	// Secret returns a random 32-byte secret created with the store and
	// the same for every relay node sharing it (for MAC keys).
	Secret(ctx context.Context) ([32]byte, error)
	// Close closes the store.
	Close() error
}

// Reader reads a finished blob. Close it.
type Reader struct {
	io.ReadSeekCloser
	Blob Blob
}

// Options configure a store. The zero value works.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational events; nil is silent. It never
	// receives blob contents.
	Logger *slog.Logger
	// LeaseTTL bounds one Append: its context is cut there, and another
	// Append may take the blob after it (default DefaultLeaseTTL).
	LeaseTTL time.Duration
	// CheckpointInterval bounds how long the metadata of a deleted or
	// expired blob stays in a file of the disk store: that often its
	// SQLite WAL is checkpointed and truncated, and once more at Close
	// (default DefaultCheckpointInterval; negative: only at Close).
	// PostgreSQL ignores it.
	CheckpointInterval time.Duration
	// NoMigrate makes Open check that the schema is current (failing
	// with ErrSchemaBehind if not) instead of migrating it: for
	// deployments that migrate as a step of their own (parleyd migrate).
	NoMigrate bool
}

// DefaultLeaseTTL is the default Options.LeaseTTL.
const DefaultLeaseTTL = 10 * time.Minute

// DefaultCheckpointInterval is the default Options.CheckpointInterval, the
// relay store's.
const DefaultCheckpointInterval = time.Minute

// MaxList is the most blobs List returns.
const MaxList = 10_000

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	return o
}
