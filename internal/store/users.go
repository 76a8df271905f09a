package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"parley.dev/internal/addr"
)

// Account writes. Each is one writer op; each checks before it writes, so
// that the sentinel errors it returns leave nothing behind.

func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u.ID); err != nil {
		return err
	}
	if err := checkValue("identity", u.Identity, false); err != nil {
		return err
	}
	created := orNow(u.Created, s.opt.Now)
	if err := checkTime("user created", created); err != nil {
		return err
	}
	return s.w.do(ctx, u.ID, true, 1, func(t *txn) error {
		n, err := t.exec(qCreateUser, string(u.ID), u.Identity, micros(created))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: user %q", ErrExists, string(u.ID))
		}
		return nil
	})
}

func (s *sqlStore) ReplaceIdentity(ctx context.Context, u User) ([]addr.DeviceID, error) {
	if err := checkUser(u.ID); err != nil {
		return nil, err
	}
	if err := checkValue("identity", u.Identity, false); err != nil {
		return nil, err
	}
	var revoked []addr.DeviceID
	err := s.w.do(ctx, u.ID, true, 1, func(t *txn) error {
		revoked = nil
		n, err := t.exec(qReplaceIdentity, string(u.ID), u.Identity)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: user %q", ErrNotFound, string(u.ID))
		}
		revoked, err = deleteDevices(t, u.ID)
		return err
	})
	if err != nil {
		return nil, err // the writer may still be running the op: leave revoked alone
	}
	return revoked, nil
}

// deleteDevices deletes all of a user's devices and their mailboxes;
// foreign keys cascade to their prekeys.
func deleteDevices(t *txn, u addr.UserID) ([]addr.DeviceID, error) {
	rows, err := t.query(qDeleteDevices, string(u))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []addr.DeviceID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: revoke: %w", err)
		}
		ids = append(ids, addr.DeviceID(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: revoke: %w", err)
	}
	rows.Close()
	if _, err := t.deleteReleasing(qDeleteMailboxes, string(u)); err != nil {
		return nil, err
	}
	if _, err := t.deleteGroupEntries(qDeleteGroupBoxs, string(u)); err != nil {
		return nil, err
	}
	for _, id := range ids {
		t.forget(addr.Address{User: u, Device: id})
	}
	return ids, nil
}

func (s *sqlStore) AddDevice(ctx context.Context, d Device) (addr.DeviceID, error) {
	if err := checkUser(d.Address.User); err != nil {
		return 0, err
	}
	if err := checkValue("device key", d.Key, false); err != nil {
		return 0, err
	}
	if err := checkValue("device certificate", d.Cert, false); err != nil {
		return 0, err
	}
	created := orNow(d.Created, s.opt.Now)
	if err := checkTime("device created", created); err != nil {
		return 0, err
	}
	var id addr.DeviceID
	err := s.w.do(ctx, d.Address.User, true, 1, func(t *txn) (err error) {
		id, err = addDevice(t, d, created)
		return err
	})
	if err != nil {
		return 0, err // the writer may still be running the op: leave id alone
	}
	return id, nil
}

// addDevice locks the user's row, checks, and only then writes, so that
// its ErrNotFound and ErrLimit leave nothing behind.
func addDevice(t *txn, d Device, created time.Time) (addr.DeviceID, error) {
	u := string(d.Address.User)
	var last, n int64
	ok, err := t.queryRow(qLockUser, []any{u}, &last)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: user %q", ErrNotFound, u)
	}
	if _, err := t.queryRow(qCountDevices, []any{u}, &n); err != nil {
		return 0, err
	}
	if n >= MaxDevices {
		return 0, fmt.Errorf("%w: user %q has %d devices", ErrLimit, u, n)
	}
	if last >= math.MaxUint32 {
		return 0, fmt.Errorf("%w: user %q has used every device ID", ErrLimit, u)
	}
	if _, err := t.exec(qSetLastDevice, u, last+1); err != nil {
		return 0, err
	}
	if _, err := t.exec(qAddDevice, u, last+1, d.Key, d.Cert, micros(created)); err != nil {
		return 0, err
	}
	id := addr.DeviceID(last + 1)
	t.forget(addr.Address{User: d.Address.User, Device: id}) // a submission earlier in the batch cached it as gone
	return id, nil
}

func (s *sqlStore) RevokeDevice(ctx context.Context, a addr.Address) error {
	if err := checkAddr(a); err != nil {
		return err
	}
	return s.w.do(ctx, a.User, true, 1, func(t *txn) error { return revokeDevice(t, a) })
}

// revokeDevice deletes device a with its mailbox. The counters of the
// user's other mailboxes stay cached: submissions to them earlier in the
// transaction have advanced them, and flush must still save them.
func revokeDevice(t *txn, a addr.Address) error {
	n, err := t.exec(qDeleteDevice, string(a.User), int64(a.Device))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: device %s", ErrNotFound, a)
	}
	if _, err := t.deleteReleasing(qDeleteMailbox, string(a.User), int64(a.Device)); err != nil {
		return err
	}
	if _, err := t.deleteGroupEntries(qDeleteGroupBox, string(a.User), int64(a.Device)); err != nil {
		return err
	}
	t.forget(a)
	return nil
}

func (s *sqlStore) UseToken(ctx context.Context, hash [32]byte, expires time.Time) error {
	if err := checkTime("token expiry", expires); err != nil {
		return err
	}
	return s.w.do(ctx, "", true, 1, func(t *txn) error {
		n, err := t.exec(qUseToken, hash[:], micros(expires))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrTokenUsed
		}
		return nil
	})
}
