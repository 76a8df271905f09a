package mobile

import (
	"context"

	"parley.dev/client"
)

// Register creates this device's identity and registers it with the
// relay as user, with a registration token from the app's backend ("" if
// the relay needs none). It returns the device's address, "user/device".
// If it fails after the relay registered the device, calling it again
// finishes the job. Errors: parley:user_exists, parley:token,
// parley:unreachable, parley:untrusted, parley:registered.
func (m *Client) Register(user, token string, timeoutMs int64) (string, error) {
	return m.register(user, client.RegisterOptions{Token: token}, timeoutMs)
}

// LinkRequest starts linking this device (created, not registered) to a
// user registered on another device: show the returned code (as a QR
// code) to that device, whose ApproveLink returns the approval to pass
// to RegisterLinked here. A new request replaces an earlier one.
func (m *Client) LinkRequest(timeoutMs int64) (string, error) {
	var code string
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		code, err = c.LinkRequest(ctx)
		return err
	})
	return code, err
}

// ApproveLink lets the device that showed request join this user and
// returns the approval to give that device's RegisterLinked. Only approve
// a request read from your own new device.
func (m *Client) ApproveLink(request string, timeoutMs int64) (string, error) {
	var approval string
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		approval, err = c.ApproveLink(ctx, request)
		return err
	})
	return approval, err
}

// RegisterLinked registers this device as another device of user, with
// the approval from ApproveLink on a device already registered: it gets
// the same identity, so contacts see no change. It returns the device's
// address.
func (m *Client) RegisterLinked(user, approval string, timeoutMs int64) (string, error) {
	return m.register(user, client.RegisterOptions{Link: approval}, timeoutMs)
}

func (m *Client) register(user string, opt client.RegisterOptions, timeoutMs int64) (string, error) {
	var addr client.Address
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		addr, err = c.Register(ctx, user, opt)
		return err
	})
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

// Address returns this device's address, "user/device", or
// parley:not_registered.
func (m *Client) Address() (string, error) {
	var addr client.Address
	err := m.do(0, func(_ context.Context, c *client.Client) (err error) {
		addr, err = c.Address()
		return err
	})
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

// Devices lists this user's devices, this one included, as the relay
// reports them and this user's identity certifies them.
func (m *Client) Devices(timeoutMs int64) (*DeviceList, error) {
	var list []client.Address
	var self client.Address
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		if self, err = c.Address(); err != nil {
			return err
		}
		list, err = c.Devices(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &DeviceList{}
	for _, a := range list {
		out.items = append(out.items, &Device{User: a.User, ID: int64(a.Device), This: a == self})
	}
	return out, nil
}

// RevokeDevice removes another device of this user (a lost phone): the
// relay refuses it from then on and contacts stop encrypting to it.
func (m *Client) RevokeDevice(device int64, timeoutMs int64) error {
	if device <= 0 || device > 1<<32-1 {
		return invalid("no such device number")
	}
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.RevokeDevice(ctx, uint32(device))
	})
}

// DeleteAccount erases this user's account for good: at the relay, the
// account and every device of it, with their messages waiting,
// attachments, push tokens and PIN-factor records; then this device's
// vault, whose directory is removed. The Client is locked afterwards (an
// app shows its first-run screen). If the relay cannot be reached within
// timeoutMs nothing changes.
func (m *Client) DeleteAccount(timeoutMs int64) error {
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.DeleteAccount(ctx)
	})
	if err == nil {
		m.Lock()
	}
	return err
}

// Contacts lists the users this device has exchanged messages with,
// sorted by name. It reads the vault only.
func (m *Client) Contacts() (*ContactList, error) {
	var list []client.Contact
	err := m.do(0, func(ctx context.Context, c *client.Client) (err error) {
		list, err = c.Contacts(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ContactList{}
	for _, c := range list {
		out.items = append(out.items, &Contact{User: c.User, Verified: c.Verified, Held: c.Held})
	}
	return out, nil
}

// SafetyNumber returns the safety number of this user and user, to
// compare on both screens (digits read aloud, or a QR code scanned).
// Errors: parley:unknown_contact (exchange a message first).
func (m *Client) SafetyNumber(user string) (*SafetyNumber, error) {
	var n client.SafetyNumber
	err := m.do(0, func(ctx context.Context, c *client.Client) (err error) {
		n, err = c.SafetyNumber(ctx, user)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &SafetyNumber{Digits: n.Digits, Grouped: n.String(), QR: n.QR}, nil
}

// Verify marks user verified if number (read from their screen; spaces
// and dashes are ignored) is your common safety number; a wrong number
// is parley:safety_mismatch and changes nothing. Once verified, a change
// of their identity holds sending (parley:identity_changed) until
// AcceptIdentity. Verifying a changed identity's new number accepts it
// and releases held messages (within timeoutMs).
func (m *Client) Verify(user, number string, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.Verify(ctx, user, number)
	})
}

// VerifyQR is Verify with the payload scanned from the other user's
// screen (their SafetyNumber.QR).
func (m *Client) VerifyQR(user string, scanned []byte, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.VerifyQR(ctx, user, scanned)
	})
}

// AcceptIdentity accepts user's changed identity: held messages go out
// (within timeoutMs, if the relay is reachable) and the contact is no
// longer verified until compared again.
func (m *Client) AcceptIdentity(user string, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.AcceptIdentity(ctx, user)
	})
}
