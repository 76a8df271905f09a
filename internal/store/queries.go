package store

import (
	"fmt"
	"slices"
	"strings"
)

// Every statement the store runs, written once in SQL that SQLite and
// PostgreSQL both accept, with $n placeholders (the SQLite dialect rewrites
// them to ?n, which SQLite binds by number; see dialect.go). Portable
// features only: ON CONFLICT (...) DO NOTHING/UPDATE, RETURNING, LIMIT in
// SELECT (never in DELETE), and a trailing FOR UPDATE that only
// PostgreSQL keeps.

// forUpdate ends a SELECT whose rows the transaction must lock.
const forUpdate = " FOR UPDATE"

// Users and devices.
const (
	qCreateUser = `INSERT INTO users (user_id, identity, created, last_device)
VALUES ($1, $2, $3, 0) ON CONFLICT (user_id) DO NOTHING`
	qUser            = `SELECT identity, created, suspended FROM users WHERE user_id = $1`
	qReplaceIdentity = `UPDATE users SET identity = $2 WHERE user_id = $1`
	qLockUser        = `SELECT last_device FROM users WHERE user_id = $1` + forUpdate
	qSetLastDevice   = `UPDATE users SET last_device = $2 WHERE user_id = $1`
	qCountDevices    = `SELECT COUNT(*) FROM devices WHERE user_id = $1`
	qAddDevice       = `INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued)
VALUES ($1, $2, $3, $4, $5, 0, 0)`
	qDevice = `SELECT d.device_key, d.cert, d.created, d.last_seen, u.suspended
FROM devices d JOIN users u ON u.user_id = d.user_id
WHERE d.user_id = $1 AND d.device_id = $2`
	qDevices = `SELECT device_id, device_key, cert, created, last_seen FROM devices
WHERE user_id = $1 ORDER BY device_id`
	qDeleteDevice  = `DELETE FROM devices WHERE user_id = $1 AND device_id = $2`
	qDeleteDevices = `DELETE FROM devices WHERE user_id = $1 RETURNING device_id`
	// Envelopes have no foreign key to devices (migration 2): deleting a
	// device deletes its mailbox with these, after the device row, in the
	// same transaction. (Prekeys still cascade.)
	qDeleteMailbox   = `DELETE FROM envelopes WHERE to_user = $1 AND to_device = $2 RETURNING ` + sharedRef
	qDeleteMailboxes = `DELETE FROM envelopes WHERE to_user = $1 RETURNING ` + sharedRef
)

// Registration tokens.
const (
	qUseToken = `INSERT INTO used_tokens (hash, expires) VALUES ($1, $2)
ON CONFLICT (hash) DO NOTHING`
	qPurgeTokens = `DELETE FROM used_tokens WHERE hash IN
(SELECT hash FROM used_tokens WHERE expires <= $1 LIMIT $2)`
)

// Prekeys. Kinds are the prekeyKind constants.
const (
	qPutSigned = `INSERT INTO signed_prekeys (user_id, device_id, kind, key_id, pub, signature)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, device_id, kind)
DO UPDATE SET key_id = excluded.key_id, pub = excluded.pub, signature = excluded.signature`
	qSigned = `SELECT key_id, pub, signature FROM signed_prekeys
WHERE user_id = $1 AND device_id = $2 AND kind = $3`
	qOneTimeIDs = `SELECT key_id FROM one_time_prekeys
WHERE user_id = $1 AND device_id = $2 AND kind = $3`
	qPutOneTime = `INSERT INTO one_time_prekeys (user_id, device_id, kind, key_id, pub, signature)
VALUES ($1, $2, $3, $4, $5, $6)`
	// qTakeOneTime removes and returns the device's lowest-numbered
	// one-time key of a kind.
	qTakeOneTime = `DELETE FROM one_time_prekeys
WHERE user_id = $1 AND device_id = $2 AND kind = $3 AND key_id =
(SELECT MIN(key_id) FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2 AND kind = $3)
RETURNING key_id, pub, signature`
	qCountOneTime = `SELECT kind, COUNT(*) FROM one_time_prekeys
WHERE user_id = $1 AND device_id = $2 GROUP BY kind`
)

