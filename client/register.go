package client

import (
	"context"
	"fmt"
	"os"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// RegisterOptions are the optional inputs of Register.
type RegisterOptions struct {
	// Token is a registration token from the host app's backend, for
	// relays that register only with one. It is a secret until used.
	Token string
	// Link is an approval from ApproveLink on a device already registered
	// as the same user: this device then joins that user (same identity,
	// so contacts see no change) instead of creating a new identity.
	// LinkRequest must have been called on this device first.
	Link string
}

// Register creates this device's identity (or joins an existing user's,
// with opt.Link), registers the device with the relay at Server as user,
// and uploads its prekeys. It saves Server, CAFile's certificates and Pins
// in the vault, so later runs need not set them.
//
// If the relay registered the device but a later step failed, calling
// Register again finishes the job; on a fully registered device it returns
// ErrRegistered. Errors: ErrInvalid (user name), ErrNoServer, ErrUserExists
// (the name is taken), ErrToken, ErrUnreachable, ErrUntrusted,
// ErrRateLimited.
func (c *Client) Register(ctx context.Context, user string, opt RegisterOptions) (Address, error) {
	uid, err := addr.ParseUserID(user)
	if err != nil {
		return Address{}, fmt.Errorf("%w: user name %q: use 1-64 of a-z, 0-9, '.', '_', '-'", ErrInvalid, user)
	}
	if len(opt.Token) > wire.MaxToken {
		return Address{}, fmt.Errorf("%w: token too long", ErrInvalid)
	}
	v, err := c.vault()
	if err != nil {
		return Address{}, err
	}
	c.mu.Lock()
	a := c.acct
	c.mu.Unlock()
	if a != nil && a.registered() {
		if a.prof.User != user || opt.Link != "" {
			return publicAddress(a.self()), ErrRegistered
		}
		return c.finishRegistration(ctx, a, true)
	}
	if a == nil || a.prof.User != user || opt.Link != "" {
		if a, err = c.newAccount(v, uid, opt.Link); err != nil {
			return Address{}, err
		}
	}
	return c.registerAccount(ctx, v, a, opt.Token)
}

// newAccount makes and saves the keys of a device about to register.
func (c *Client) newAccount(v *vault.Vault, user addr.UserID, link string) (*account, error) {
	if c.Server == "" {
		return nil, ErrNoServer
	}
	prof := profileRec{V: recordVersion, User: string(user), Server: c.Server, Pins: c.Pins}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %v", ErrBadConfig, err)
		}
		prof.CA = pem
	}
	id, err := c.identityFor(v, user, link)
	if err != nil {
		return nil, err
	}
	dev, err := keys.GenerateDeviceKey()
	if err != nil {
		return nil, err
	}
	a := &account{prof: prof, identity: id, device: dev}
	err = v.Update(func(tx *vault.Tx) error {
		if err := tx.Put(nsAccount, keyIdentity, id.MarshalSecret()); err != nil {
			return err
		}
		if err := tx.Put(nsAccount, keyDevice, dev.MarshalSecret()); err != nil {
			return err
		}
		return putJSON(tx, nsAccount, keyProfile, &prof)
	})
	if err != nil {
		return nil, vaultErr(err)
	}
	c.setAccount(a)
	return a, nil
}

// identityFor returns a fresh identity, or the one a link approval carries.
func (c *Client) identityFor(v *vault.Vault, user addr.UserID, link string) (*keys.Identity, error) {
	if link == "" {
		return keys.GenerateIdentity()
	}
	return openLinkApproval(v, user, link)
}

// setAccount installs a and drops the relay client built for the previous
// settings.
func (c *Client) setAccount(a *account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acct = a
	if c.rc != nil {
		c.rc.CloseIdle()
		c.rc = nil
	}
}

// registerAccount asks the relay for a device number, then uploads prekeys.
func (c *Client) registerAccount(ctx context.Context, v *vault.Vault, a *account, token string) (Address, error) {
	rc, err := c.relayClient()
	if err != nil {
		return Address{}, err
	}
	user := addr.UserID(a.prof.User)
	cert, err := a.identity.SignDeviceCert(user, a.device.Public())
	if err != nil {
		return Address{}, err
	}
	got, err := rc.Register(ctx, a.device, &wire.Register{User: user, Identity: a.identity.Public().Bytes(),
		DeviceKey: a.device.Public().Bytes(), DeviceCert: cert, Token: token})
	if err != nil {
		return Address{}, relayErr(err)
	}
	done := *a
	done.prof.Device = uint32(got.Device)
	err = v.Update(func(tx *vault.Tx) error {
		if err := putJSON(tx, nsAccount, keyProfile, &done.prof); err != nil {
			return err
		}
		return tx.Delete(nsAccount, keyLink)
	})
	if err != nil {
		return Address{}, vaultErr(err)
	}
	c.mu.Lock()
	c.acct = &done
	c.mu.Unlock()
	c.log.Info("registered", "device", got.String())
	return c.finishRegistration(ctx, &done, false)
}

// finishRegistration creates the first prekeys if there are none and
// uploads whatever is pending. again reports a repeated Register call.
func (c *Client) finishRegistration(ctx context.Context, a *account, again bool) (Address, error) {
	v, err := c.vault()
	if err != nil {
		return Address{}, err
	}
	var fresh bool
	err = v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil || len(m.Signed) > 0 {
			return err
		}
		fresh = true
		if err := m.rotate(tx, c.clock()); err != nil {
			return err
		}
		if err := m.addOneTime(tx, c.oneTimeTarget(), c.oneTimeTarget()); err != nil {
			return err
		}
		return m.save(tx)
	})
	if err != nil {
		return Address{}, vaultErr(err)
	}
	pending, err := c.preKeysPending(v)
	if err != nil {
		return Address{}, err
	}
	if again && !fresh && !pending {
		return publicAddress(a.self()), ErrRegistered
	}
	if err := c.uploadPreKeys(ctx); err != nil {
		return publicAddress(a.self()), err
	}
	return publicAddress(a.self()), nil
}

func (c *Client) preKeysPending(v *vault.Vault) (bool, error) {
	var pending bool
	err := v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil {
			return err
		}
		pending = m.pending()
		return nil
	})
	return pending, vaultErr(err)
}
