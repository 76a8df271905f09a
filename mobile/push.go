package mobile

import (
	"context"

	"parley.dev/client"
)

// Push platforms for RegisterPush.
const (
	PushFCM  = client.PushFCM  // Firebase Cloud Messaging (Android)
	PushAPNs = client.PushAPNs // Apple Push Notification service (iOS)
)

// RegisterPush gives the relay this device's push token, so that while
// the app has no connection the operator's push gateway wakes it when
// mail waits; answer the wake-up with Wake. platform is PushFCM or
// PushAPNs; token is the one FCM or APNs gave the app (an APNs device
// token as hex). Call it after Register, and again whenever the platform
// hands the app a new token: it replaces the old one. A wake-up carries
// no sender, count or content. Errors: parley:push_disabled (the relay
// has no push gateway; messages still arrive on Start or Wake),
// parley:invalid, parley:not_registered.
func (m *Client) RegisterPush(platform, token string, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.RegisterPush(ctx, platform, token)
	})
}

// UnregisterPush deletes this device's push token at the relay, so it is
// no longer woken (the user turned notifications off or signs out).
// Having no token is not an error.
func (m *Client) UnregisterPush(timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.UnregisterPush(ctx)
	})
}
