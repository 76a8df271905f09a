package blob

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ChunkRow is the most bytes of one blob_chunks row (PostgreSQL backend).
const ChunkRow = 1 << 20

// maxPostgresConns bounds the pool: appends and downloads each hold a
// connection for one statement at a time.
const maxPostgresConns = 8

// OpenPostgres opens the blob store in the PostgreSQL database named by a
// postgres:// URL; its search_path selects the schema, which may be the
// relay store's. It migrates the schema unless opt.NoMigrate.
func OpenPostgres(ctx context.Context, dsn string, opt Options) (Store, error) {
	db, err := openPostgres(dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxPostgresConns)
	s, err := newSQLStore(ctx, db, postgresDialect, &pgContents{db: db}, opt)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// MigratePostgres brings the blob store's schema in the database named by
// dsn up to date and returns the versions before and after. Several
// processes may run it, and OpenPostgres, at once: one migrates, the
// others wait for it.
func MigratePostgres(ctx context.Context, dsn string) (from, to int, err error) {
	db, err := openPostgres(dsn)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	return migrations.Migrate(ctx, db, postgresDialect.migrateDialect())
}

func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres URL: %v", ErrInvalid, err)
	}
	cfg.RuntimeParams["synchronous_commit"] = "on"
	return stdlib.OpenDB(*cfg), nil
}

// pgContents keeps contents in blob_chunks rows.
type pgContents struct{ db *sql.DB }

func (p *pgContents) write(ctx context.Context, id ID, offset int64, r io.Reader) (int64, error) {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, dbErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM blob_chunks WHERE blob_id = $1 AND off >= $2", id[:], offset); err != nil {
		return 0, dbErr(err)
	}
	buf := make([]byte, ChunkRow)
	var n int64
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO blob_chunks (blob_id, off, data) VALUES ($1, $2, $3)", id[:], offset+n, buf[:k]); err != nil {
				return n, dbErr(err)
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n, dbErr(tx.Commit())
}

func (p *pgContents) open(ctx context.Context, id ID, size int64) (io.ReadSeekCloser, error) {
	return &pgReader{db: p.db, id: id, size: size}, nil
}

func (p *pgContents) remove(ctx context.Context, id ID) error {
	_, err := p.db.ExecContext(ctx, "DELETE FROM blob_chunks WHERE blob_id = $1", id[:])
	return dbErr(err)
}

func (p *pgContents) close() error { return nil }

// pgReader reads a blob's rows in order, one row in memory at a time.
type pgReader struct {
	db       *sql.DB
	id       ID
	size     int64
	pos      int64
	rowOff   int64 // offset of the row in data
	data     []byte
	haveData bool
}

func (r *pgReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if !r.haveData || r.pos < r.rowOff || r.pos >= r.rowOff+int64(len(r.data)) {
		err := r.db.QueryRow("SELECT off, data FROM blob_chunks WHERE blob_id = $1 AND off <= $2 ORDER BY off DESC LIMIT 1",
			r.id[:], r.pos).Scan(&r.rowOff, &r.data)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && r.pos >= r.rowOff+int64(len(r.data))) {
			return 0, fmt.Errorf("blob: contents missing at %d", r.pos)
		}
		if err != nil {
			return 0, dbErr(err)
		}
		r.haveData = true
	}
	avail := r.data[r.pos-r.rowOff:]
	avail = avail[:min(int64(len(avail)), r.size-r.pos)]
	n := copy(p, avail)
	r.pos += int64(n)
	return n, nil
}

func (r *pgReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("blob: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: negative position")
	}
	r.pos = offset
	return offset, nil
}

func (r *pgReader) Close() error { r.data = nil; return nil }
