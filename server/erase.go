package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// eraseUser removes a user from the relay: the account, its devices with
// their prekeys, unlock keys, push tokens and mailboxes (store.DeleteUser),
// then its blobs. Its devices' live connections close on every node. The
// audit entry, written first so that an erasure is never unlogged, is the
// only trace left; it names the user, who is gone, and who asked.
func (r *relay) eraseUser(ctx context.Context, u addr.UserID, actor, detail string) error {
	e := audit.Entry{Kind: audit.UserDelete, Actor: actor, Subject: string(u), Detail: detail}
	if _, err := r.store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("server: audit %s: %w", audit.UserDelete, err)
	}
	devs, err := r.store.DeleteUser(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, u)
	}
	if err != nil {
		return err
	}
	for _, d := range devs {
		r.publish(addr.Address{User: u, Device: d}, fanout.Revoked)
	}
	if r.blobs != nil {
		if _, err := r.blobs.store.DeleteUser(ctx, u); err != nil {
			return fmt.Errorf("server: erase blobs of %q: %w", u, err)
		}
	}
	r.log.Info("user deleted", "by", actor)
	return nil
}

// handleDeleteAccount serves DELETE /v1/users/{user}: a device erases its
// own account, every device of it included. It is HTTP only (no WebSocket
// request), so that the answer reaches the device before the relay closes
// its connections.
func (r *relay) handleDeleteAccount(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	u, err := addr.ParseUserID(req.PathValue("user"))
	if err != nil {
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "bad user ID in path"))
		return
	}
	if u != dev.Address.User {
		r.writeError(w, wire.Errorf(wire.CodeForbidden, "a device can delete only its own account"))
		return
	}
	if err := r.eraseUser(req.Context(), u, dev.Address.String(), "by the user"); err != nil {
		r.writeError(w, r.internal("delete account", err))
		return
	}
	r.answer(w, &wire.OK{}, nil)
}
