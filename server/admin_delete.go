package server

import (
	"context"
	"errors"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
)

// DeleteUser erases a user from the relay: the account, its devices with
// their prekeys, unlock keys and mailboxes (store.DeleteUser), then its
// blobs. Its devices' live connections close on every node. The audit
// entry that it happened is the only trace left.
func (a *Admin) DeleteUser(ctx context.Context, user string) error {
	u := addr.UserID(user)
	if err := a.record(ctx, audit.UserDelete, user, "by admin"); err != nil {
		return err
	}
	devs, err := a.r.store.DeleteUser(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, user)
	}
	if err != nil {
		return err
	}
	for _, d := range devs {
		a.r.publish(addr.Address{User: u, Device: d}, fanout.Revoked)
	}
	if a.r.blobs != nil {
		if _, err := a.r.blobs.store.DeleteUser(ctx, u); err != nil {
			return fmt.Errorf("server: erase blobs of %q: %w", user, err)
		}
	}
	a.r.log.Info("user deleted", "by", "admin")
	return nil
}
