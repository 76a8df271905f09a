-- Parley relay schema, version 2: state that every relay node on one
-- database must share for device authentication.

-- Secrets generated once by whichever node needs one first and read by
-- every other (the key that MACs challenges). name is fixed by the code.
CREATE TABLE shared_keys (
	name    TEXT NOT NULL PRIMARY KEY,
	secret  BYTEA NOT NULL,
	created BIGINT NOT NULL
);

-- Challenges already presented, kept until they expire, so that each is
-- accepted once whichever node it is presented to.
CREATE TABLE used_challenges (
	challenge BYTEA NOT NULL PRIMARY KEY,
	expires   BIGINT NOT NULL
);
CREATE INDEX used_challenges_expires ON used_challenges (expires);
