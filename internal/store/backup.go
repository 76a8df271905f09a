package store

import (
	"context"
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3/driver"

	"parley.dev/internal/private"
)

// SnapshotSQLite writes a consistent copy of the SQLite database at src to
// dst (a new file, made private) while other connections may be writing:
// VACUUM INTO reads one snapshot of the database in one transaction, so
// the copy holds exactly what had committed when it began, and it is
// compact (no free pages, so nothing deleted before it survives in it).
func SnapshotSQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: snapshot: %s exists", dst)
	}
	if err := private.Touch(dst); err != nil { // empty, private: VACUUM INTO fills it
		return fmt.Errorf("store: snapshot: %w", err)
	}
	uri, err := private.SQLite(src)
	if err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	db, err := driver.Open(uri)
	if err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "PRAGMA busy_timeout = 10000"); err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}

// DropOneTimePreKeys deletes every one-time prekey in the store named by
// dsn. A restored backup must not hand out again a one-time key that was
// handed out after the backup was taken (the device deleted its secret, or
// a second session would start on it); devices upload fresh ones when the
// relay reports their count low, and the last-resort keys cover the gap.
func DropOneTimePreKeys(ctx context.Context, dsn string) (int64, error) {
	db, _, err := openWriteDB(dsn, Options{}.withDefaults())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, "DELETE FROM one_time_prekeys")
	if err != nil {
		return 0, fmt.Errorf("store: drop one-time prekeys: %w", err)
	}
	return res.RowsAffected()
}
