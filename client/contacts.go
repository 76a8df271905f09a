package client

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/safety"
	"parley.dev/internal/vault"
)

// Contacts lists the users this device has exchanged messages with (or
// tried to), sorted by name.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	v, err := c.vault()
	if err != nil {
		return nil, err
	}
	recs, err := v.List(nsContacts)
	if err != nil {
		return nil, vaultErr(err)
	}
	out := make([]Contact, 0, len(recs))
	for _, r := range recs {
		var rec contactRec
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return nil, fmt.Errorf("client: contact record: %w", err)
		}
		out = append(out, Contact{User: r.Key, Verified: rec.Verified, Held: rec.Pending != nil})
	}
	return out, nil
}

// History returns the conversation with user, oldest first (by the time
// this device stored each message). Messages whose disappearing timer
// has run out, or older than the tenant policy's retention, are deleted
// first.
func (c *Client) History(ctx context.Context, user string) ([]Message, error) {
	v, err := c.vault()
	if err != nil {
		return nil, err
	}
	uid, err := addr.ParseUserID(user)
	if err != nil {
		return nil, fmt.Errorf("%w: user name %q", ErrInvalid, user)
	}
	if err := c.sweep(ctx); err != nil { // nothing past its timer is shown
		return nil, err
	}
	var hs []historyRec
	err = v.Update(func(tx *vault.Tx) error {
		hs, err = readHistory(tx, uid)
		return err
	})
	if err != nil {
		return nil, vaultErr(err)
	}
	// By arrival; within a millisecond, in the order stored.
	slices.SortStableFunc(hs, func(a, b historyRec) int {
		return cmp.Or(cmp.Compare(a.Received, b.Received), cmp.Compare(a.Ord, b.Ord), cmp.Compare(a.Sent, b.Sent))
	})
	out := make([]Message, len(hs))
	for i := range hs {
		out[i] = hs[i].message(uid)
	}
	return out, savedAttachments(v, out)
}

