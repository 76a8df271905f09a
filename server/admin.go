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

// Admin is the relay's admin console: what an operator may do to
// accounts and devices, never to content. Every change is recorded in the
// audit log first; if that append fails, the action fails (an admin
// action that cannot be audited is not taken).
type Admin struct{ r *relay }

// ErrNoSuchUser and ErrNoSuchDevice are Admin's not-found errors.
var (
	ErrNoSuchUser   = errors.New("server: no such user")
	ErrNoSuchDevice = errors.New("server: no such device")
)

// UserSummary is one user as the admin console lists it.
type UserSummary = store.UserSummary

// AuditEntry is one entry of the hash-chained audit log.
type AuditEntry = audit.Entry

// Admin returns the admin console of s, starting s if it has not started.
func (s *Server) Admin() (*Admin, error) {
	r, err := s.relay(context.Background())
	if err != nil {
		return nil, err
	}
	return &Admin{r: r}, nil
}

// Users lists up to limit users whose ID sorts after after, in ID order.
func (a *Admin) Users(ctx context.Context, after string, limit int) ([]UserSummary, error) {
	return a.r.store.Users(ctx, addr.UserID(after), limit)
}

// record appends an admin entry to the audit log.
func (a *Admin) record(ctx context.Context, k audit.Kind, subject, detail string) error {
	_, err := a.r.store.AppendAudit(ctx, audit.Entry{Kind: k, Actor: "admin", Subject: subject, Detail: detail})
	if err != nil {
		return fmt.Errorf("server: audit %s: %w", k, err)
	}
	return nil
}

// RevokeDevice revokes a device: its keys and mailbox go, and its live
// connection closes on whichever node holds it (over the fan-out).
func (a *Admin) RevokeDevice(ctx context.Context, user string, device uint32) error {
	target := addr.Address{User: addr.UserID(user), Device: addr.DeviceID(device)}
	if err := a.record(ctx, audit.DeviceRevoke, target.String(), "by admin"); err != nil {
		return err
	}
	err := a.r.store.RevokeDevice(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchDevice, target)
	}
	if err != nil {
		return err
	}
	a.r.log.Info("device revoked", "device", target.String(), "by", "admin")
	a.r.publish(target, fanout.Revoked)
	return nil
}

// Suspend suspends a user: its devices' live connections close on every
// node, and they are refused after their proof until Resume lifts it.
func (a *Admin) Suspend(ctx context.Context, user string) error {
	return a.setSuspended(ctx, user, true)
}

// Resume lifts a user's suspension.
func (a *Admin) Resume(ctx context.Context, user string) error {
	return a.setSuspended(ctx, user, false)
}

func (a *Admin) setSuspended(ctx context.Context, user string, on bool) error {
	k := audit.UserResume
	if on {
		k = audit.UserSuspend
	}
	if err := a.record(ctx, k, user, ""); err != nil {
		return err
	}
	u := addr.UserID(user)
	err := a.r.store.SetSuspended(ctx, u, on)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, user)
	}
	if err != nil || !on {
		return err
	}
	// Cut the account's live connections on every node: each closes with
	// "account suspended" (conn.revoked reads the flag).
	devs, err := a.r.store.Devices(ctx, u)
	if err != nil {
		return fmt.Errorf("server: suspended %q, but listing its devices to disconnect them: %w", user, err)
	}
	for _, d := range devs {
		a.r.publish(d.Address, fanout.Revoked)
	}
	return nil
}

// AuditLog returns up to limit audit entries with Seq > after.
func (a *Admin) AuditLog(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	return a.r.store.AuditLog(ctx, after, limit)
}

// VerifyAudit checks the whole stored chain and returns how many entries
// it checked; an edited, deleted or reordered entry is an error wrapping
// audit.ErrBroken.
func (a *Admin) VerifyAudit(ctx context.Context) (int64, error) {
	return store.VerifyAudit(ctx, a.r.store)
}
