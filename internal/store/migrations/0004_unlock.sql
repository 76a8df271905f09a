-- Parley relay schema, version 3: the relay PIN factor (internal/unlock).
--
-- One row per unlock credential of a device's vault: the vault's OPRF key,
-- the verifier of a successful unlock, and the guess counter with its two
-- timestamps (Unix microseconds, 0 = never). Nothing else: no PIN and
-- nothing derived from one that lets the relay test a PIN. oprf_key and
-- verifier are empty once the key is destroyed (the row then only says
-- "locked"); verifier is empty too while an enrolment is pending. Rows go
-- with their device (revocation, identity replacement).
CREATE TABLE unlock_keys (
	credential   BYTEA NOT NULL PRIMARY KEY,
	user_id      TEXT NOT NULL,
	device_id    BIGINT NOT NULL,
	oprf_key     BYTEA NOT NULL,
	verifier     BYTEA NOT NULL,
	failures     BIGINT NOT NULL,
	created      BIGINT NOT NULL,
	last_eval    BIGINT NOT NULL,
	last_success BIGINT NOT NULL,
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX unlock_keys_device ON unlock_keys (user_id, device_id);
CREATE INDEX unlock_keys_failures ON unlock_keys (failures);
