package client

import (
	"context"
	"errors"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
)

// The sealed path of Send and SendMany. The queued path stores each
// message twice before it reaches the relay: as a plain outbox item with
// its history record (one commit), then sealed (a second). When the relay is reachable
// and nothing needs deciding first, the burst is sealed before it is
// stored instead: the device lists come first, then ONE transaction
// stores the history records, the sealed envelopes and the advanced
// sessions. A crash before that commit stored nothing and reported
// nothing; after it, the outbox holds ready envelopes, which every flush
// resubmits as the queued path's would be. The guarantee is unchanged:
// Send and SendMany return only after the messages are durable.
//
// Nothing needs deciding when: the recipient's identity is the one
// stored, and no change of it waits to be accepted; every device (the
// recipient's and this user's others) has a usable session, so no prekey
// bundle is taken; and the outbox is empty, so the burst cannot overtake
// an older message. Otherwise the queued path runs, which handles all of
// that.

// errNotSealed aborts the sealed path's transaction: the queued path runs.
var errNotSealed = errors.New("client: burst takes the queued path")

// sendSealed sends texts to user by the sealed path, over conn. ok is
// false when it stored nothing and the queued path must run; otherwise
// ids are the stored messages (nil after a vault failure), known the
// statuses the flush committed, and err the relay's outcome for user as
// flushReport reports it.
func (c *Client) sendSealed(ctx context.Context, conn *relay.Conn, v *vault.Vault, user addr.UserID, texts []string) (ids []addr.MessageID, known map[string]Status, ok bool, err error) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	_, a, err := c.registered()
	if err != nil {
		return nil, nil, false, nil
	}
	rc, err := c.relayClient()
	if err != nil {
		return nil, nil, false, nil
	}
	f := &flusher{c: c, v: v, a: a, rc: rc, conn: conn}
	ts, id, ok := f.sealedTargets(ctx, user)
	if !ok {
		return nil, nil, false, nil
	}
	var items []*outboxItem
	err = v.Update(func(tx *vault.Tx) error {
		if err := storedIdentityIs(tx, user, id); err != nil {
			return err
		}
		if queued, err := tx.List(nsOutbox); err != nil || len(queued) > 0 {
			return errors.Join(err, errNotSealed)
		}
		hs, its, err := c.outgoing(tx, user, texts)
		if err != nil {
			return err
		}
		items = its
		f.written, f.swept = make(map[string]*historyRec, len(hs)), c.swept.Load()
		for i := range hs {
			f.written[hs[i].ID] = &hs[i]
			if err := putJSON(tx, historyNS(user), hs[i].ID, &hs[i]); err != nil {
				return err
			}
		}
		if err := sealAll(tx, user, items, ts, nil); err != nil {
			return err
		}
		return putBursts(tx, items)
	})
	if errors.Is(err, errNotSealed) || errors.Is(err, ErrIdentityChanged) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, true, vaultErr(err)
	}
	c.noteSealedBurst()
	err = f.submit(ctx, user, items)
	if err == nil {
		err = f.flushGroups(ctx)
	}
	return idsOf(items), f.statuses, true, err
}

// sealedTargets lists user's devices and this user's others, as targets
// does, but only if the sealed path can take them: user's identity is the
// one stored and not held, and every device has a usable session.
func (f *flusher) sealedTargets(ctx context.Context, user addr.UserID) ([]target, keys.IdentityPublic, bool) {
	list, id, err := f.listed(ctx, user)
	if err != nil {
		return nil, keys.IdentityPublic{}, false
	}
	ts := f.c.certified(list, id, false)
	own, err := f.ownDevices(ctx)
	if err != nil || len(ts) == 0 {
		return nil, keys.IdentityPublic{}, false
	}
	ts = append(ts, own...)
	have, err := f.usableSessions(ts)
	if err != nil {
		return nil, keys.IdentityPublic{}, false
	}
	for _, t := range ts {
		if !have[t.addr] {
			return nil, keys.IdentityPublic{}, false
		}
	}
	return ts, id, true
}

// storedIdentityIs fails with errNotSealed unless id is user's stored
// identity with no change waiting to be accepted.
func storedIdentityIs(tx *vault.Tx, user addr.UserID, id keys.IdentityPublic) error {
	rec, found, err := loadContact(tx, user)
	if err != nil {
		return err
	}
	if !found || rec.Pending != nil {
		return errNotSealed
	}
	cur, err := rec.identity()
	if err != nil || !cur.Equal(id) {
		return errors.Join(err, errNotSealed)
	}
	return nil
}
