-- Parley relay blob store, schema version 1. Portable SQL run unchanged by
-- SQLite and PostgreSQL (BYTEA has NUMERIC affinity in SQLite, which keeps
-- bound blobs unchanged). Times are Unix microseconds.

-- One row per blob. hash_state is the running SHA-256 of the stored bytes
-- (Go's encoding.BinaryMarshaler form) until done = 1, then the digest.
-- lease_until/lease_id serialize Appends to one blob.
CREATE TABLE blobs (
	blob_id      BYTEA NOT NULL PRIMARY KEY,
	owner_user   TEXT NOT NULL,
	owner_device BIGINT NOT NULL,
	size         BIGINT NOT NULL,
	stored       BIGINT NOT NULL,
	done         SMALLINT NOT NULL,
	hash_state   BYTEA NOT NULL,
	created      BIGINT NOT NULL,
	expires      BIGINT NOT NULL,
	lease_until  BIGINT NOT NULL,
	lease_id     BIGINT NOT NULL
);
CREATE INDEX blobs_owner ON blobs (owner_user, created);
CREATE INDEX blobs_expires ON blobs (expires);

-- Per user: declared bytes and count of their blobs, for the quota.
CREATE TABLE blob_usage (
	owner_user TEXT NOT NULL PRIMARY KEY,
	bytes      BIGINT NOT NULL,
	blobs      BIGINT NOT NULL
);

-- Contents, for the PostgreSQL backend only (the disk backend keeps files):
-- rows of at most ChunkRow bytes starting at byte offset off.
CREATE TABLE blob_chunks (
	blob_id BYTEA NOT NULL,
	off     BIGINT NOT NULL,
	data    BYTEA NOT NULL,
	PRIMARY KEY (blob_id, off)
);

-- One random secret shared by every node (MAC keys of upload capabilities).
CREATE TABLE blob_secret (
	id     SMALLINT NOT NULL PRIMARY KEY,
	secret BYTEA NOT NULL
);