// readHistory reads the conversation with user, with the statuses shown.
func readHistory(tx *vault.Tx, user addr.UserID) ([]historyRec, error) {
	recs, err := tx.List(historyNS(user))
	if err != nil {
		return nil, err
	}
	hs := make([]historyRec, len(recs))
	q := &shownQueue{tx: tx}
	for i, r := range recs {
		if err := json.Unmarshal(r.Value, &hs[i]); err != nil {
			return nil, fmt.Errorf("client: history record: %w", err)
		}
		if err := q.show(&hs[i]); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

// SafetyNumber returns the safety number of this user and user: both see
// the same 60 digits when no one is in the middle. The QR payload is this
// side's: the other side's VerifyQR accepts it, this side's does not. If
// user's identity changed after you verified it, this is the number of the
// new identity, the one to compare before accepting it.
func (c *Client) SafetyNumber(ctx context.Context, user string) (SafetyNumber, error) {
	n, err := c.safetyNumber(user)
	if err != nil {
		return SafetyNumber{}, err
	}
	return SafetyNumber{Digits: n.Digits(), QR: n.QR()}, nil
}

func (c *Client) safetyNumber(user string) (safety.Number, error) {
	_, a, err := c.registered()
	if err != nil {
		return safety.Number{}, err
	}
	uid, id, err := c.comparedIdentity(user)
	if err != nil {
		return safety.Number{}, err
	}
	return safety.New(a.self().User, a.identity.Public(), uid, id)
}

// comparedIdentity returns the identity SafetyNumber and Verify use: the
// pending one if there is one, else the accepted one.
func (c *Client) comparedIdentity(user string) (addr.UserID, keys.IdentityPublic, error) {
	v, err := c.vault()
	if err != nil {
		return "", keys.IdentityPublic{}, err
	}
	uid, err := addr.ParseUserID(user)
	if err != nil {
		return "", keys.IdentityPublic{}, fmt.Errorf("%w: user name %q", ErrInvalid, user)
	}
	var id keys.IdentityPublic
	err = v.Update(func(tx *vault.Tx) error {
		rec, found, err := loadContact(tx, uid)
		if err != nil || !found {
			return errors.Join(err, fmt.Errorf("%w: %s", ErrUnknownContact, user))
		}
		if p, ok := rec.pending(); ok {
			id = p
			return nil
		}
		id, err = rec.identity()
		return err
	})
	if errors.Is(err, ErrUnknownContact) {
		return "", id, fmt.Errorf("%w: %s", ErrUnknownContact, user)
	}
	return uid, id, vaultErr(err)
}

// Verify marks user verified if number is your common safety number, as
// read from their screen (spaces and dashes are ignored). A wrong number
// returns ErrSafetyMismatch and changes nothing. If user's identity had
// changed, verifying the new number also accepts it and releases held
// messages.
func (c *Client) Verify(ctx context.Context, user, number string) error {
	n, err := c.SafetyNumber(ctx, user)
	if err != nil {
		return err
	}
	given := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, number)
	if subtle.ConstantTimeCompare([]byte(given), []byte(n.Digits)) != 1 {
		return ErrSafetyMismatch
	}
	return c.markVerified(ctx, user, n)
}

// VerifyQR is Verify with a payload scanned from the other user's screen
// (their SafetyNumber.QR). A payload of this side's own screen, of another
// contact, or that is no safety number QR code returns ErrSafetyMismatch.
func (c *Client) VerifyQR(ctx context.Context, user string, scanned []byte) error {
	n, err := c.safetyNumber(user)
	if err != nil {
		return err
	}
	if ok, err := n.MatchQR(scanned); !ok || err != nil {
		return ErrSafetyMismatch
	}
	return c.markVerified(ctx, user, SafetyNumber{Digits: n.Digits()})
}

// markVerified marks user verified under the identity whose number n is
// (accepting a pending identity), if that is still the identity compared.
func (c *Client) markVerified(ctx context.Context, user string, n SafetyNumber) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	uid := addr.UserID(user)
	var released bool
	err = v.Update(func(tx *vault.Tx) error {
		rec, _, err := loadContact(tx, uid)
		if err != nil {
			return err
		}
		id := rec.Identity
		if rec.Pending != nil {
			id, released = rec.Pending, true
		}
		pub, err := keys.ParseIdentityPublic(id)
		if err != nil {
			return err
		}
		now, err := safety.New(a.self().User, a.identity.Public(), uid, pub)
		if err != nil || now.Digits() != n.Digits {
			return errors.Join(err, ErrSafetyMismatch) // the identity changed meanwhile
		}
		rec.Identity, rec.Pending, rec.Verified = id, nil, true
		if released {
			if err := unholdAll(tx, uid); err != nil {
				return err
			}
		}
		return putJSON(tx, nsContacts, user, &rec)
	})
	if errors.Is(err, ErrSafetyMismatch) {
		return ErrSafetyMismatch
	}
	if err != nil {
		return vaultErr(err)
	}
	if released {
		c.flushQuietly(ctx)
	}
	return nil
}

// AcceptIdentity accepts user's changed identity: sending is no longer
// held, held messages go out (now, if the relay is reachable), and the
// contact is no longer verified (compare the new safety number and Verify
// again). Accepting when nothing changed does nothing.
func (c *Client) AcceptIdentity(ctx context.Context, user string) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	uid, err := addr.ParseUserID(user)
	if err != nil {
		return fmt.Errorf("%w: user name %q", ErrInvalid, user)
	}
	var changed bool
	err = v.Update(func(tx *vault.Tx) error {
		rec, found, err := loadContact(tx, uid)
		if err != nil || !found {
			return errors.Join(err, fmt.Errorf("%w: %s", ErrUnknownContact, user))
		}
		if rec.Pending == nil {
			return nil
		}
		changed = true
		rec.Identity, rec.Pending, rec.Verified = rec.Pending, nil, false
		if err := unholdAll(tx, uid); err != nil {
			return err
		}
		return putJSON(tx, nsContacts, user, &rec)
	})
	if errors.Is(err, ErrUnknownContact) {
		return fmt.Errorf("%w: %s", ErrUnknownContact, user)
	}
	if err != nil {
		return vaultErr(err)
	}
	if changed {
		c.flushQuietly(ctx)
	}
	return nil
}

// unholdAll sets user's held messages back to queued.
func unholdAll(tx *vault.Tx, user addr.UserID) error {
	items, err := listOutbox(tx)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.To != string(user) {
			continue
		}
		if _, err := setStatus(tx, user, it.ID, StatusQueued); err != nil && !notFound(err) {
			return err
		}
	}
	return nil
}

// flushQuietly tries to send the outbox now; if it cannot, the messages
// wait for the next Send, Sync or Listen.
func (c *Client) flushQuietly(ctx context.Context) {
	if _, err := c.flushNow(ctx); err != nil {
		c.log.Info("outbox waits", "err", err)
	}
}
