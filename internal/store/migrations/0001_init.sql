-- Parley relay schema, version 1.
--
-- Portable SQL run unchanged by SQLite and PostgreSQL. Byte strings are
-- BYTEA: PostgreSQL's binary type; in SQLite the name gives the column
-- NUMERIC affinity, which stores bound blobs unchanged. Times are Unix
-- microseconds in BIGINT columns. There is no autoincrement: device IDs and
-- mailbox sequence numbers come from per-row counters, so the DDL needs no
-- dialect switch.

-- One row per account. last_device is the highest device ID ever assigned,
-- so revoked IDs are never reused.
CREATE TABLE users (
	user_id     TEXT NOT NULL PRIMARY KEY,
	identity    BYTEA NOT NULL,
	created     BIGINT NOT NULL,
	last_device BIGINT NOT NULL
);

-- One row per current device. last_seq is the highest Seq ever given to an
-- envelope in its mailbox; queued counts the envelopes in it.
CREATE TABLE devices (
	user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	device_id  BIGINT NOT NULL,
	device_key BYTEA NOT NULL,
	cert       BYTEA NOT NULL,
	created    BIGINT NOT NULL,
	last_seq   BIGINT NOT NULL,
	queued     BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

-- The replaceable prekeys of a device: kind 1 is the signed X25519
-- prekey, kind 2 the signed last-resort ML-KEM key.
CREATE TABLE signed_prekeys (
	user_id   TEXT NOT NULL,
	device_id BIGINT NOT NULL,
	kind      SMALLINT NOT NULL,
	key_id    BIGINT NOT NULL,
	pub       BYTEA NOT NULL,
	signature BYTEA NOT NULL,
	PRIMARY KEY (user_id, device_id, kind),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- One-time prekeys, each handed out at most once: kind 1 is X25519, kind 2
-- ML-KEM.
CREATE TABLE one_time_prekeys (
	user_id   TEXT NOT NULL,
	device_id BIGINT NOT NULL,
	kind      SMALLINT NOT NULL,
	key_id    BIGINT NOT NULL,
	pub       BYTEA NOT NULL,
	signature BYTEA NOT NULL,
	PRIMARY KEY (user_id, device_id, kind, key_id),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Mailboxes: opaque envelopes queued for a device until acked or expired.
CREATE TABLE envelopes (
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
	UNIQUE (to_user, to_device, from_user, from_device, msg_id),
	FOREIGN KEY (to_user, to_device) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX envelopes_expires ON envelopes (expires);

-- SHA-256 hashes of registration tokens already used, kept until the token
-- expires.
CREATE TABLE used_tokens (
	hash    BYTEA NOT NULL PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE INDEX used_tokens_expires ON used_tokens (expires);
