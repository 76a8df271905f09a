package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs"

	"parley.dev/internal/coalesce"
	"parley.dev/internal/private"
	"parley.dev/internal/sqlitewal"
)

// Options configures Open. The zero value is valid: every zero field takes
// its documented default.
type Options struct {
	// MailboxCap is the most envelopes queued per device
	// (default DefaultMailboxCap).
	MailboxCap int
	// TTL is how long an envelope submitted without Expires waits
	// (default DefaultTTL).
	TTL time.Duration
	// NoticeTTL is how long a KindExpired notice waits
	// (default DefaultNoticeTTL).
	NoticeTTL time.Duration
	// Now is the clock (default time.Now). Tests inject their own.
	Now func() time.Time
	// Logger receives operational events; nil is silent. Nothing logged
	// carries a payload, key or token.
	Logger *slog.Logger
	// QueueLen is how many write requests may wait for the writer before
	// callers block (default 1,024).
	QueueLen int
	// ReadConns is the size of the read-only connection pool (default 4).
	ReadConns int
	// Writers is how many write connections (and writer goroutines) a
	// PostgreSQL store uses (default 2); see writers. More overlap more
	// commits, which pays when each waits long (a remote server, a slow
	// fsync) and costs CPU per write when the relay and the database share
	// a few cores (smaller batches). SQLite always uses one.
	Writers int
	// WALAutocheckpoint is SQLite's wal_autocheckpoint in pages (default
	// 10,000, about 40 MB of WAL). SQLite checkpoints inside COMMIT; at its
	// own default of 1,000 the checkpoints cost the writer far more.
	// PostgreSQL ignores it.
	WALAutocheckpoint int

	// NoMigrate makes Open check that the schema is current (failing
	// with ErrSchemaBehind if not) instead of migrating it: for
	// deployments that run Migrate as a step of their own.
	NoMigrate bool

	// CheckpointInterval is how often SQLite's WAL is checkpointed into
	// the database file and truncated to zero bytes (default
	// DefaultCheckpointInterval). With secure_delete, that is when the
	// last copy of a deleted envelope leaves the disk's files; Close does
	// it once more. A negative interval checkpoints only at Close.
	// PostgreSQL ignores it.
	CheckpointInterval time.Duration

	// secureDelete overrides SQLite's secure_delete setting ("ON" when
	// empty); tests and benchmarks compare "FAST" and "OFF" with it.
	secureDelete string
}

// DefaultCheckpointInterval bounds how long a deleted envelope's bytes
// stay in a file of a SQLite store (Options.CheckpointInterval).
const DefaultCheckpointInterval = time.Minute

const (
	defaultReadConns  = 4
	defaultWriters    = 2
	defaultCheckpoint = 10000
	busyTimeoutMillis = 10000
	writerCacheKiB    = 8192
)

