package store

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
	qUser            = `SELECT identity, created FROM users WHERE user_id = $1`
	qReplaceIdentity = `UPDATE users SET identity = $2 WHERE user_id = $1`
	qLockUser        = `SELECT last_device FROM users WHERE user_id = $1` + forUpdate
	qSetLastDevice   = `UPDATE users SET last_device = $2 WHERE user_id = $1`
	qCountDevices    = `SELECT COUNT(*) FROM devices WHERE user_id = $1`
	qAddDevice       = `INSERT INTO devices (user_id, device_id, device_key, cert, created, last_seq, queued)
VALUES ($1, $2, $3, $4, $5, 0, 0)`
	qDevice = `SELECT device_key, cert, created FROM devices
WHERE user_id = $1 AND device_id = $2`
	qDevices = `SELECT device_id, device_key, cert, created FROM devices
WHERE user_id = $1 ORDER BY device_id`
	qDeleteDevice  = `DELETE FROM devices WHERE user_id = $1 AND device_id = $2`
	qDeleteDevices = `DELETE FROM devices WHERE user_id = $1 RETURNING device_id`
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
	qSaveMailbox = `UPDATE devices SET last_seq = $3, queued = $4
WHERE user_id = $1 AND device_id = $2`
	qQueued = `SELECT queued FROM devices WHERE user_id = $1 AND device_id = $2`

	qInsertEnvelope = `INSERT INTO envelopes
(to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (to_user, to_device, from_user, from_device, msg_id) DO NOTHING`
	qFindEnvelope = `SELECT seq FROM envelopes
WHERE to_user = $1 AND to_device = $2 AND from_user = $3 AND from_device = $4 AND msg_id = $5`
	qPending = `SELECT seq, from_user, from_device, msg_id, kind, created, expires, payload
FROM envelopes WHERE to_user = $1 AND to_device = $2 AND seq > $3 AND expires > $4
ORDER BY seq LIMIT $5`
	qDeleteEnvelope = `DELETE FROM envelopes WHERE to_user = $1 AND to_device = $2 AND seq = $3`
	qExpiring       = `SELECT to_user, to_device, seq, from_user, from_device, msg_id, kind
FROM envelopes WHERE expires <= $1 ORDER BY expires LIMIT $2`
)

// writeQueries are the statements the writer runs. They are all prepared
// when it starts: once a transaction holds the writer's only connection,
// preparing another statement on the pool would wait for it forever.
var writeQueries = []string{
	qCreateUser, qReplaceIdentity, qLockUser, qSetLastDevice, qCountDevices, qAddDevice,
	qDeleteDevice, qDeleteDevices, qUseToken, qPurgeTokens,
	qPutSigned, qSigned, qOneTimeIDs, qPutOneTime, qTakeOneTime,
	qLockMailbox, qSaveMailbox, qInsertEnvelope, qFindEnvelope, qDeleteEnvelope, qExpiring,
}
