package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"parley.dev/internal/addr"
)

// AdminStore is what the relay's admin console reads and changes. Every
// write is durable before it returns, except Touch.
type AdminStore interface {
	// Users lists up to limit users (at most MaxBatch; below 1 is
	// ErrInvalid) whose ID sorts after after, in ID order, with their
	// device counts.
	Users(ctx context.Context, after addr.UserID, limit int) ([]UserSummary, error)
	// SetSuspended suspends or resumes a user. ErrNotFound if no such user.
	SetSuspended(ctx context.Context, u addr.UserID, suspended bool) error
	// Touch records that device a connected at t. It is not synced on its
	// own (losing it loses a last-seen time). ErrNotFound if no such
	// device.
	Touch(ctx context.Context, a addr.Address, t time.Time) error
	// DeleteUser erases a user: the account, its devices with their
	// prekeys, unlock keys and mailboxes, and the envelopes its devices
	// sent that still wait in other mailboxes. It returns the deleted
	// devices' IDs. ErrNotFound if no such user. (The blob store and the
	// audit log are not this call's: the relay erases the user's blobs
	// itself and logs the deletion.)
	DeleteUser(ctx context.Context, u addr.UserID) ([]addr.DeviceID, error)
}

// UserSummary is one line of Users.
type UserSummary struct {
	ID        addr.UserID
	Created   time.Time
	Suspended bool
	Devices   int
}

// Admin statements.
const (
	qUsers = `SELECT u.user_id, u.created, u.suspended,
(SELECT COUNT(*) FROM devices d WHERE d.user_id = u.user_id)
FROM users u WHERE u.user_id > $1 ORDER BY u.user_id LIMIT $2`
	qSetSuspended = `UPDATE users SET suspended = $2 WHERE user_id = $1`
	qTouch        = `UPDATE devices SET last_seen = $3 WHERE user_id = $1 AND device_id = $2`
	// qDeleteSent finds a user's sent envelopes by the idempotency index,
	// which leads with the sender (migration 11): a user may ask for it
	// (account deletion), so it must not read every mailbox. It releases
	// the shared group payloads it drops, like every envelope delete.
	qDeleteSent = `DELETE FROM envelopes WHERE from_user = $1 RETURNING ` + sharedRef
	qDeleteUser = `DELETE FROM users WHERE user_id = $1`
)

func init() {
	writeQueries = append(writeQueries, qSetSuspended, qTouch, qDeleteSent, qDeleteUser)
}

func (s *sqlStore) Users(ctx context.Context, after addr.UserID, limit int) ([]UserSummary, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	if after != "" {
		if err := checkUser(after); err != nil {
			return nil, err
		}
	}
	var out []UserSummary
	err := s.query(ctx, qUsers, []any{string(after), min(limit, MaxBatch)}, func(r *sql.Rows) error {
		var u UserSummary
		var id string
		var created, suspended, n int64
		if err := r.Scan(&id, &created, &suspended, &n); err != nil {
			return err
		}
		u.ID, u.Created, u.Suspended, u.Devices = addr.UserID(id), fromMicros(created), suspended != 0, int(n)
		out = append(out, u)
		return nil
	})
	return out, err
}

func (s *sqlStore) SetSuspended(ctx context.Context, u addr.UserID, suspended bool) error {
	if err := checkUser(u); err != nil {
		return err
	}
	v := 0
	if suspended {
		v = 1
	}
	return s.w.do(ctx, u, true, 1, func(t *txn) error {
		n, err := t.exec(qSetSuspended, string(u), v)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: user %q", ErrNotFound, string(u))
		}
		return err
	})
}

func (s *sqlStore) Touch(ctx context.Context, a addr.Address, at time.Time) error {
	if err := checkAddr(a); err != nil {
		return err
	}
	if err := checkTime("last seen", at); err != nil {
		return err
	}
	return s.w.do(ctx, a.User, false, 1, func(t *txn) error {
		n, err := t.exec(qTouch, string(a.User), int64(a.Device), micros(at))
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: device %s", ErrNotFound, a)
		}
		return err
	})
}

func (s *sqlStore) DeleteUser(ctx context.Context, u addr.UserID) ([]addr.DeviceID, error) {
	if err := checkUser(u); err != nil {
		return nil, err
	}
	var deleted []addr.DeviceID
	err := s.w.do(ctx, u, true, 1, func(t *txn) error {
		deleted = nil
		if ok, err := t.queryRow(qLockUser, []any{string(u)}, new(int64)); err != nil || !ok {
			return notFoundOr(err, "user %q", string(u))
		}
		ids, err := deleteDevices(t, u)
		if err != nil {
			return err
		}
		if _, err := t.deleteReleasing(qDeleteSent, string(u)); err != nil {
			return err
		}
		if err := t.deleteGroupsSent(u); err != nil {
			return err
		}
		if _, err := t.exec(qDeleteUser, string(u)); err != nil {
			return err
		}
		deleted = ids
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// seenTime reads a last_seen column: 0 is never.
func seenTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}
