package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/policy"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// MaxTokenTTL is the longest a token minted by the admin console stays
// usable.
const MaxTokenTTL = 30 * 24 * time.Hour

// ErrNoTokenKey: the relay holds no TokenSigningKey, so its admin console
// cannot mint tokens (mint them offline with the private key instead).
var ErrNoTokenKey = errors.New("server: no token signing key: start the relay with one, or mint offline with the private key")

// ErrAdminInput marks an admin request the console refuses as malformed.
var ErrAdminInput = errors.New("server: invalid admin request")

// DeviceSummary is one device as the admin console lists it.
type DeviceSummary struct {
	Device   uint32    `json:"device"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"` // zero if it never connected
	Queue    int       `json:"queue"`     // envelopes waiting in its mailbox
}

// Devices lists a user's devices with their last connection and the depth
// of their mailboxes.
func (a *Admin) Devices(ctx context.Context, user string) ([]DeviceSummary, error) {
	u, err := addr.ParseUserID(user)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAdminInput, err)
	}
	if _, err := a.r.store.User(ctx, u); err != nil {
		return nil, a.notFound(err, user)
	}
	devs, err := a.r.store.Devices(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceSummary, 0, len(devs))
	for _, d := range devs {
		n, err := a.r.store.MailboxLen(ctx, d.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, DeviceSummary{Device: uint32(d.Address.Device), Created: d.Created, LastSeen: d.LastSeen, Queue: n})
	}
	return out, nil
}

// MintToken mints a registration token for user, usable for ttl (at most
// MaxTokenTTL), with the relay's TokenSigningKey. The mint is audited
// first; the token itself is never logged.
func (a *Admin) MintToken(ctx context.Context, user string, ttl time.Duration) (string, error) {
	u, err := addr.ParseUserID(user)
	if err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", fmt.Errorf("%w: token TTL %v: want above 0 and at most %v", ErrAdminInput, ttl, MaxTokenTTL)
	}
	if a.signer == nil {
		return "", ErrNoTokenKey
	}
	if a.r.tokenKey != nil && !a.r.tokenKey.Equal(a.signer.Public().(ed25519.PublicKey)) {
		return "", errors.New("server: TokenSigningKey is not the private half of TokenKey")
	}
	if err := a.record(ctx, audit.TokenMint, user, "ttl "+ttl.String()); err != nil {
		return "", err
	}
	return NewRegistrationToken(a.signer, u, a.r.now().Add(ttl))
}

// PublishPolicy has the running relay serve a signed policy document
// (from `parleyd policy sign`), as Server.PublishPolicy does offline. The
// relay checks its form, never its signature. A version not above the
// newest is ErrPolicyStale.
func (a *Admin) PublishPolicy(ctx context.Context, doc []byte) (uint64, error) {
	if len(doc) > wire.MaxPolicy {
		return 0, fmt.Errorf("%w: policy of %d bytes above %d", ErrAdminInput, len(doc), wire.MaxPolicy)
	}
	signed, err := policy.Parse(doc)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAdminInput, err)
	}
	return publishPolicy(ctx, a.r.store, signed.Policy.Version, doc)
}

// notFound turns the store's not-found into ErrNoSuchUser.
func (a *Admin) notFound(err error, user string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, user)
	}
	return err
}

// touch records that a device connected (its last seen time for the admin
// console). It is best effort: a failure costs a last-seen time only.
func (r *relay) touch(ctx context.Context, a addr.Address) {
	if err := r.store.Touch(ctx, a, r.now()); err != nil {
		r.log.Debug("last seen", "err", err)
	}
}
