-- Parley relay schema, version 10: a group message is one row, and each
-- recipient device's copy is a lean entry that refers to it.
--
-- Migration 5 stored a group ciphertext once, but every copy was still a
-- full envelopes row with three B-trees (the primary key, the five-column
-- idempotency index and the expiry index), which held fan-out to about
-- 20k mailbox entries a second. Now group_messages holds the message once
-- (sender, ID, times, ciphertext) with a count of the entries that refer
-- to it, and group_entries holds one short row per recipient device:
-- mailbox, Seq (from the same per-device counter as envelopes, so one
-- mailbox reads both tables in Seq order) and the message's id. A group
-- message is idempotent per (sender, ID): the unique index finds its
-- record, and group_entries_ref its entries. Its Seq-ordered ref index
-- grows at one end, so it costs little per entry.
--
-- The SQLite dialect keeps WITHOUT ROWID (the entry's key is the row); the
-- PostgreSQL dialect drops the clause (internal/store/dialect.go).
CREATE TABLE group_messages (
	id          BIGINT NOT NULL PRIMARY KEY,
	from_user   TEXT NOT NULL,
	from_device BIGINT NOT NULL,
	msg_id      BYTEA NOT NULL,
	kind        SMALLINT NOT NULL,
	created     BIGINT NOT NULL,
	expires     BIGINT NOT NULL,
	payload     BYTEA NOT NULL,
	refs        BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_messages_key ON group_messages (from_user, from_device, msg_id);
CREATE INDEX group_messages_expires ON group_messages (expires);

CREATE TABLE group_entries (
	to_user   TEXT NOT NULL,
	to_device BIGINT NOT NULL,
	seq       BIGINT NOT NULL,
	ref       BIGINT NOT NULL,
	PRIMARY KEY (to_user, to_device, seq)
) WITHOUT ROWID;
CREATE INDEX group_entries_ref ON group_entries (ref);

-- Existing group copies (kind 3, shared or not) move over: one record per
-- (sender, device, ID), numbered -1, -2... (the store numbers new ones
-- from a positive random range), taking the times and payload of its
-- first copy; then one entry per copy, keeping its Seq.
INSERT INTO group_messages (id, from_user, from_device, msg_id, kind, created, expires, payload, refs)
SELECT -ROW_NUMBER() OVER (ORDER BY r.from_user, r.from_device, r.msg_id),
	r.from_user, r.from_device, r.msg_id, r.kind, r.created, r.expires, r.payload, r.refs
FROM (SELECT e.from_user, e.from_device, e.msg_id, e.kind, e.created, e.expires,
		COALESCE(p.payload, e.payload) AS payload,
		ROW_NUMBER() OVER (PARTITION BY e.from_user, e.from_device, e.msg_id ORDER BY e.to_user, e.to_device) AS n,
		COUNT(*) OVER (PARTITION BY e.from_user, e.from_device, e.msg_id) AS refs
	FROM envelopes e LEFT JOIN shared_payloads p ON e.shared = 1 AND p.hash = e.payload
	WHERE e.kind = 3) AS r
WHERE r.n = 1;
INSERT INTO group_entries (to_user, to_device, seq, ref)
SELECT e.to_user, e.to_device, e.seq, m.id
FROM envelopes e JOIN group_messages m
ON m.from_user = e.from_user AND m.from_device = e.from_device AND m.msg_id = e.msg_id
WHERE e.kind = 3;
DELETE FROM envelopes WHERE kind = 3;
-- Only group copies were stored shared (migration 5).
DELETE FROM shared_payloads;