// Mailboxes.
const (
	// qLockMailbox reads a mailbox's counters and, on PostgreSQL, locks
	// the device row until commit, so that Seqs are handed out and
	// committed in order even across relay nodes. SQLite has no FOR
	// UPDATE and needs none: the writer holds the database's write lock
	// (the SQLite dialect drops the clause, see dialect.go).
	qLockMailbox = `SELECT last_seq, queued FROM devices
WHERE user_id = $1 AND device_id = $2` + forUpdate
	// qCountMailbox counts a mailbox's envelopes and group entries
	// (expired ones included).
	qCountMailbox = `SELECT (SELECT COUNT(*) FROM envelopes WHERE to_user = $1 AND to_device = $2) +
(SELECT COUNT(*) FROM group_entries WHERE to_user = $1 AND to_device = $2)`

	// qPending reads a mailbox's envelopes and group entries (group.go)
	// merged in Seq order: the first $5 of each, then the first $5 of both.
	qPending = `SELECT seq, from_user, from_device, msg_id, kind, created, expires, payload FROM (
SELECT * FROM (` + pendingEnvelopes + `) AS pe UNION ALL SELECT * FROM (` + pendingGroups + `) AS pg
) AS b ORDER BY seq LIMIT $5`
	pendingEnvelopes = `SELECT e.seq, e.from_user, e.from_device, e.msg_id, e.kind, e.created, e.expires, ` + payloadOf + ` AS payload
FROM envelopes e ` + joinShared + `
WHERE e.to_user = $1 AND e.to_device = $2 AND e.seq > $3 AND e.expires > $4
ORDER BY e.seq LIMIT $5`
	pendingGroups = `SELECT g.seq, m.from_user, m.from_device, m.msg_id, m.kind, m.created, m.expires, m.payload
FROM group_entries g JOIN group_messages m ON m.id = g.ref
WHERE g.to_user = $1 AND g.to_device = $2 AND g.seq > $3 AND m.expires > $4
ORDER BY g.seq LIMIT $5`
	qDeleteEnvelope = `DELETE FROM envelopes WHERE to_user = $1 AND to_device = $2 AND seq = $3 RETURNING ` + sharedRef
	qExpiring       = `SELECT to_user, to_device, seq, from_user, from_device, msg_id, kind
FROM envelopes WHERE expires <= $1 ORDER BY expires LIMIT $2`
)

// Shared payloads (migration 5, shared.go): a shared envelope row holds
// its payload's SHA-256, and shared_payloads the payload once.
const (
	// sharedRef is what a DELETE of envelopes returns so that the store
	// can release the shared payloads of the rows it deleted: the hash for
	// a shared row, NULL for one that holds its payload itself.
	sharedRef = `CASE WHEN shared = 1 THEN payload END`
	// joinShared and payloadOf read an envelope's payload wherever it is
	// (the envelopes table is e, shared_payloads p).
	joinShared = `LEFT JOIN shared_payloads p ON e.shared = 1 AND p.hash = e.payload`
	payloadOf  = `COALESCE(p.payload, e.payload)`
	// qRefShared stores a payload, or counts refs more references to it.
	qRefShared = `INSERT INTO shared_payloads (hash, payload, refs) VALUES ($1, $2, $3)
ON CONFLICT (hash) DO UPDATE SET refs = shared_payloads.refs + excluded.refs`
	// qReleaseShared drops refs references to a payload and deletes it
	// once none is left.
	qReleaseShared = `UPDATE shared_payloads SET refs = refs - $2 WHERE hash = $1 RETURNING refs`
	qDropShared    = `DELETE FROM shared_payloads WHERE hash = $1 AND refs <= 0`
)

// Multi-row statements: a batch of submissions costs a few statements
// instead of three per envelope (on PostgreSQL each statement is a round
// trip). Each is built for every power of two of rows up to maxRows and
// prepared when the writer starts. Reads pad their row list up to the next
// size by repeating a row (see padRows); writes split theirs into sizes
// that fit exactly (see splitRows). CASTs give PostgreSQL the types of
// VALUES columns; SQLite names VALUES columns column1, column2... as
// PostgreSQL does.
const maxRows = 64

// rowSizes are the row counts the multi-row statements are built for.
var rowSizes = func() []int {
	var ns []int
	for n := 1; n <= maxRows; n *= 2 {
		ns = append(ns, n)
	}
	return ns
}()

// qLockMailboxes is qLockMailbox for n mailboxes, returning each one's key
// first. PostgreSQL locks the rows in the order they are returned: with
// every transaction locking its mailboxes in (user, device) order, and in
// one statement or in chunks of that order, concurrent writers cannot
// deadlock on them.
func qLockMailboxes(n int) string {
	return `SELECT user_id, device_id, last_seq, queued FROM devices WHERE ` +
		rowList(n, 2, " OR ", "(user_id = $%d AND device_id = $%d)") +
		` ORDER BY user_id, device_id` + forUpdate
}

// qFindEnvelopes finds which of n (to_user, to_device, from_user,
// from_device, msg_id) keys are stored, and their seqs.
func qFindEnvelopes(n int) string {
	return `SELECT to_user, to_device, from_user, from_device, msg_id, seq FROM envelopes WHERE ` +
		rowList(n, 5, " OR ", "(to_user = $%d AND to_device = $%d AND from_user = $%d AND from_device = $%d AND msg_id = $%d)")
}

