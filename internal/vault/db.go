package vault

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/xts"

	"parley.dev/internal/coalesce"
)

// The records live in an SQLite database, itself encrypted page by page
// with AES-256-XTS (ncruces's "xts" VFS) under a key derived from the data
// key. XTS covers the main file and its WAL and rollback journal;
// temporary files stay in memory (temp_store=MEMORY), and exclusive locking
// keeps the WAL index in memory, so no -shm file is written. XTS hides the
// page structure (how many records, how large, which namespace); it is not
// authenticated, so every record is also sealed with an AEAD.
//
// Beneath XTS the files coalesce adjacent writes (package coalesce): XTS
// writes a 512-byte sector per call, and a commit's pages go out in one
// write per run instead. Above XTS the WAL's writes coalesce too
// (coalesce.WrapWAL): SQLite writes each WAL frame as a 24-byte header and
// a page, neither aligned to XTS's sectors, so XTS read, decrypted and
// re-encrypted three partial sectors per frame. Given a commit's frames as
// one write at the commit's sync (several past coalesce.MaxRun), it does so
// at most at the write's two ends, and mostly not at all: XTS hides
// POWERSAFE_OVERWRITE, so SQLite pads each commit to XTS's sector size
// (4 KiB over the OS's VFS) and syncs there, and the rest of the padding
// frame, written after the sync, starts the next run on that boundary. A
// read of the WAL that the run does not hold writes it out early, and the
// next write then starts off a boundary (in a burst of sends, 4 writes of
// 69; more with transactions larger than the page cache), as does the first
// after the WAL restarts, behind its 32-byte header. The bytes on disk are
// exactly the "xts" VFS's.
const (
	dbFile        = "vault.db"
	dbVFS         = "parley-xts"
	schemaVersion = 2   // PRAGMA user_version; 1 is migrated (migrate.go)
	busyTimeoutMS = 500 // another process holding the vault fails fast
)

func init() {
	vfs.Register(dbVFS, coalesce.WrapWAL(xts.Wrap(coalesce.Wrap(vfs.Find("")), nil)))
}

// dbSideFiles are the files SQLite may create beside dbFile.
var dbSideFiles = []string{"-wal", "-journal", "-shm"}

// connPragmas run on every new connection, in this order, after the key.
var connPragmas = []string{
	fmt.Sprintf("PRAGMA busy_timeout=%d", busyTimeoutMS),
	"PRAGMA locking_mode=EXCLUSIVE", // one process at a time; no -shm file
	"PRAGMA journal_mode=WAL",
	"PRAGMA synchronous=FULL", // a commit is on disk when Update returns
	"PRAGMA temp_store=MEMORY",
	// A burst (one transaction of thousands of records) fits in the page
	// cache, and the WAL is copied back into the database every 4,096
	// pages rather than at SQLite's default of 1,000: at the default a
	// burst's commit ran a checkpoint every time, a quarter of its CPU.
	"PRAGMA cache_size=-8192", // KiB
	"PRAGMA wal_autocheckpoint=4096",
	"PRAGMA secure_delete=ON",
	"PRAGMA cell_size_check=ON", // stricter checks of tampered pages
}

// The schema. A record's row is found through an index on the first 4
// bytes of its id (records_id), and the whole id compared in the row.
// The ids are HMACs, random by design, so a new record lands at a random
// place in that index, and in a large vault nearly every new record
// dirties an index page of its own, which the WAL and then the checkpoint
// write and encrypt whole. An index of the whole 32-byte id (schema
// version 1) fitted about 90 entries in a page; one of 4 bytes fits about
// 300, so it has a third of the pages and a burst dirties fewer of them
// (BenchmarkBurstIntoFullVault: 3,800 bytes of WAL per record into a
// vault of 100,000 became 2,100). A vault of 100,000 records holds about
// one pair that shares a prefix (n^2/2^33), which costs a lookup of
// either one more comparison. The id is kept unique by the writing
// statements, which look it up before they insert, on the vault's one
// connection. rid is an INTEGER PRIMARY KEY so that a write can name the
// row it conflicts with and VACUUM (Compact) keeps it; a new row takes
// rid max+1, so it is appended.
const schema = `
CREATE TABLE records (
	rid INTEGER PRIMARY KEY,
	id  BLOB NOT NULL, -- HMAC of namespace and key
	ns  BLOB NOT NULL, -- HMAC of namespace
	val BLOB NOT NULL  -- sealed record
);
CREATE INDEX records_ns ON records(ns);
CREATE INDEX records_id ON records(` + idPrefix + `);
`

