package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/migrate"
)

// contents keeps blob bytes: files (disk) or rows (PostgreSQL).
type contents interface {
	// write discards whatever is stored at or after offset, then stores r
	// there durably and returns how many bytes it stored.
	write(ctx context.Context, id ID, offset int64, r io.Reader) (int64, error)
	// open returns a reader of the first size bytes.
	open(ctx context.Context, id ID, size int64) (io.ReadSeekCloser, error)
	// remove deletes the contents; removing none is not an error.
	remove(ctx context.Context, id ID) error
	close() error
}

// dialect is what differs between SQLite and PostgreSQL: the
// placeholders and row locks, and how migrations are kept apart.
type dialect struct {
	name        string
	rebind      func(string) string
	migrateLock string
	tableExists string
}

var sqliteDialect = dialect{
	name: "sqlite",
	rebind: func(q string) string {
		return strings.ReplaceAll(strings.TrimSuffix(q, " FOR UPDATE"), "$", "?")
	},
	tableExists: `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1`,
}

var postgresDialect = dialect{
	name:   "postgres",
	rebind: func(q string) string { return q },
	// Relay nodes starting together take turns migrating: an advisory
	// lock (class 0x426c6f62, "Blob") on the schema the search_path
	// selects, as the relay store's ("Parl") does; deployments in other
	// schemas of one database do not wait for each other.
	migrateLock: "SELECT pg_advisory_xact_lock(1114402658, hashtext(current_schema()))",
	tableExists: `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`,
}

// sqlStore is the Store of both backends: metadata in SQL, bytes in c.
type sqlStore struct {
	db  *sql.DB
	d   dialect
	c   contents
	opt Options

	mu     sync.RWMutex // read-held by operations, write-held by Close
	closed bool
}

// Migrations are embedded SQL files applied by internal/migrate;
// blob_schema holds the number of the last one applied.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

var migrations = migrate.Set{Name: "blob", Files: migrationFS, Dir: "migrations", Table: "blob_schema"}

// ErrSchemaBehind is returned by OpenDisk and OpenPostgres with
// Options.NoMigrate when the database's schema is older than this
// program's: run MigrateDisk or MigratePostgres (parleyd migrate) first.
// It is migrate.ErrBehind, as the relay store's is.
var ErrSchemaBehind = migrate.ErrBehind

// SchemaVersion is the schema version this program's migrations produce.
func SchemaVersion() int { return migrations.Version() }

func (d dialect) migrateDialect() migrate.Dialect {
	return migrate.Dialect{Lock: d.migrateLock, TableExists: d.tableExists}
}

// prepareSchema migrates, or with noMigrate only checks, the schema.
func prepareSchema(ctx context.Context, db *sql.DB, d dialect, noMigrate bool) error {
	if noMigrate {
		return migrations.Check(ctx, db, d.migrateDialect())
	}
	_, _, err := migrations.Migrate(ctx, db, d.migrateDialect())
	return err
}

func newSQLStore(ctx context.Context, db *sql.DB, d dialect, c contents, opt Options) (*sqlStore, error) {
	if err := prepareSchema(ctx, db, d, opt.NoMigrate); err != nil {
		return nil, err
	}
	return &sqlStore{db: db, d: d, c: c, opt: opt.withDefaults()}, nil
}

// Times are Unix microseconds.
func micros(t time.Time) int64      { return t.UnixMicro() }
func fromMicros(us int64) time.Time { return time.UnixMicro(us) }

// use runs f unless the store is closed.
func (s *sqlStore) use(f func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f()
}

func (s *sqlStore) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.d.rebind(q), args...)
}

// inTx runs f in a transaction.
func (s *sqlStore) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return dbErr(tx.Commit())
}

func dbErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("blob: database: %w", err)
}

const blobColumns = "blob_id, owner_user, owner_device, size, stored, done, hash_state, created, expires"

// row is one blobs row as read.
type row struct {
	Blob
	state []byte
}