// qInsertEnvelopes inserts n envelopes, skipping those already stored.
func qInsertEnvelopes(n int) string {
	return `INSERT INTO envelopes
(to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared)
VALUES ` + rowList(n, 11, ", ", "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)") + `
ON CONFLICT (from_user, from_device, msg_id, to_user, to_device) DO NOTHING`
}

// qDeleteEnvelopes deletes n envelopes by mailbox and Seq, returning the
// key of each one deleted.
func qDeleteEnvelopes(n int) string {
	return `DELETE FROM envelopes WHERE ` +
		rowList(n, 3, " OR ", "(to_user = $%d AND to_device = $%d AND seq = $%d)") +
		` RETURNING to_user, to_device, seq, ` + sharedRef
}

// qInsertGroupEntries inserts n group entries.
func qInsertGroupEntries(n int) string {
	return `INSERT INTO group_entries (to_user, to_device, seq, ref) VALUES ` +
		rowList(n, 4, ", ", "($%d, $%d, $%d, $%d)")
}

// qDeleteGroupEntries deletes n group entries by mailbox and Seq,
// returning the key and ref of each one deleted.
func qDeleteGroupEntries(n int) string {
	return `DELETE FROM group_entries WHERE ` +
		rowList(n, 3, " OR ", "(to_user = $%d AND to_device = $%d AND seq = $%d)") +
		` RETURNING to_user, to_device, seq, ref`
}

// qSaveMailboxes writes the counters of n mailboxes.
func qSaveMailboxes(n int) string {
	return `UPDATE devices SET last_seq = v.column3, queued = v.column4 FROM (VALUES ` +
		rowList(n, 4, ", ", "(CAST($%d AS TEXT), CAST($%d AS BIGINT), CAST($%d AS BIGINT), CAST($%d AS BIGINT))") +
		`) AS v WHERE devices.user_id = v.column1 AND devices.device_id = v.column2`
}

// rowList repeats a row pattern of k placeholders n times, numbering the
// placeholders 1 to n*k, joined by sep.
func rowList(n, k int, sep, pattern string) string {
	rows := make([]string, n)
	args := make([]any, k)
	for i := range rows {
		for j := range args {
			args[j] = i*k + j + 1
		}
		rows[i] = fmt.Sprintf(pattern, args...)
	}
	return strings.Join(rows, sep)
}

// writeQueries are the statements the writer runs. They are all prepared
// when it starts: once a transaction holds the writer's only connection,
// preparing another statement on the pool would wait for it forever.
var writeQueries = []string{
	qCreateUser, qReplaceIdentity, qLockUser, qSetLastDevice, qCountDevices, qAddDevice,
	qDeleteDevice, qDeleteDevices, qDeleteMailbox, qDeleteMailboxes, qUseToken, qPurgeTokens,
	qPutSigned, qSigned, qOneTimeIDs, qPutOneTime, qTakeOneTime,
	qLockMailbox, qCountMailbox, qDeleteEnvelope, qExpiring,
	qRefShared, qReleaseShared, qDropShared,
}

// writerQueries are the statements a writer in dialect d prepares: the
// shared ones, the challenge and registration statements, the sync and
// data_version statements every transaction may run (writer.begin), and
// d's bulk statements (see bulk.go).
func writerQueries(d dialect) []string {
	qs := slices.Concat(writeQueries, challengeQueries, registerQueries)
	for _, durable := range []bool{true, false} {
		if q, inTx := d.syncStmt(durable); q != "" && !inTx {
			qs = append(qs, q)
		}
	}
	if d.keepCounters {
		qs = append(qs, qDataVersion)
	}
	if d.bulk == nil {
		return append(qs, multiRowQueries()...)
	}
	for _, q := range d.bulk {
		qs = append(qs, q)
	}
	return qs
}

// multiRow holds the multi-row statements for one row count, built once.
type multiRow struct{ lock, find, insert, save, delete, insertGroup, deleteGroup string }

var multiRows = func() map[int]multiRow {
	m := map[int]multiRow{}
	for _, n := range rowSizes {
		m[n] = multiRow{qLockMailboxes(n), qFindEnvelopes(n), qInsertEnvelopes(n), qSaveMailboxes(n), qDeleteEnvelopes(n),
			qInsertGroupEntries(n), qDeleteGroupEntries(n)}
	}
	return m
}()

func multiRowQueries() []string {
	var qs []string
	for _, n := range rowSizes {
		r := multiRows[n]
		qs = append(qs, r.lock, r.find, r.insert, r.save, r.delete, r.insertGroup, r.deleteGroup)
	}
	return qs
}

// padRows returns the smallest statement size that holds n rows (at most
// maxRows).
func padRows(n int) int {
	size := 1
	for size < n && size < maxRows {
		size *= 2
	}
	return size
}

// splitRows returns the largest statement size that n rows fill exactly
// (n > 0).
func splitRows(n int) int {
	size := maxRows
	for size > n {
		size /= 2
	}
	return size
}
