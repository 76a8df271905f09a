-- Parley relay schema, version 5: a group message's ciphertext is stored
-- once, however many mailboxes it goes to.
--
-- A group submission puts the same payload in every member device's
-- mailbox. Storing a copy per mailbox made the envelopes table (and the
-- write-ahead log) carry the ciphertext N times, which bounded fan-out at
-- about 20k mailbox entries/s. Now a shared envelope row (shared = 1)
-- holds the payload's SHA-256 in its payload column, and shared_payloads
-- holds the ciphertext once, with the number of envelope rows that refer
-- to it; the store deletes it when the last of them is acked, expires or
-- is deleted with its device.
ALTER TABLE envelopes ADD COLUMN shared SMALLINT NOT NULL DEFAULT 0;

CREATE TABLE shared_payloads (
	hash    BYTEA NOT NULL PRIMARY KEY,
	payload BYTEA NOT NULL,
	refs    BIGINT NOT NULL
);
