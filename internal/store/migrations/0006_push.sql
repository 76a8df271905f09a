-- Parley relay schema: push wake-ups (internal/push).
--
-- One row per device that left a push token: the platform's name ("fcm"
-- or "apns"), the opaque token of its notification service, when it was
-- set, and when the relay last asked the push gateway to wake the device
-- (Unix microseconds, 0 = not since the device last connected). Every
-- relay node claims a wake-up with one conditional UPDATE of last_push,
-- so the coalescing window is shared by all nodes. Rows go with their
-- device (revocation, identity replacement).
CREATE TABLE push_tokens (
	user_id   TEXT NOT NULL,
	device_id BIGINT NOT NULL,
	platform  TEXT NOT NULL,
	token     TEXT NOT NULL,
	updated   BIGINT NOT NULL,
	last_push BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
