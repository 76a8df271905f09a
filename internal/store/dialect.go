package store

import (
	"strings"
)

// dialect is everything that differs between the SQL backends. The
// statements (queries.go) and the schema (migrations/) are shared; only
// these few details are not.
type dialect struct {
	name string
	// rebind rewrites a shared statement for the driver: its $n
	// placeholders and, for SQLite, a trailing FOR UPDATE (which SQLite
	// lacks and its single writer does not need).
	rebind func(query string) string
	// syncStmt returns the statement that makes the next commit durable
	// (durable) or lets it skip the disk flush (!durable), and whether it
	// runs inside the transaction (else just before BEGIN). "" means none.
	syncStmt func(durable bool) (stmt string, inTx bool)
	// migrateLock, if set, runs first in the migration transaction to
	// keep concurrent migrations apart (SQLite's BEGIN IMMEDIATE already
	// does).
	migrateLock string
	// tableExists counts the tables named $1 in the current schema.
	tableExists string
	// bulk, if set, holds the array forms of the bulk statements, used
	// instead of the portable multi-row ones (see bulk.go).
	bulk map[bulkOp]string
	// ddl, if set, rewrites a migration statement: PostgreSQL has no
	// WITHOUT ROWID tables (migration 10), whose rows it stores apart
	// from their primary-key index anyway.
	ddl func(stmt string) string
	// sequentialRefs numbers new group messages in sequence (the
	// highest id + 1), which keeps the group_entries ref index growing
	// at one end; only a single-writer database can (see group.go).
	sequentialRefs bool
	// batchReads coalesces concurrent Pending calls (see readbatch.go).
	batchReads bool
	// keepCounters keeps mailbox counters between transactions; only a
	// single-writer database can (see counters.go).
	keepCounters bool
	// rawBulk runs the portable bulk statements on the driver's own
	// connection (rawbulk.go).
	rawBulk bool
}

var sqliteDialect = dialect{
	name: "sqlite",
	rebind: func(q string) string {
		return dollarToQuestion(strings.TrimSuffix(q, forUpdate))
	},
	// Every commit is synchronous=FULL (execInit), relaxed ones too:
	// the store's VFS holds WAL writes until the commit's sync
	// (coalesce.WrapSharedWAL), and a synchronous=NORMAL commit would
	// publish frames not yet written. A relaxed batch then costs an
	// fdatasync, which is off the CPU; the 2.7 pwrite calls per envelope
	// it saves were not (BENCHMARKS.md, stop 27).
	syncStmt:       func(bool) (string, bool) { return "", false },
	sequentialRefs: true,
	keepCounters:   true,
	rawBulk:        true,
	tableExists:    `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1`,
}

// dollarToQuestion rewrites $n placeholders to ?n. SQLite reads "$1" as a
// named parameter and numbers named parameters by first appearance, so
// "$2 ... $1" would bind the wrong values; "?n" binds argument n. Shared
// statements contain no string literals, so every '$' is a placeholder.
func dollarToQuestion(q string) string {
	return strings.ReplaceAll(q, "$", "?")
}
