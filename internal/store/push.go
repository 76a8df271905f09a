package store

import (
	"context"
	"fmt"
	"time"

	"parley.dev/internal/addr"
)

// PushStore keeps devices' push tokens (internal/push) and the time of
// each device's last wake-up. The last-push time is the coalescing window
// that every relay node on one database shares: ClaimPush takes it with
// one conditional UPDATE, so two nodes storing mail for one device at
// once claim one wake-up between them.
type PushStore interface {
	// SetPush stores dev's push token, replacing any it had, and starts
	// its window afresh. ErrNotFound if the device does not exist;
	// ErrInvalid for an empty or oversized platform or token.
	SetPush(ctx context.Context, dev addr.Address, p PushToken) error
	// ClearPush deletes dev's push token and reports whether it had one.
	ClearPush(ctx context.Context, dev addr.Address) (bool, error)
	// Push returns dev's push token, or ErrNotFound.
	Push(ctx context.Context, dev addr.Address) (PushToken, error)
	// ClaimPush claims a wake-up of dev at now: if dev has a token and
	// was not woken in the window before now (or was reset since), it
	// records now as the last push and returns the token and true.
	// Otherwise it returns false and writes nothing.
	ClaimPush(ctx context.Context, dev addr.Address, now time.Time, window time.Duration) (PushToken, bool, error)
	// ResetPush forgets dev's last push (the device connected, so the
	// next mail stored while it is away may wake it at once). A device
	// without a token is not an error.
	ResetPush(ctx context.Context, dev addr.Address) error
}

// Limits of a stored push token.
const (
	// MaxPushPlatformLen bounds PushToken.Platform.
	MaxPushPlatformLen = 16
	// MaxPushTokenLen bounds PushToken.Token.
	MaxPushTokenLen = 1024
)

// PushToken is one device's push registration: the name of its
// notification service ("fcm", "apns") and the opaque token it gave. The
// store does not interpret either. Token wakes the device: never log it.
type PushToken struct {
	Platform string
	Token    string
	Updated  time.Time // when it was set (microseconds)
	LastPush time.Time // the last claimed wake-up; zero: none since a reset
}

func checkPush(p PushToken) error {
	if len(p.Platform) == 0 || len(p.Platform) > MaxPushPlatformLen ||
		len(p.Token) == 0 || len(p.Token) > MaxPushTokenLen {
		return fmt.Errorf("%w: push platform of 1..%d bytes and token of 1..%d", ErrInvalid, MaxPushPlatformLen, MaxPushTokenLen)
	}
	return nil
}

func (s *sqlStore) SetPush(ctx context.Context, dev addr.Address, p PushToken) error {
	if err := checkAddr(dev); err != nil {
		return err
	}
	if err := checkPush(p); err != nil {
		return err
	}
	updated := orNow(p.Updated, s.opt.Now)
	if err := checkTime("push token updated", updated); err != nil {
		return err
	}
	u, d := string(dev.User), int64(dev.Device)
	return s.w.do(ctx, dev.User, true, 1, func(t *txn) error {
		if ok, err := t.queryRow(qLockDeviceRow, []any{u, d}, new(int64)); err != nil || !ok {
			return notFoundOr(err, "device %s", dev)
		}
		_, err := t.exec(qSetPush, u, d, p.Platform, p.Token, micros(updated))
		return err
	})
}

func (s *sqlStore) ClearPush(ctx context.Context, dev addr.Address) (bool, error) {
	if err := checkAddr(dev); err != nil {
		return false, err
	}
	var n int64
	err := s.w.do(ctx, dev.User, true, 1, func(t *txn) (err error) {
		n, err = t.exec(qClearPush, string(dev.User), int64(dev.Device))
		return err
	})
	return n > 0, err
}

func (s *sqlStore) Push(ctx context.Context, dev addr.Address) (PushToken, error) {
	if err := checkAddr(dev); err != nil {
		return PushToken{}, err
	}
	var p PushToken
	var updated, last int64
	ok, err := s.queryRow(ctx, qPush, []any{string(dev.User), int64(dev.Device)}, &p.Platform, &p.Token, &updated, &last)
	if err != nil {
		return PushToken{}, err
	}
	if !ok {
		return PushToken{}, fmt.Errorf("%w: push token of %s", ErrNotFound, dev)
	}
	p.Updated, p.LastPush = fromMicros(updated), fromUnlockMicros(last)
	return p, nil
}

func (s *sqlStore) ClaimPush(ctx context.Context, dev addr.Address, now time.Time, window time.Duration) (PushToken, bool, error) {
	if err := checkAddr(dev); err != nil {
		return PushToken{}, false, err
	}
	if err := checkTime("push time", now); err != nil || window < 0 {
		return PushToken{}, false, fmt.Errorf("%w: push time or window", ErrInvalid)
	}
	u, d := string(dev.User), int64(dev.Device)
	var p PushToken
	var claimed bool
	err := s.w.do(ctx, dev.User, false, 1, func(t *txn) error {
		claimed = false
		n, err := t.exec(qClaimPush, u, d, micros(now), micros(now)-window.Microseconds())
		if err != nil || n == 0 {
			return err
		}
		var updated int64
		if _, err := t.queryRow(qPush, []any{u, d}, &p.Platform, &p.Token, &updated, new(int64)); err != nil {
			return err
		}
		p.Updated, p.LastPush, claimed = fromMicros(updated), fromMicros(micros(now)), true
		return nil
	})
	if err != nil || !claimed {
		return PushToken{}, false, err
	}
	return p, true, nil
}

func (s *sqlStore) ResetPush(ctx context.Context, dev addr.Address) error {
	if err := checkAddr(dev); err != nil {
		return err
	}
	return s.w.do(ctx, dev.User, false, 1, func(t *txn) error {
		_, err := t.exec(qResetPush, string(dev.User), int64(dev.Device))
		return err
	})
}

// The push statements (see queries.go for the rules they follow). A
// last_push of 0 never blocks a claim, whatever the window.
const (
	qSetPush = `INSERT INTO push_tokens (user_id, device_id, platform, token, updated, last_push)
VALUES ($1, $2, $3, $4, $5, 0)
ON CONFLICT (user_id, device_id) DO UPDATE SET platform = $3, token = $4, updated = $5, last_push = 0`
	qClearPush = `DELETE FROM push_tokens WHERE user_id = $1 AND device_id = $2`
	qPush      = `SELECT platform, token, updated, last_push FROM push_tokens WHERE user_id = $1 AND device_id = $2`
	qClaimPush = `UPDATE push_tokens SET last_push = $3
WHERE user_id = $1 AND device_id = $2 AND (last_push = 0 OR last_push <= $4)`
	qResetPush = `UPDATE push_tokens SET last_push = 0 WHERE user_id = $1 AND device_id = $2 AND last_push <> 0`
)

func init() {
	writeQueries = append(writeQueries, qSetPush, qClearPush, qPush, qClaimPush, qResetPush)
}
