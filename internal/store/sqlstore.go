package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"parley.dev/internal/addr"
	"parley.dev/internal/sqlitewal"
)

// sqlStore is the Store over database/sql, shared by every backend: writes
// go through the writer (group commit), reads through a pool.
type sqlStore struct {
	opt       Options
	d         dialect
	wdbs      []*sql.DB // one per writer
	rdb       *sql.DB
	w         *writers
	cp        *sqlitewal.Checkpointer // SQLite only
	reads     *stmtCache
	reader    *pendingBatcher // nil: Pending reads alone (SQLite)
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// newSQLStore starts one writer per write connection; on failure it
// closes every database.
func newSQLStore(ctx context.Context, wdbs []*sql.DB, rdb *sql.DB, d dialect, opt Options) (*sqlStore, error) {
	ws := &writers{}
	for _, wdb := range wdbs {
		w, err := newWriter(ctx, wdb, d, opt.Logger, opt.QueueLen, opt.MailboxCap)
		if err != nil {
			ws.close()
			rdb.Close()
			for _, db := range wdbs {
				db.Close()
			}
			return nil, err
		}
		ws.ws = append(ws.ws, w)
	}
	s := &sqlStore{opt: opt, d: d, wdbs: wdbs, rdb: rdb, w: ws, reads: newStmtCache(rdb, d)}
	if d.batchReads {
		s.reader = newPendingBatcher(s, opt.ReadConns)
	}
	return s, nil
}

// Close commits every queued write, then closes the database. Later calls
// return nil; calls on a closed store fail with ErrClosed.
func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.reader != nil {
			s.reader.close()
		}
		s.w.close()
		if s.cp != nil {
			s.cp.Close()
		}
		s.reads.close()
		errs := []error{s.rdb.Close()}
		for _, db := range s.wdbs {
			errs = append(errs, db.Close())
		}
		s.closeErr = errors.Join(errs...)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("store: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// readErr maps a read failure to a store error.
func (s *sqlStore) readErr(err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("store: read: %w", err)
}

// queryRow runs a one-row read; a missing row is (false, nil).
func (s *sqlStore) queryRow(ctx context.Context, q string, args []any, dest ...any) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	st, err := s.reads.get(ctx, q)
	if err != nil {
		return false, s.readErr(err)
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.readErr(err)
	}
	return true, nil
}

// query runs a read, calling scan for each row.
func (s *sqlStore) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	st, err := s.reads.get(ctx, q)
	if err != nil {
		return s.readErr(err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return s.readErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.readErr(err)
		}
	}
	if err := rows.Err(); err != nil {
		return s.readErr(err)
	}
	return nil
}

func (s *sqlStore) User(ctx context.Context, id addr.UserID) (User, error) {
	if err := checkUser(id); err != nil {
		return User{}, err
	}
	u := User{ID: id}
	var created, suspended int64
	ok, err := s.queryRow(ctx, qUser, []any{string(id)}, &u.Identity, &created, &suspended)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, string(id))
	}
	u.Created, u.Suspended = fromMicros(created), suspended != 0
	return u, nil
}

func (s *sqlStore) Device(ctx context.Context, a addr.Address) (Device, error) {
	if err := checkAddr(a); err != nil {
		return Device{}, err
	}
	d := Device{Address: a}
	var created, seen, suspended int64
	ok, err := s.queryRow(ctx, qDevice, []any{string(a.User), int64(a.Device)}, &d.Key, &d.Cert, &created, &seen, &suspended)
	if err != nil {
		return Device{}, err
	}
	if !ok {
		return Device{}, fmt.Errorf("%w: device %s", ErrNotFound, a)
	}
	d.Created, d.LastSeen, d.Suspended = fromMicros(created), seenTime(seen), suspended != 0
	return d, nil
}

func (s *sqlStore) Devices(ctx context.Context, u addr.UserID) ([]Device, error) {
	if err := checkUser(u); err != nil {
		return nil, err
	}
	var ds []Device
	err := s.query(ctx, qDevices, []any{string(u)}, func(r *sql.Rows) error {
		d := Device{Address: addr.Address{User: u}}
		var id, created, seen int64
		if err := r.Scan(&id, &d.Key, &d.Cert, &created, &seen); err != nil {
			return err
		}
		d.Address.Device, d.Created, d.LastSeen = addr.DeviceID(id), fromMicros(created), seenTime(seen)
		ds = append(ds, d)
		return nil
	})
	return ds, err
}

func (s *sqlStore) MailboxLen(ctx context.Context, a addr.Address) (int, error) {
	if err := checkAddr(a); err != nil {
		return 0, err
	}
	if _, err := s.Device(ctx, a); err != nil {
		return 0, err
	}
	var n int64
	if _, err := s.queryRow(ctx, qCountMailbox, []any{string(a.User), int64(a.Device)}, &n); err != nil {
		return 0, err
	}
	return int(n), nil
}

func (s *sqlStore) PreKeyCounts(ctx context.Context, a addr.Address) (PreKeyCounts, error) {
	if err := checkAddr(a); err != nil {
		return PreKeyCounts{}, err
	}
	if _, err := s.Device(ctx, a); err != nil {
		return PreKeyCounts{}, err
	}
	var c PreKeyCounts
	err := s.query(ctx, qCountOneTime, []any{string(a.User), int64(a.Device)}, func(r *sql.Rows) error {
		var kind, n int64
		if err := r.Scan(&kind, &n); err != nil {
			return err
		}
		switch prekeyKind(kind) {
		case kindEC:
			c.OneTimeEC = int(n)
		case kindKEM:
			c.OneTimeKEM = int(n)
		}
		return nil
	})
	return c, err
}
