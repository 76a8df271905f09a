package client

import (
	"context"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Devices lists this user's devices that the relay reports and whose
// certificate verifies under this user's identity, this one included.
func (c *Client) Devices(ctx context.Context) ([]Address, error) {
	_, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	rc, err := c.relayClient()
	if err != nil {
		return nil, err
	}
	list, err := rc.Devices(ctx, a.auth(), a.self().User)
	if err != nil {
		return nil, relayErr(err)
	}
	mine := a.identity.Public()
	if id, err := keys.ParseIdentityPublic(list.Identity); err != nil || !id.Equal(mine) {
		return nil, fmt.Errorf("%w: the relay lists another identity for %s", ErrRevoked, a.self().User)
	}
	var out []Address
	for _, t := range c.certified(list, mine, true) {
		out = append(out, publicAddress(t.addr))
	}
	return out, nil
}

// RevokeDevice removes another device of this user (a lost phone): the
// relay deletes its keys and mailbox and refuses it from then on, and
// contacts stop encrypting to it. It cannot read new messages; what it
// stored before stays in its vault.
func (c *Client) RevokeDevice(ctx context.Context, device uint32) error {
	_, a, err := c.registered()
	if err != nil {
		return err
	}
	target := addr.Address{User: a.self().User, Device: addr.DeviceID(device)}
	if device == 0 || target == a.self() {
		return fmt.Errorf("%w: device %d (a device cannot revoke itself)", ErrInvalid, device)
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	if err := rc.Revoke(ctx, a.auth(), target); err != nil {
		return relayErr(err)
	}
	c.log.Info("device revoked", "device", target.String())
	return nil
}

// DeleteAccount erases this user's account, for good. At the relay go the
// account and every device of it (this one included) with their prekeys,
// mailboxes (messages waiting for them, and those they sent that still
// wait), PIN-factor records, push tokens and attachments; the relay keeps
// only an audit entry that it happened. Then this device's vault is
// destroyed and Home removed, and the Client is closed. The user's other
// devices are refused from their next connection (ErrRevoked); their
// vaults stay until they are deleted there. Contacts' messages to the
// user fail from then on. If the relay cannot be reached nothing changes.
func (c *Client) DeleteAccount(ctx context.Context) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	if err := rc.DeleteAccount(ctx, a.auth(), a.self().User); err != nil {
		return relayErr(err)
	}
	c.log.Info("account deleted at the relay; destroying the vault")
	c.mu.Lock()
	live := c.live
	c.v, c.acct, c.rc, c.fs.relay = nil, nil, nil, nil
	c.mu.Unlock()
	if live != nil {
		live.Close()
	}
	rc.CloseIdle()
	return vaultErr(v.Destroy(ctx))
}
