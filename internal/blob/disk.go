package blob

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3/driver"

	"parley.dev/internal/private"
	"parley.dev/internal/sqlitewal"
)

// Disk layout under the directory given to OpenDisk.
const (
	// MetaFile is the SQLite database of blob metadata.
	MetaFile = "blobs.db"
	// dataDir holds one file per blob, under a two-hex-digit fan-out
	// directory: data/ab/abcdef....
	dataDir = "data"
)

// File modes: private to the relay's user.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// OpenDisk opens (creating) the disk store in dir: metadata in SQLite,
// contents in files. It migrates the metadata's schema unless
// opt.NoMigrate. Files without metadata (left by a crash between writing
// and recording) are removed.
func OpenDisk(ctx context.Context, dir string, opt Options) (Store, error) {
	db, err := openMeta(ctx, dir)
	if err != nil {
		return nil, err
	}
	d := &disk{dir: filepath.Join(dir, dataDir)}
	s, err := newSQLStore(ctx, db, sqliteDialect, d, opt)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := d.removeOrphans(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	d.cp = sqlitewal.Start(db, s.opt.CheckpointInterval, s.opt.Logger.With("db", "blobs"))
	return s, nil
}

// MigrateDisk brings the schema of the disk store in dir (created if
// need be) up to date and returns the versions before and after.
func MigrateDisk(ctx context.Context, dir string) (from, to int, err error) {
	db, err := openMeta(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	return migrations.Migrate(ctx, db, sqliteDialect.migrateDialect())
}

// openMeta opens (creating) the metadata database of the disk store in
// dir, private to the relay's user.
func openMeta(ctx context.Context, dir string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Join(dir, dataDir), dirMode); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	uri, err := private.SQLite(filepath.Join(dir, MetaFile)) // 0600 whatever the umask
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	db, err := driver.Open(uri, nil)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", MetaFile, err)
	}
	// One connection: metadata statements are short, and SQLite has one
	// writer anyway.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	// secure_delete=ON zeroes deleted rows, and pages they free, in the
	// database file: an unfinished blob's running SHA-256 state holds up
	// to 63 bytes of its ciphertext. The WAL's copies go at the next
	// truncating checkpoint (Options.CheckpointInterval).
	if _, err := db.ExecContext(ctx, `PRAGMA busy_timeout = 10000;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA secure_delete = ON;`); err != nil {
		db.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return db, nil
}

// disk keeps contents in files, and checkpoints the metadata.
type disk struct {
	dir string
	cp  *sqlitewal.Checkpointer // set once the store is open
}

func (d *disk) path(id ID) string {
	h := hex.EncodeToString(id[:])
	return filepath.Join(d.dir, h[:2], h)
}

func (d *disk) write(ctx context.Context, id ID, offset int64, r io.Reader) (int64, error) {
	p := d.path(id)
	if offset == 0 {
		if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
			return 0, fmt.Errorf("blob: %w", err)
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, fileMode)
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("blob: sync: %w", err)
	}
	if offset == 0 { // make the new file's directory entries durable
		if err := syncDir(filepath.Dir(p)); err != nil {
			return n, err
		}
		if err := syncDir(d.dir); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (d *disk) open(ctx context.Context, id ID, size int64) (io.ReadSeekCloser, error) {
	f, err := os.Open(d.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &section{SectionReader: io.NewSectionReader(f, 0, size), Closer: f}, nil
}

// remove unlinks the blob's file. It does not overwrite it first: see
// docs/threat-model.md, "Attachments" (the bytes are end-to-end
// ciphertext, and on SSDs and journaling or copy-on-write file systems
// writing over a file does not reach the blocks that held it).
func (d *disk) remove(ctx context.Context, id ID) error {
	err := os.Remove(d.path(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// close checkpoints the metadata a last time (before the store closes
// its database).
func (d *disk) close() error {
	if d.cp != nil {
		d.cp.Close()
	}
	return nil
}

// removeOrphans deletes files whose blob has no metadata.
func (d *disk) removeOrphans(ctx context.Context, s *sqlStore) error {
	return filepath.WalkDir(d.dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := hex.DecodeString(e.Name())
		if err != nil || len(b) != IDLen {
			return nil // not ours
		}
		var one int
		err = s.db.QueryRowContext(ctx, s.d.rebind("SELECT 1 FROM blobs WHERE blob_id = $1"), b).Scan(&one)
		if !errors.Is(err, sql.ErrNoRows) {
			return dbErr(err)
		}
		s.opt.Logger.Info("blob: removing a file without metadata")
		return os.Remove(path)
	})
}

// section is a file's first bytes.
type section struct {
	*io.SectionReader
	io.Closer
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: sync directory: %w", err)
	}
	return nil
}