func scanBlob(sc interface{ Scan(...any) error }) (row, error) {
	var r row
	var id, state []byte
	var user string
	var dev, created, expires int64
	var done int
	err := sc.Scan(&id, &user, &dev, &r.Size, &r.Stored, &done, &state, &created, &expires)
	if err != nil {
		return r, err
	}
	copy(r.ID[:], id)
	r.Owner = addr.Address{User: addr.UserID(user), Device: addr.DeviceID(dev)}
	r.Done, r.state = done == 1, state
	if r.Done {
		copy(r.SHA256[:], state)
	}
	r.Created, r.Expires = fromMicros(created), fromMicros(expires)
	return r, nil
}

// get returns a live (unexpired) blob row.
func (s *sqlStore) get(ctx context.Context, id ID) (row, error) {
	r, err := scanBlob(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+blobColumns+" FROM blobs WHERE blob_id = $1"), id[:]))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !r.Expires.After(s.opt.Now())) {
		return r, ErrNotFound
	}
	return r, dbErr(err)
}

func (s *sqlStore) Stat(ctx context.Context, id ID) (b Blob, err error) {
	err = s.use(func() error {
		r, err := s.get(ctx, id)
		b = r.Blob
		return err
	})
	return b, err
}

func (s *sqlStore) Create(ctx context.Context, b Blob, lim Limits) error {
	if b.Size < 1 || !b.Owner.Valid() || !b.Expires.After(b.Created) {
		return fmt.Errorf("%w: blob size, owner or expiry", ErrInvalid)
	}
	return s.use(func() error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			u, err := s.lockUsage(ctx, tx, b.Owner.User)
			if err != nil {
				return err
			}
			if u.Bytes+b.Size > lim.Quota || u.Blobs+1 > lim.MaxBlobs {
				return fmt.Errorf("%w: %s has %d bytes in %d blobs", ErrQuota, b.Owner.User, u.Bytes, u.Blobs)
			}
			state, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
			_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO blobs (`+blobColumns+`, lease_until, lease_id)
				VALUES ($1, $2, $3, $4, 0, 0, $5, $6, $7, 0, 0)`),
				b.ID[:], string(b.Owner.User), int64(b.Owner.Device), b.Size, state, micros(b.Created), micros(b.Expires))
			if err != nil {
				return dbErr(err)
			}
			return s.addUsage(ctx, tx, b.Owner.User, b.Size, 1)
		})
	})
}

// lockUsage reads (creating) a user's usage row, locked for the
// transaction.
func (s *sqlStore) lockUsage(ctx context.Context, tx *sql.Tx, user addr.UserID) (Usage, error) {
	var u Usage
	_, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO blob_usage (owner_user, bytes, blobs) VALUES ($1, 0, 0) ON CONFLICT DO NOTHING"), string(user))
	if err != nil {
		return u, dbErr(err)
	}
	err = tx.QueryRowContext(ctx, s.d.rebind("SELECT bytes, blobs FROM blob_usage WHERE owner_user = $1 FOR UPDATE"), string(user)).Scan(&u.Bytes, &u.Blobs)
	return u, dbErr(err)
}

func (s *sqlStore) addUsage(ctx context.Context, tx *sql.Tx, user addr.UserID, bytes int64, blobs int) error {
	_, err := tx.ExecContext(ctx, s.d.rebind("UPDATE blob_usage SET bytes = bytes + $1, blobs = blobs + $2 WHERE owner_user = $3"),
		bytes, blobs, string(user))
	return dbErr(err)
}

func (s *sqlStore) Usage(ctx context.Context, user addr.UserID) (u Usage, err error) {
	err = s.use(func() error {
		err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT bytes, blobs FROM blob_usage WHERE owner_user = $1"), string(user)).Scan(&u.Bytes, &u.Blobs)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return dbErr(err)
	})
	return u, err
}

func (s *sqlStore) List(ctx context.Context, user addr.UserID) (out []Blob, err error) {
	err = s.use(func() error {
		rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+blobColumns+" FROM blobs WHERE owner_user = $1 AND expires > $2 ORDER BY created, blob_id LIMIT $3"),
			string(user), micros(s.opt.Now()), MaxList)
		if err != nil {
			return dbErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanBlob(rows)
			if err != nil {
				return dbErr(err)
			}
			out = append(out, r.Blob)
		}
		return dbErr(rows.Err())
	})
	return out, err
}

// Append: see Store. The lease is taken and released in short statements;
// no transaction is open while the part streams in.
func (s *sqlStore) Append(ctx context.Context, id ID, offset int64, r io.Reader, n int64, verify func([32]byte) error) (b Blob, err error) {
	err = s.use(func() error {
		b, err = s.append(ctx, id, offset, r, n, verify)
		return err
	})
	return b, err
}

func (s *sqlStore) append(ctx context.Context, id ID, offset int64, r io.Reader, n int64, verify func([32]byte) error) (Blob, error) {
	cur, err := s.get(ctx, id)
	switch {
	case err != nil:
		return Blob{}, err
	case cur.Done:
		return cur.Blob, ErrFinished
	case offset != cur.Stored:
		return cur.Blob, &OffsetError{Stored: cur.Stored}
	case n < 1 || n > cur.Size-offset:
		return cur.Blob, fmt.Errorf("%w: %d bytes at %d of %d", ErrTooLarge, n, offset, cur.Size)
	}
	lease, err := s.claim(ctx, id, offset)
	if err != nil {
		return cur.Blob, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.LeaseTTL)
	defer cancel()
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(cur.state); err != nil {
		s.release(id, lease)
		return cur.Blob, fmt.Errorf("blob: stored hash state: %w", err)
	}
	part := sha256.New()
	got, err := s.c.write(ctx, id, offset, io.TeeReader(io.LimitReader(r, n), io.MultiWriter(h, part)))
	if err == nil && got != n {
		err = fmt.Errorf("%w: %d of %d bytes", ErrShort, got, n)
	}
	if err == nil && verify != nil {
		err = verify([32]byte(part.Sum(nil)))
	}
	if err != nil {
		s.release(id, lease)
		return cur.Blob, err
	}
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	res, err := s.exec(ctx, "UPDATE blobs SET stored = $1, hash_state = $2, lease_until = 0 WHERE blob_id = $3 AND lease_id = $4 AND stored = $5",
		offset+n, state, id[:], lease, offset)
	if err != nil {
		s.release(id, lease)
		return cur.Blob, dbErr(err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return cur.Blob, fmt.Errorf("%w: lease lost", ErrBusy)
	}
	cur.Stored = offset + n
	return cur.Blob, nil
}

// claim takes the append lease of a blob at offset.
func (s *sqlStore) claim(ctx context.Context, id ID, offset int64) (int64, error) {
	lease := randomLease()
	now := s.opt.Now()
	res, err := s.exec(ctx, `UPDATE blobs SET lease_until = $1, lease_id = $2
		WHERE blob_id = $3 AND done = 0 AND stored = $4 AND lease_until <= $5 AND expires > $5`,
		micros(now.Add(s.opt.LeaseTTL)), lease, id[:], offset, micros(now))
	if err != nil {
		return 0, dbErr(err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		cur, err := s.get(ctx, id)
		switch {
		case err != nil:
			return 0, err
		case cur.Done:
			return 0, ErrFinished
		case cur.Stored != offset:
			return 0, &OffsetError{Stored: cur.Stored}
		}
		return 0, ErrBusy
	}
	return lease, nil
}

// release gives a lease back after a failed append.
func (s *sqlStore) release(id ID, lease int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.exec(ctx, "UPDATE blobs SET lease_until = 0 WHERE blob_id = $1 AND lease_id = $2", id[:], lease); err != nil {
		s.opt.Logger.Warn("blob: releasing a lease", "err", err)
	}
}

func randomLease() int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return n.Int64() + 1
}

func (s *sqlStore) Finish(ctx context.Context, id ID, sum [32]byte, expires time.Time) (b Blob, err error) {
	err = s.use(func() error {
		cur, err := s.get(ctx, id)
		switch {
		case err != nil:
			return err
		case cur.Done:
			b = cur.Blob
			if cur.SHA256 != sum {
				return ErrMismatch
			}
			return ErrFinished
		case cur.Stored != cur.Size:
			b = cur.Blob
			return fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, cur.Stored, cur.Size)
		}
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(cur.state); err != nil {
			return fmt.Errorf("blob: stored hash state: %w", err)
		}
		if [32]byte(h.Sum(nil)) != sum {
			b = cur.Blob
			return ErrMismatch
		}
		res, err := s.exec(ctx, "UPDATE blobs SET done = 1, hash_state = $1, expires = $2 WHERE blob_id = $3 AND done = 0 AND stored = size AND lease_until <= $4",
			sum[:], micros(expires), id[:], micros(s.opt.Now()))
		if err != nil {
			return dbErr(err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return ErrBusy
		}
		cur.Done, cur.SHA256, cur.Expires = true, sum, expires
		b = cur.Blob
		return nil
	})
	return b, err
}

func (s *sqlStore) Open(ctx context.Context, id ID) (rd *Reader, err error) {
	err = s.use(func() error {
		cur, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		if !cur.Done {
			return ErrNotFound
		}
		rc, err := s.c.open(ctx, id, cur.Size)
		if err != nil {
			return err
		}
		rd = &Reader{ReadSeekCloser: rc, Blob: cur.Blob}
		return nil
	})
	return rd, err
}

func (s *sqlStore) Delete(ctx context.Context, id ID) error {
	return s.use(func() error { return s.remove(ctx, id) })
}

func (s *sqlStore) DeleteUser(ctx context.Context, user addr.UserID) (n int, err error) {
	if !user.Valid() {
		return 0, fmt.Errorf("%w: user %q", ErrInvalid, user)
	}
	err = s.use(func() error {
		for {
			ids, err := s.userBlobs(ctx, user)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := s.remove(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				n++
			}
			if len(ids) < deleteUserBatch {
				break
			}
		}
		_, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM blob_usage WHERE owner_user = $1"), string(user))
		return dbErr(err)
	})
	return n, err
}

// deleteUserBatch is how many blob IDs DeleteUser reads at a time.
const deleteUserBatch = 1000

// userBlobs returns up to deleteUserBatch IDs of user's blobs, finished
// or not, expired or not.
func (s *sqlStore) userBlobs(ctx context.Context, user addr.UserID) ([]ID, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT blob_id FROM blobs WHERE owner_user = $1 LIMIT $2"), string(user), deleteUserBatch)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var ids []ID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, dbErr(err)
		}
		var id ID
		copy(id[:], b)
		ids = append(ids, id)
	}
	return ids, dbErr(rows.Err())
}

// remove deletes the contents, then the row, and gives back the quota.
func (s *sqlStore) remove(ctx context.Context, id ID) error {
	if err := s.c.remove(ctx, id); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var user string
		var size int64
		err := tx.QueryRowContext(ctx, s.d.rebind("SELECT owner_user, size FROM blobs WHERE blob_id = $1"), id[:]).Scan(&user, &size)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return dbErr(err)
		}
		if _, err := s.lockUsage(ctx, tx, addr.UserID(user)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM blobs WHERE blob_id = $1"), id[:]); err != nil {
			return dbErr(err)
		}
		return s.addUsage(ctx, tx, addr.UserID(user), -size, -1)
	})
}

func (s *sqlStore) Expire(ctx context.Context, now time.Time, limit int) (n int, err error) {
	err = s.use(func() error {
		rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT blob_id FROM blobs WHERE expires <= $1 ORDER BY expires LIMIT $2"), micros(now), max(limit, 1))
		if err != nil {
			return dbErr(err)
		}
		var ids []ID
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return dbErr(err)
			}
			ids = append(ids, ID(b))
		}
		rows.Close()
		for _, id := range ids {
			if err := s.remove(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			n++
		}
		return dbErr(rows.Err())
	})
	return n, err
}

func (s *sqlStore) Secret(ctx context.Context) (sec [32]byte, err error) {
	err = s.use(func() error {
		var fresh [32]byte
		rand.Read(fresh[:])
		if _, err := s.exec(ctx, "INSERT INTO blob_secret (id, secret) VALUES (1, $1) ON CONFLICT DO NOTHING", fresh[:]); err != nil {
			return dbErr(err)
		}
		var b []byte
		if err := s.db.QueryRowContext(ctx, "SELECT secret FROM blob_secret WHERE id = 1").Scan(&b); err != nil {
			return dbErr(err)
		}
		if len(b) != len(sec) {
			return errors.New("blob: stored secret of " + strconv.Itoa(len(b)) + " bytes")
		}
		copy(sec[:], b)
		return nil
	})
	return sec, err
}

func (s *sqlStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.c.close(), s.db.Close())
}
