-- Parley relay schema, version 6: the audit log (internal/audit), account
-- suspension and devices' last-seen times.
--
-- audit_log is append-only: one row per entry, each holding the previous
-- entry's hash. audit_head is one row: the newest entry (head_seq,
-- head_hash; its row lock serialises appends from every relay node on
-- PostgreSQL) and the last entry pruned by retention (anchor_seq,
-- anchor_hash; 0 and empty before any). Empty hashes mean the zero hash.
CREATE TABLE audit_log (
	seq     BIGINT NOT NULL PRIMARY KEY,
	created BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	subject TEXT NOT NULL,
	detail  TEXT NOT NULL,
	prev    BYTEA NOT NULL,
	hash    BYTEA NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created);

CREATE TABLE audit_head (
	id          SMALLINT NOT NULL PRIMARY KEY,
	head_seq    BIGINT NOT NULL,
	head_hash   BYTEA NOT NULL,
	anchor_seq  BIGINT NOT NULL,
	anchor_hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, head_seq, head_hash, anchor_seq, anchor_hash) VALUES (1, 0, '', 0, '');

-- A suspended account's devices cannot authenticate (1 = suspended).
ALTER TABLE users ADD COLUMN suspended SMALLINT NOT NULL DEFAULT 0;
-- When the device last opened a connection (Unix microseconds, 0 = never).
ALTER TABLE devices ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
