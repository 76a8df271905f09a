-- Parley relay schema, version 2: envelopes lose their foreign key to
-- devices.
--
-- The key made every insert look up (on PostgreSQL: share-lock) the
-- device row, a quarter of PostgreSQL's cost of storing an envelope.
-- The store already checks the device under its mailbox lock before it
-- inserts, and now deletes a device's envelopes itself when it deletes
-- the device. Neither backend can drop a foreign key in portable SQL, so
-- the table is rebuilt (its rows copied) under the same name.

CREATE TABLE envelopes_v2 (
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
	PRIMARY KEY (to_user, to_device, seq),
	UNIQUE (to_user, to_device, from_user, from_device, msg_id)
);
INSERT INTO envelopes_v2 (to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload)
SELECT to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload FROM envelopes;
DROP TABLE envelopes;
ALTER TABLE envelopes_v2 RENAME TO envelopes;
CREATE INDEX envelopes_expires ON envelopes (expires);
