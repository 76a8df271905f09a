package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"parley.dev/internal/addr"
)

// UnlockStore keeps the relay's half of the PIN factor (internal/unlock):
// per vault credential, the OPRF key, the verifier and the guess counter.
// Every write is durable (committed with a flush) before it returns: an
// evaluation is counted on disk before the relay answers it.
type UnlockStore interface {
	// EnrolUnlock stores a pending key (an OPRF key, no verifier yet) of
	// k.Device, and deletes that device's other pending keys. It fails
	// with ErrNotFound if the device does not exist, ErrExists if the
	// credential is taken, ErrLimit if the device already has
	// MaxUnlockKeys keys, and ErrInvalid for an empty OPRF key or a
	// verifier.
	EnrolUnlock(ctx context.Context, k UnlockKey) error
	// ActivateUnlock sets the verifier of dev's pending key cred, which
	// makes it usable. ErrNotFound unless dev has such a pending key.
	ActivateUnlock(ctx context.Context, dev addr.Address, cred UnlockCredential, verifier []byte) error
	// UnlockKey returns the key of cred (pending, active or destroyed),
	// or ErrNotFound.
	UnlockKey(ctx context.Context, cred UnlockCredential) (UnlockKey, error)
	// SetUnlockState replaces cred's counter by next if it still is old
	// and the key is not destroyed (compare and swap). It reports false,
	// writing nothing, otherwise.
	SetUnlockState(ctx context.Context, cred UnlockCredential, old, next UnlockState) (bool, error)
	// DestroyUnlock empties cred's OPRF key and verifier; the row stays,
	// so the relay can answer "locked". ErrNotFound if there is no row.
	DestroyUnlock(ctx context.Context, cred UnlockCredential) error
	// RetireUnlocks deletes dev's keys other than keep (all of them when
	// keep is nil) and returns how many it deleted.
	RetireUnlocks(ctx context.Context, dev addr.Address, keep *UnlockCredential) (int, error)
	// DestroyExhaustedUnlocks destroys up to limit keys (at most
	// MaxBatch) whose failures reached max and whose last evaluation is
	// not after before. It returns how many.
	DestroyExhaustedUnlocks(ctx context.Context, max uint32, before time.Time, limit int) (int, error)
}

// MaxUnlockKeys is the most unlock keys one device may have: one in use,
// one being enrolled while the vault's factors change, and tombstones.
const MaxUnlockKeys = 4

// UnlockValueLen is the size of an OPRF key and of a verifier.
const UnlockValueLen = 32

// UnlockCredential names a vault's unlock credential (its Ed25519 public
// key).
type UnlockCredential [32]byte

// UnlockKey is one vault's relay-side PIN factor.
type UnlockKey struct {
	Credential UnlockCredential
	Device     addr.Address
	OPRFKey    []byte // empty once destroyed
	Verifier   []byte // empty while pending, and once destroyed
	State      UnlockState
	Created    time.Time
}

// Destroyed reports whether the key was destroyed.
func (k UnlockKey) Destroyed() bool { return len(k.OPRFKey) == 0 }

// Pending reports whether the key waits for its verifier.
func (k UnlockKey) Pending() bool { return !k.Destroyed() && len(k.Verifier) == 0 }

// UnlockState is a key's guess counter. Times have microsecond precision;
// the zero time means never.
type UnlockState struct {
	Failures    uint32
	LastEval    time.Time
	LastSuccess time.Time
}

func unlockMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func fromUnlockMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

