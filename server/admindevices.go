package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/store"
)

// DeviceSummary is one device as the admin console lists it.
type DeviceSummary struct {
	Device   uint32
	Created  time.Time
	LastSeen time.Time // when it last connected; zero if never
	Queued   int       // envelopes waiting in its mailbox
}

// Devices lists a user's devices with when each last connected and how
// many envelopes wait for it.
func (a *Admin) Devices(ctx context.Context, user string) ([]DeviceSummary, error) {
	u := addr.UserID(user)
	if _, err := a.r.store.User(ctx, u); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchUser, user)
	} else if err != nil {
		return nil, err
	}
	devs, err := a.r.store.Devices(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceSummary, 0, len(devs))
	for _, d := range devs {
		n, err := a.r.store.MailboxLen(ctx, d.Address)
		if err != nil && !errors.Is(err, store.ErrNotFound) { // revoked meanwhile
			return nil, err
		}
		out = append(out, DeviceSummary{Device: uint32(d.Address.Device), Created: d.Created, LastSeen: d.LastSeen, Queued: n})
	}
	return out, nil
}

// PublishPolicy has the relay serve a signed tenant policy from now on, on
// every node; see Server.PublishPolicy, which does the same offline.
func (a *Admin) PublishPolicy(ctx context.Context, doc []byte) (uint64, error) {
	return publishPolicy(ctx, a.r.store, doc)
}

// RecordTokenMint logs that an admin minted a registration token for user,
// usable until expires. Tokens are minted where the token key is, never
// by the relay (which holds only the public key); this records it.
func (a *Admin) RecordTokenMint(ctx context.Context, user string, expires time.Time) error {
	if _, err := addr.ParseUserID(user); err != nil {
		return fmt.Errorf("server: token for %q: %w", user, err)
	}
	return a.record(ctx, audit.TokenMint, user, "expires "+expires.UTC().Format(time.RFC3339))
}
