package client

import (
	"context"
	"errors"
	"fmt"

	"parley.dev/internal/wire"
)

// ErrPushDisabled: the relay has no push gateway, so it cannot wake this
// device. Messages still arrive whenever the app connects (Sync, Listen).
var ErrPushDisabled = errors.New("client: the relay does not send push wake-ups")

// Push platforms for RegisterPush.
const (
	PushFCM  = "fcm"  // Firebase Cloud Messaging (Android)
	PushAPNs = "apns" // Apple Push Notification service (iOS)
)

// MaxPushToken is the longest push token RegisterPush accepts (bytes).
const MaxPushToken = wire.MaxPushToken

// RegisterPush leaves the relay this device's push token, so that while
// the app has no connection the relay's push gateway can wake it when
// mail waits. platform is PushFCM or PushAPNs; token is the one FCM or
// APNs gave the app (1 to MaxPushToken bytes of letters, digits and
// "_:.-"; an APNs device token as hex). It replaces any token registered
// before; call it again whenever the platform hands the app a new one.
//
// A wake-up carries no content, sender or count: the app answers it by
// connecting (Sync, or Listen with a deadline), which receives and
// acknowledges what waits. The relay and the operator's gateway learn
// that this device got mail and when; Google or Apple learn when it was
// woken (docs/threat-model.md). The token is sent over the device's
// authenticated connection; it is not logged. ErrPushDisabled if the
// relay has no push gateway.
func (c *Client) RegisterPush(ctx context.Context, platform, token string) error {
	p, ok := wire.ParsePushPlatform(platform)
	if !ok {
		return fmt.Errorf("%w: push platform %q (want %q or %q)", ErrInvalid, platform, PushFCM, PushAPNs)
	}
	if !wire.ValidPushToken(token) {
		return fmt.Errorf("%w: push token must be 1 to %d bytes of letters, digits and \"_:.-\"", ErrInvalid, MaxPushToken)
	}
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	if err := rc.SetPush(ctx, a.auth(), &wire.PushRegister{Platform: p, Token: token}); err != nil {
		return pushErr(err)
	}
	c.log.Info("push token registered", "platform", platform)
	return nil
}

// UnregisterPush deletes this device's push token at the relay: it is no
// longer woken (the app signs out of notifications, say). Revoking a
// device deletes its token too. Having no token is not an error.
func (c *Client) UnregisterPush(ctx context.Context) error {
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	if err := rc.ClearPush(ctx, a.auth()); err != nil {
		return pushErr(err)
	}
	c.log.Info("push token unregistered")
	return nil
}

func pushErr(err error) error {
	if errors.Is(err, wire.CodePushDisabled) {
		return fmt.Errorf("%w: %v", ErrPushDisabled, err)
	}
	return relayErr(err)
}