func checkUnlockState(s UnlockState) error {
	for name, t := range map[string]time.Time{"last evaluation": s.LastEval, "last success": s.LastSuccess} {
		if !t.IsZero() {
			if err := checkTime(name, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sqlStore) EnrolUnlock(ctx context.Context, k UnlockKey) error {
	if err := checkAddr(k.Device); err != nil {
		return err
	}
	if len(k.OPRFKey) != UnlockValueLen || len(k.Verifier) != 0 {
		return fmt.Errorf("%w: a pending unlock key has a %d-byte OPRF key and no verifier", ErrInvalid, UnlockValueLen)
	}
	if err := checkUnlockState(k.State); err != nil {
		return err
	}
	created := orNow(k.Created, s.opt.Now)
	if err := checkTime("unlock key created", created); err != nil {
		return err
	}
	u, d := string(k.Device.User), int64(k.Device.Device)
	return s.w.do(ctx, k.Device.User, true, 1, func(t *txn) error {
		if ok, err := t.queryRow(qLockDeviceRow, []any{u, d}, new(int64)); err != nil || !ok {
			return notFoundOr(err, "device %s", k.Device)
		}
		var n int64
		if _, err := t.queryRow(qCountUnlockKeys, []any{u, d}, &n); err != nil {
			return err
		}
		if n >= MaxUnlockKeys {
			return fmt.Errorf("%w: device %s has %d unlock keys", ErrLimit, k.Device, n)
		}
		if ok, err := t.queryRow(qUnlockExists, []any{k.Credential[:]}, new(int64)); err != nil || ok {
			return existsOr(err, "unlock credential")
		}
		if _, err := t.exec(qDeletePendingUnlocks, u, d); err != nil {
			return err
		}
		_, err := t.exec(qEnrolUnlock, k.Credential[:], u, d, k.OPRFKey, []byte{}, int64(k.State.Failures),
			micros(created), unlockMicros(k.State.LastEval), unlockMicros(k.State.LastSuccess))
		return err
	})
}

func notFoundOr(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: "+format, append([]any{ErrNotFound}, args...)...)
}

func existsOr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrExists, what)
}

func (s *sqlStore) ActivateUnlock(ctx context.Context, dev addr.Address, cred UnlockCredential, verifier []byte) error {
	if err := checkAddr(dev); err != nil {
		return err
	}
	if len(verifier) != UnlockValueLen {
		return fmt.Errorf("%w: verifier of %d bytes, want %d", ErrInvalid, len(verifier), UnlockValueLen)
	}
	return s.w.do(ctx, dev.User, true, 1, func(t *txn) error {
		n, err := t.exec(qActivateUnlock, cred[:], string(dev.User), int64(dev.Device), verifier)
		if err != nil || n > 0 {
			return err
		}
		return fmt.Errorf("%w: no pending unlock key of device %s with that credential", ErrNotFound, dev)
	})
}

func (s *sqlStore) UnlockKey(ctx context.Context, cred UnlockCredential) (UnlockKey, error) {
	k := UnlockKey{Credential: cred}
	var user string
	var dev, failures, created, lastEval, lastSuccess int64
	ok, err := s.queryRow(ctx, qUnlockKey, []any{cred[:]},
		&user, &dev, &k.OPRFKey, &k.Verifier, &failures, &created, &lastEval, &lastSuccess)
	if err != nil {
		return UnlockKey{}, err
	}
	if !ok {
		return UnlockKey{}, fmt.Errorf("%w: unlock credential", ErrNotFound)
	}
	if failures < 0 || failures > math.MaxUint32 || dev <= 0 || dev > math.MaxUint32 {
		return UnlockKey{}, fmt.Errorf("store: unlock key row out of range")
	}
	k.Device = addr.Address{User: addr.UserID(user), Device: addr.DeviceID(dev)}
	k.OPRFKey, k.Verifier = orNil(k.OPRFKey), orNil(k.Verifier)
	k.State = UnlockState{Failures: uint32(failures), LastEval: fromUnlockMicros(lastEval), LastSuccess: fromUnlockMicros(lastSuccess)}
	k.Created = fromMicros(created)
	return k, nil
}

func (s *sqlStore) SetUnlockState(ctx context.Context, cred UnlockCredential, old, next UnlockState) (bool, error) {
	if err := checkUnlockState(next); err != nil {
		return false, err
	}
	var swapped bool
	err := s.w.do(ctx, "", true, 1, func(t *txn) error {
		n, err := t.exec(qSetUnlockState, cred[:],
			int64(next.Failures), unlockMicros(next.LastEval), unlockMicros(next.LastSuccess),
			int64(old.Failures), unlockMicros(old.LastEval), unlockMicros(old.LastSuccess))
		swapped = n == 1
		return err
	})
	return swapped, err
}

func (s *sqlStore) DestroyUnlock(ctx context.Context, cred UnlockCredential) error {
	return s.w.do(ctx, "", true, 1, func(t *txn) error {
		n, err := t.exec(qDestroyUnlock, cred[:], []byte{})
		if err != nil || n > 0 {
			return err
		}
		return fmt.Errorf("%w: unlock credential", ErrNotFound)
	})
}

func (s *sqlStore) RetireUnlocks(ctx context.Context, dev addr.Address, keep *UnlockCredential) (int, error) {
	if err := checkAddr(dev); err != nil {
		return 0, err
	}
	var k []byte // no credential is empty, so nil keeps none
	if keep != nil {
		k = keep[:]
	} else {
		k = []byte{}
	}
	var n int64
	err := s.w.do(ctx, dev.User, true, 1, func(t *txn) (err error) {
		n, err = t.exec(qRetireUnlocks, string(dev.User), int64(dev.Device), k)
		return err
	})
	return int(n), err
}

func (s *sqlStore) DestroyExhaustedUnlocks(ctx context.Context, max uint32, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	var n int64
	err := s.w.do(ctx, "", true, 1, func(t *txn) (err error) {
		n, err = t.exec(qDestroyExhausted, []byte{}, int64(max), unlockMicros(before), int64(min(limit, MaxBatch)))
		return err
	})
	return int(n), err
}

// The relay PIN factor's statements (see queries.go for the rules they
// follow). length() of a BYTEA is its byte count on both backends; an
// empty OPRF key marks a destroyed key, an empty verifier a pending one.
const (
	qLockDeviceRow   = `SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2` + forUpdate
	qCountUnlockKeys = `SELECT COUNT(*) FROM unlock_keys
WHERE user_id = $1 AND device_id = $2 AND (length(verifier) > 0 OR length(oprf_key) = 0)`
	qUnlockExists         = `SELECT 1 FROM unlock_keys WHERE credential = $1`
	qDeletePendingUnlocks = `DELETE FROM unlock_keys
WHERE user_id = $1 AND device_id = $2 AND length(verifier) = 0 AND length(oprf_key) > 0`
	qEnrolUnlock = `INSERT INTO unlock_keys
(credential, user_id, device_id, oprf_key, verifier, failures, created, last_eval, last_success)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qActivateUnlock = `UPDATE unlock_keys SET verifier = $4
WHERE credential = $1 AND user_id = $2 AND device_id = $3 AND length(verifier) = 0 AND length(oprf_key) > 0`
	qUnlockKey = `SELECT user_id, device_id, oprf_key, verifier, failures, created, last_eval, last_success
FROM unlock_keys WHERE credential = $1`
	qSetUnlockState = `UPDATE unlock_keys SET failures = $2, last_eval = $3, last_success = $4
WHERE credential = $1 AND failures = $5 AND last_eval = $6 AND last_success = $7 AND length(oprf_key) > 0`
	qDestroyUnlock    = `UPDATE unlock_keys SET oprf_key = $2, verifier = $2 WHERE credential = $1`
	qRetireUnlocks    = `DELETE FROM unlock_keys WHERE user_id = $1 AND device_id = $2 AND credential <> $3`
	qDestroyExhausted = `UPDATE unlock_keys SET oprf_key = $1, verifier = $1 WHERE credential IN
(SELECT credential FROM unlock_keys WHERE failures >= $2 AND last_eval <= $3 AND length(oprf_key) > 0 LIMIT $4)`
)

// The writer prepares its statements when it starts (queries.go); these
// join them here, so that this file is the relay factor's whole SQL.
func init() {
	writeQueries = append(writeQueries, qLockDeviceRow, qCountUnlockKeys, qUnlockExists,
		qDeletePendingUnlocks, qEnrolUnlock, qActivateUnlock, qSetUnlockState, qDestroyUnlock,
		qRetireUnlocks, qDestroyExhausted)
}
