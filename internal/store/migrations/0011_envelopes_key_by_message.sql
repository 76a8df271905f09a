-- Parley relay schema, version 11: the envelopes' idempotency key leads
-- with the message, not the mailbox.
--
-- The UNIQUE index that makes Submit idempotent was (to_user, to_device,
-- from_user, from_device, msg_id). Keyed (from_user, from_device, msg_id,
-- to_user, to_device) instead, lookups are unchanged (every column is
-- matched), and deleting the envelopes a user sent, which every account
-- deletion does (admin.go, qDeleteSent) and which a user can now ask for,
-- finds them by the index instead of reading every mailbox. Neither
-- backend can reorder a constraint in portable SQL, so the table is
-- rebuilt under the same name, as in migration 3.

CREATE TABLE envelopes_v11 (
	to_user     TEXT NOT NULL,
	to_device   BIGINT NOT NULL,
	seq         BIGINT NOT NULL,
	from_user   TEXT NOT NULL,
	from_device BIGINT NOT NULL,
	msg_id      BYTEA NOT NULL,
	kind        SMALLINT NOT NULL,
	created     BIGINT NOT NULL,
	expires     BIGINT NOT NULL,
	payload     BYTEA NOT NULL,
	shared      SMALLINT NOT NULL DEFAULT 0,
	PRIMARY KEY (to_user, to_device, seq),
	UNIQUE (from_user, from_device, msg_id, to_user, to_device)
);
INSERT INTO envelopes_v11 (to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared)
SELECT to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared FROM envelopes;
DROP TABLE envelopes;
ALTER TABLE envelopes_v11 RENAME TO envelopes;
CREATE INDEX envelopes_expires ON envelopes (expires);