func (o Options) withDefaults() Options {
	if o.MailboxCap <= 0 {
		o.MailboxCap = DefaultMailboxCap
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NoticeTTL <= 0 {
		o.NoticeTTL = DefaultNoticeTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueLen <= 0 {
		o.QueueLen = defaultQueueLen
	}
	if o.ReadConns <= 0 {
		o.ReadConns = defaultReadConns
	}
	if o.Writers <= 0 {
		o.Writers = defaultWriters
	}
	if o.WALAutocheckpoint <= 0 {
		o.WALAutocheckpoint = defaultCheckpoint
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.secureDelete == "" {
		o.secureDelete = "ON"
	}
	return o
}

// Open opens (creating if needed) the store named by dsn and migrates its
// schema. dsn is a SQLite file path, optionally prefixed "sqlite:", or a
// "postgres://" or "postgresql://" URL naming a PostgreSQL database (add
// search_path=... to pick a schema). The caller must Close the store.
func Open(ctx context.Context, dsn string, opt Options) (Store, error) {
	opt = opt.withDefaults()
	switch {
	case isPostgres(dsn):
		return openPostgres(ctx, dsn, opt)
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), opt)
	default:
		return openSQLite(ctx, dsn, opt)
	}
}

// Migrate brings the schema of the database named by dsn (as for Open) up
// to date and returns the versions before and after. Several processes
// may run it, and Open, at once: one migrates, the others wait for it.
func Migrate(ctx context.Context, dsn string) (from, to int, err error) {
	db, d, err := openWriteDB(dsn, Options{}.withDefaults())
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	return migrateDB(ctx, db, d)
}

// openWriteDB opens a write connection to dsn, as Open would.
func openWriteDB(dsn string, opt Options) (*sql.DB, dialect, error) {
	if isPostgres(dsn) {
		cfg, err := pgConfig(dsn)
		if err != nil {
			return nil, postgresDialect, err
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(1)
		return db, postgresDialect, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	uri, err := sqliteURI(path)
	if err != nil {
		return nil, sqliteDialect, err
	}
	db, err := openSQLiteWriter(uri, path, opt)
	return db, sqliteDialect, err
}

// sqliteURI checks path and makes the database's files private (see
// internal/private) before SQLite creates them.
func sqliteURI(path string) (string, error) {
	if err := checkPath(path); err != nil {
		return "", err
	}
	uri, err := private.SQLite(path)
	if err != nil {
		return "", fmt.Errorf("store: open %s: %w", path, err)
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "vfs=" + storeVFS(), nil
}

// storeVFS registers, once, and names the VFS of the store's files: the
// operating system's, with the WAL's writes coalesced
// (coalesce.WrapSharedWAL). SQLite writes each WAL frame as two writes, a
// 24-byte header and the page, so a commit of n pages cost 2n pwrite(2)
// calls; coalesced it costs one. That was 2.7 system calls per envelope
// at the relay's peak, and about 15% of its CPU (BENCHMARKS.md, stop 27).
// WrapSharedWAL's conditions hold: every connection commits with
// synchronous=FULL and drops what it held when a transaction rolls back
// (coalesce.PrepareShared, in execInit), and no relaxed commit lowers it
// (sqliteDialect.syncStmt).
var storeVFS = sync.OnceValue(func() string {
	const name = "parley-store"
	vfs.Register(name, coalesce.WrapSharedWAL(vfs.Find("")))
	return name
})

// openSQLiteWriter opens the one write connection.
func openSQLiteWriter(uri, path string, opt Options) (*sql.DB, error) {
	db, err := driver.Open(uri, execInit(writerPragmas(opt)))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// prepareSchema migrates, or with NoMigrate checks, the schema.
func prepareSchema(ctx context.Context, db *sql.DB, d dialect, opt Options) error {
	if opt.NoMigrate {
		return checkSchema(ctx, db, d)
	}
	_, _, err := migrateDB(ctx, db, d)
	return err
}

func checkPath(path string) error {
	if path == "" || path == ":memory:" || strings.Contains(path, "mode=memory") {
		return fmt.Errorf("%w: sqlite store needs a file path, got %q", ErrInvalid, path)
	}
	return nil
}

// openSQLite opens the file twice: one write connection for the writer
// goroutine and a pool of read-only connections, which WAL lets read
// while the writer commits.
func openSQLite(ctx context.Context, path string, opt Options) (Store, error) {
	uri, err := sqliteURI(path)
	if err != nil {
		return nil, err
	}
	wdb, err := openSQLiteWriter(uri, path, opt)
	if err != nil {
		return nil, err
	}
	wdb.SetMaxIdleConns(1)
	if err := prepareSchema(ctx, wdb, sqliteDialect, opt); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := driver.Open(uri, execInit(readerPragmas))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(opt.ReadConns)
	rdb.SetMaxIdleConns(opt.ReadConns)
	s, err := newSQLStore(ctx, []*sql.DB{wdb}, rdb, sqliteDialect, opt)
	if err != nil {
		return nil, err
	}
	s.cp = sqlitewal.Start(wdb, opt.CheckpointInterval, opt.Logger.With("db", "store"))
	return s, nil
}

// execInit configures each new SQLite connection: its commits are
// synchronous=FULL and its rollbacks drop the WAL writes it held
// (coalesce.PrepareShared, for storeVFS; nothing else may set a rollback
// hook, nor lower synchronous), and it turns on the query
// planner stability guarantee (QPSG): without it SQLite plans a LIMIT $n
// for the value bound when the statement was prepared and marks the
// statement to be parsed and planned again whenever $n is bound anew, so
// every Pending call (and every expiry sweep) recompiled its statement.
// Nothing here relies on plans that depend on bound values.
func execInit(pragmas string) func(*sqlite3.Conn) error {
	return func(c *sqlite3.Conn) error {
		if _, err := c.Config(sqlite3.DBCONFIG_ENABLE_QPSG, true); err != nil {
			return err
		}
		if err := coalesce.PrepareShared(c); err != nil { // see storeVFS
			return err
		}
		return c.Exec(pragmas)
	}
}

// writerPragmas configures the write connection. WAL lets readers run
// beside the writer; synchronous=FULL makes each commit reach the disk
// (every one: see dialect.go); temp_store keeps sort spills off disk.
//
// secure_delete=ON overwrites deleted rows with zeros, and pages that
// become free too, in the database file; FAST (SQLite's middle setting)
// leaves the content of freed pages, which is where an envelope larger
// than a page keeps its overflow (TestSecureDeleteModes). Either way the
// WAL still holds the pages as they were before the delete until it is
// checkpointed and truncated: see internal/sqlitewal.
func writerPragmas(opt Options) string {
	return fmt.Sprintf(`PRAGMA busy_timeout = %d;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
PRAGMA secure_delete = %s;
PRAGMA wal_autocheckpoint = %d;
PRAGMA journal_size_limit = %d;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -%d;`,
		busyTimeoutMillis, opt.secureDelete, opt.WALAutocheckpoint,
		2*opt.WALAutocheckpoint*4096, writerCacheKiB)
}

// readerPragmas configures the read pool; query_only makes a stray write
// an error instead of a second writer.
var readerPragmas = fmt.Sprintf(`PRAGMA busy_timeout = %d;
PRAGMA query_only = ON;
PRAGMA temp_store = MEMORY;`, busyTimeoutMillis)
