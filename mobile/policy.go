package mobile

import (
	"context"

	"parley.dev/client"
)

// Policy is the tenant policy in force on this device (an enterprise app
// sets Config.PolicyKey): the rules its administrator signed. The SDK
// enforces every rule itself (a refused call fails with parley:policy);
// ScreenshotsAllowed and BackupsAllowed are for the app to honour
// (FLAG_SECURE on Android, excluding the vault from backups).
type Policy struct {
	// Version increases with every new policy; IssuedMs is when it was
	// signed, in milliseconds since 1970.
	Version, IssuedMs int64
	// MinPINDigits and MinPassphrase: the shortest PIN or passphrase a
	// new PIN may be (0: the SDK's default).
	MinPINDigits, MinPassphrase int32
	// RequiredFactors names the vault factors every device must use
	// ("relay": the relay PIN factor; "keystore").
	RequiredFactors *StringList
	// RetentionDays: history older than this is deleted (0 keeps it).
	RetentionDays int32
	// DefaultTimerMs and MaxTimerMs bound disappearing messages (0: no
	// default, no cap).
	DefaultTimerMs, MaxTimerMs int64
	// Attachments: files may be sent; MaxAttachment caps their size in
	// bytes (0: the relay's limit).
	Attachments   bool
	MaxAttachment int64
	// MaxDevices caps a user's devices (0: the relay's limit); Linking
	// allows linking new ones.
	MaxDevices int32
	Linking    bool
	// ScreenshotsAllowed and BackupsAllowed are flags for the app.
	ScreenshotsAllowed, BackupsAllowed bool
}

func newPolicy(p *client.Policy) *Policy {
	if p == nil {
		return nil
	}
	return &Policy{
		Version: int64(p.Version), IssuedMs: millis(p.Issued),
		MinPINDigits: int32(p.MinPINDigits), MinPassphrase: int32(p.MinPassphrase),
		RequiredFactors: &StringList{items: p.RequiredFactors},
		RetentionDays:   int32(p.RetentionDays),
		DefaultTimerMs:  p.DefaultTimer.Milliseconds(), MaxTimerMs: p.MaxTimer.Milliseconds(),
		Attachments: p.Attachments, MaxAttachment: p.MaxAttachment,
		MaxDevices: int32(p.MaxDevices), Linking: p.Linking,
		ScreenshotsAllowed: p.ScreenshotsAllow, BackupsAllowed: p.BackupsAllow,
	}
}

// Policy returns the tenant policy in force, or null (nil) when there is
// none: no Config.PolicyKey, or the relay never served one. It reads the
// vault only.
func (m *Client) Policy() (*Policy, error) {
	var p *client.Policy
	err := m.do(0, func(_ context.Context, c *client.Client) (err error) {
		p, err = c.Policy()
		return err
	})
	return newPolicy(p), err
}

// RefreshPolicy fetches the relay's policy now (Start and Wake do it by
// themselves) and returns the one in force afterwards. A forged policy
// is parley:policy_forged, an older one parley:policy_rollback; either
// way the policy in force stays. Without Config.PolicyKey it returns
// null.
func (m *Client) RefreshPolicy(timeoutMs int64) (*Policy, error) {
	if err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		_, err := c.RefreshPolicy(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	return m.Policy()
}
