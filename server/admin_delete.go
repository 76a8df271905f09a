package server

import (
	"context"

	"parley.dev/internal/addr"
)

// DeleteUser erases a user from the relay: the account, its devices with
// their prekeys, unlock keys, push tokens and mailboxes, then its blobs.
// Its devices' live connections close on every node. The audit entry that
// it happened is the only trace left.
func (a *Admin) DeleteUser(ctx context.Context, user string) error {
	return a.r.eraseUser(ctx, addr.UserID(user), "admin", "by admin")
}