// idPrefix is what records_id indexes, and idPrefixArg the same of the
// id a query looks for. A query uses the index only where it names the
// same expression (TestRecordQueriesUseIDIndex).
const (
	idPrefix    = "substr(id, 1, 4)"
	idPrefixArg = "substr(?1, 1, 4)"
)

// metaSchema is the rest of a new database's tables.
const metaSchema = `
CREATE TABLE meta (
	name TEXT PRIMARY KEY,
	val  BLOB NOT NULL
);
`

// setSchemaVersion marks a database as this version's (createSchema,
// migrate.go).
var setSchemaVersion = fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)

// openDB opens (creating if needed) dir's database with the given XTS
// key. The pool holds one connection: a vault is one user's store, and
// SQLite serializes writers anyway.
func openDB(dir string, xtsKey []byte) (*sql.DB, error) {
	return openDBVFS(dir, xtsKey, dbVFS)
}

// openDBVFS is openDB through the named VFS.
func openDBVFS(dir string, xtsKey []byte, vfsName string) (*sql.DB, error) {
	path := filepath.Join(dir, dbFile)
	// modeof: SQLite creates the WAL and journal with the database's mode
	// (0600), not the umask's.
	q := url.Values{"vfs": {vfsName}, "modeof": {path}}
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	// The key reaches SQLite as a PRAGMA; the hex string is an immutable
	// Go string that cannot be zeroed (see docs/threat-model.md).
	keyPragma := "PRAGMA hexkey='" + hex.EncodeToString(xtsKey) + "'"
	db, err := driver.Open(u.String(), func(c *sqlite3.Conn) error {
		if err := c.Exec(keyPragma); err != nil {
			return err
		}
		for _, p := range connPragmas {
			if err := c.Exec(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: opening database: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}

// createSchema creates the tables in a new database.
func createSchema(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, schema+metaSchema+setSchemaVersion)
	return dbErr("creating schema", err)
}

// checkSchema returns db's schema version, failing with ErrCorrupt unless
// it is this version's or one that migrate.go upgrades.
func checkSchema(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, dbErr("reading schema version", err)
	}
	if v > schemaVersion {
		return 0, fmt.Errorf("%w: database schema version %d, this build reads up to %d", ErrNewerVersion, v, schemaVersion)
	}
	if v != schemaVersion && v != schemaV1 {
		return 0, corrupt("database schema version %d, want %d", v, schemaVersion)
	}
	return v, nil
}

// dbErr maps SQLite's errors: corruption (which is what tampering with
// the encrypted file looks like) to ErrCorrupt, a lock held elsewhere to
// ErrBusy.
func dbErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sqlite3.CORRUPT), errors.Is(err, sqlite3.NOTADB),
		errors.Is(err, sqlite3.IOERR_SHORT_READ), errors.Is(err, sqlite3.FORMAT):
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	case errors.Is(err, sqlite3.BUSY), errors.Is(err, sqlite3.LOCKED):
		return fmt.Errorf("%w: %s: %v", ErrBusy, what, err)
	}
	return fmt.Errorf("vault: %s: %w", what, err)
}

// removeDB deletes the database and its side files.
func removeDB(dir string) error {
	var first error
	for _, suffix := range append([]string{""}, dbSideFiles...) {
		err := os.Remove(filepath.Join(dir, dbFile+suffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("vault: %w", err)
		}
	}
	return first
}
