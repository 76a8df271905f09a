package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"parley.dev/client/internal/content"
	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/session"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// The outbox flush. For each recipient, in the order messages were
// written:
//  1. list the recipient's devices and this user's own, verify each device
//     certificate under the identity known for its user (attack 5), and
//     start sessions from prekey bundles where none is usable;
//  2. in ONE vault transaction, encrypt each message once per device and
//     save the advanced sessions together with the ready envelopes;
//  3. submit the envelopes; forget each once the relay has answered for
//     it. After a crash, ready envelopes are resubmitted as they are: the
//     relay stores a message ID once, and no key is ever reused.

// target is one device to encrypt to.
type target struct {
	addr     addr.Address
	identity keys.IdentityPublic
	own      bool // one of this user's other devices: gets a transcript
}

// flusher is one flush of the outbox.
type flusher struct {
	c    *Client
	v    *vault.Vault
	a    *account
	rc   *relay.Client
	conn *relay.Conn
	own  []target // this user's other devices, listed once per flush
	// ownListed records that own was fetched (it may be empty).
	ownListed bool
	lists     map[addr.UserID]*wire.DeviceList // group members', once per flush
	// statuses holds the history status this flush committed for each
	// message it settled, held or failed (by message ID).
	statuses map[string]Status
	// written holds the history records this flush itself stored (the
	// sealed path's), by message ID: settling one reads it back only if
	// the flush is stale.
	written map[string]*historyRec
	// swept is the sweeps counted (Client.swept) when the flush read or
	// stored its outbox items (see stale).
	swept uint64
}

// stale reports whether a sweep has deleted messages since the flush read
// or stored its outbox items and history records: some may be gone, and
// must not be written back (outboxEdit, seal) nor reported as sent (sent).
func (f *flusher) stale() bool { return f.c.swept.Load() != f.swept }

// flush sends what the outbox holds. It returns the outcome per recipient
// and an error if the connection failed (the rest waits).
func (c *Client) flush(ctx context.Context, conn *relay.Conn) (map[addr.UserID]error, error) {
	errs, _, err := c.flushReport(ctx, conn)
	return errs, err
}

// flushReport is flush that also returns the history status it committed
// for each message it settled, held or failed.
func (c *Client) flushReport(ctx context.Context, conn *relay.Conn) (map[addr.UserID]error, map[string]Status, error) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	v, a, err := c.registered()
	if err != nil {
		return nil, nil, err
	}
	rc, err := c.relayClient()
	if err != nil {
		return nil, nil, err
	}
	swept := c.swept.Load() // before the outbox is read: see stale
	groups, err := loadOutbox(v)
	if err != nil {
		return nil, nil, err
	}
	f := &flusher{c: c, v: v, a: a, rc: rc, conn: conn, swept: swept}
	errs := make(map[addr.UserID]error)
	for _, g := range groups {
		err := f.flushUser(ctx, g.user, g.items)
		if err == nil {
			continue
		}
		errs[g.user] = err
		if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotOpen) || ctx.Err() != nil {
			return errs, f.statuses, err
		}
		c.log.Debug("outbox: messages wait", "err", err)
	}
	return errs, f.statuses, f.flushGroups(ctx)
}

// committed records the history status a committed transaction of the
// flush gave message id.
func (f *flusher) committed(id string, st Status) {
	if f.statuses == nil {
		f.statuses = map[string]Status{}
	}
	f.statuses[id] = st
}

// outboxGroup is the outbox items for one recipient, oldest first.
type outboxGroup struct {
	user  addr.UserID
	items []*outboxItem
}

func loadOutbox(v *vault.Vault) ([]outboxGroup, error) {
	recs, err := v.List(nsOutbox)
	if err != nil {
		return nil, vaultErr(err)
	}
	items, err := readOutbox(recs)
	if err != nil {
		return nil, err
	}
	var groups []outboxGroup
	index := make(map[addr.UserID]int)
	for _, it := range items {
		u := addr.UserID(it.To)
		i, ok := index[u]
		if !ok {
			i = len(groups)
			index[u] = i
			groups = append(groups, outboxGroup{user: u})
		}
		groups[i].items = append(groups[i].items, it)
	}
	return groups, nil
}

// flushUser encrypts what is not yet encrypted for user, then submits
// every ready envelope.
func (f *flusher) flushUser(ctx context.Context, user addr.UserID, items []*outboxItem) error {
	var plain []*outboxItem
	for _, it := range items {
		if it.Ready == nil {
			plain = append(plain, it)
		}
	}
	var encErr error
	if len(plain) > 0 {
		encErr = f.encrypt(ctx, user, plain)
	}
	var ready []*outboxItem
	for _, it := range items {
		if it.Ready != nil {
			ready = append(ready, it)
		}
	}
	if f.stale() { // the sweep may have deleted some since they were read
		err := f.v.Update(func(tx *vault.Tx) (err error) {
			ready, err = f.present(tx, ready)
			return err
		})
		if err != nil {
			return vaultErr(err)
		}
	}
	if err := f.submit(ctx, user, ready); err != nil {
		return err
	}
	return encErr
}

// encrypt lists user's devices, starts sessions where needed and seals
// every item for every device in one transaction.
func (f *flusher) encrypt(ctx context.Context, user addr.UserID, items []*outboxItem) error {
	targets, err := f.targets(ctx, user)
	switch {
	case errors.Is(err, ErrUnknownUser):
		return f.fail(user, items, err)
	case errors.Is(err, ErrIdentityChanged):
		return errors.Join(err, f.hold(user, items))
	case err != nil:
		return err
	}
	fresh, have, skipped, err := f.startSessions(ctx, targets)
	if err != nil {
		return err
	}
	var usable []target
	recipients := 0
	for _, t := range targets {
		if fresh[t.addr] != nil || have[t.addr] {
			usable = append(usable, t)
			if !t.own {
				recipients++
			}
		}
	}
	if recipients == 0 {
		return fmt.Errorf("client: no session with any device of %s: %w", user, skipped)
	}
	return f.seal(user, items, usable, fresh)
}

// targets returns user's devices and this user's other devices, each
// certificate verified under the identity known for its user. The first
// call of a flush asks for both lists in one request.
func (f *flusher) targets(ctx context.Context, user addr.UserID) ([]target, error) {
	list, id, err := f.listed(ctx, user)
	if err != nil {
		return nil, err
	}
	var held bool
	var change *IdentityChange
	err = f.v.Update(func(tx *vault.Tx) error {
		held, change, err = observeIdentity(tx, user, id)
		return err
	})
	if err != nil {
		return nil, vaultErr(err)
	}
	if change != nil {
		f.c.emitEvent(Event{Kind: EventIdentityChanged, Identity: change})
	}
	if held {
		return nil, fmt.Errorf("%w: %s", ErrIdentityChanged, user)
	}
	ts := f.c.certified(list, id, false)
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: %s has no device", ErrUnknownUser, user)
	}
	own, err := f.ownDevices(ctx)
	if err != nil {
		return nil, err
	}
	return append(ts, own...), nil
}

// listed returns user's device list and the identity it is listed under.
// The first call of a flush asks for it and this user's own list in one
// request.
func (f *flusher) listed(ctx context.Context, user addr.UserID) (*wire.DeviceList, keys.IdentityPublic, error) {
	if err := f.prefetchLists(ctx, []addr.UserID{user, f.a.self().User}); err != nil {
		return nil, keys.IdentityPublic{}, err
	}
	list, err := f.deviceList(ctx, user)
	if err != nil {
		return nil, keys.IdentityPublic{}, err
	}
	id, err := keys.ParseIdentityPublic(list.Identity)
	if err != nil {
		return nil, keys.IdentityPublic{}, fmt.Errorf("client: relay sent a malformed identity for %s: %w", user, err)
	}
	return list, id, nil
}

// ownDevices lists this user's other devices, once per flush.
func (f *flusher) ownDevices(ctx context.Context) ([]target, error) {
	if f.ownListed {
		return f.own, nil
	}
	list, err := f.deviceList(ctx, f.a.self().User)
	if err != nil {
		return nil, err
	}
	mine := f.a.identity.Public()
	id, err := keys.ParseIdentityPublic(list.Identity)
	if err != nil || !id.Equal(mine) {
		// The relay no longer lists this user under this identity: it was
		// replaced elsewhere, or the relay lies. Send no transcripts.
		f.c.log.Warn("relay lists another identity for this user; no copies to own devices")
	} else {
		for _, t := range f.c.certified(list, mine, true) {
			if t.addr != f.a.self() {
				f.own = append(f.own, t)
			}
		}
	}
	f.ownListed = true
	return f.own, nil
}

// certified returns the devices of list whose certificate verifies under
// id: the relay cannot add a device to a user.
func (c *Client) certified(list *wire.DeviceList, id keys.IdentityPublic, own bool) []target {
	var ts []target
	for _, d := range list.Devices {
		a := addr.Address{User: list.User, Device: d.Device}
		key, err := keys.ParseDevicePublic(d.Key)
		if err == nil {
			err = id.VerifyDeviceCert(list.User, key, d.Cert)
		}
		if err != nil || !a.Valid() {
			c.log.Warn("relay listed a device without a valid certificate; ignored", "device", a.String())
			continue
		}
		ts = append(ts, target{addr: a, identity: id, own: own})
	}
	return ts
}

// usableSessions reports which targets have a usable stored session.
func (f *flusher) usableSessions(ts []target) (map[addr.Address]bool, error) {
	have := make(map[addr.Address]bool)
	err := f.v.Update(func(tx *vault.Tx) error {
		for _, t := range ts {
			l, err := loadSessions(tx, t.addr)
			if err != nil {
				return err
			}
			have[t.addr] = l.forIdentity(t.identity) != nil
		}
		return nil
	})
	return have, vaultErr(err)
}

// startSessions fetches a bundle and starts a session for every target
// without a usable one. A device whose bundle cannot be had is skipped;
// have lists the targets with a usable stored session; skipped is the
// last error of a skipped device.
func (f *flusher) startSessions(ctx context.Context, ts []target) (fresh map[addr.Address]*session.Session, have map[addr.Address]bool, skipped, err error) {
	fresh = make(map[addr.Address]*session.Session)
	have, err = f.usableSessions(ts)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range ts {
		if have[t.addr] {
			continue
		}
		s, err := f.startSession(ctx, t)
		switch {
		case errors.Is(err, ErrUnreachable), ctx.Err() != nil:
			return nil, nil, nil, err
		case err != nil:
			f.c.log.Warn("cannot start a session; device skipped", "device", t.addr.String(), "err", err)
			skipped = err
			continue
		}
		fresh[t.addr] = s
	}
	return fresh, have, skipped, nil
}

func (f *flusher) startSession(ctx context.Context, t target) (*session.Session, error) {
	wb, err := f.rc.TakeBundle(ctx, f.a.auth(), t.addr)
	if err != nil {
		return nil, relayErr(err)
	}
	b, err := bundleFromWire(wb)
	if err != nil {
		return nil, err
	}
	if !b.Identity.Equal(t.identity) {
		return nil, errors.New("client: bundle under another identity than the device list's")
	}
	return session.Initiate(f.a.identity, f.a.self(), b)
}

// bundleFromWire parses and verifies a relay bundle.
func bundleFromWire(w *wire.Bundle) (*keys.Bundle, error) {
	b := &keys.Bundle{Address: w.Address, DeviceCert: w.DeviceCert,
		SignedPreKeySig: w.Signed.Signature, KEMPreKeySig: w.KEM.Signature}
	var err error
	if b.Identity, err = keys.ParseIdentityPublic(w.Identity); err != nil {
		return nil, err
	}
	if b.Device, err = keys.ParseDevicePublic(w.DeviceKey); err != nil {
		return nil, err
	}
	if b.SignedPreKey, err = keys.ParseSignedPreKeyPublic(w.Signed.Public); err != nil {
		return nil, err
	}
	if w.OneTimeEC != nil {
		otk, err := keys.ParseOneTimePreKeyPublic(w.OneTimeEC.Public)
		if err != nil {
			return nil, err
		}
		b.OneTimePreKey = &otk
	}
	if b.KEMPreKey, err = keys.ParseKEMPreKeyPublic(w.KEM.Public); err != nil {
		return nil, err
	}
	if b.KEMPreKey.LastResort != w.KEMLastResort || uint32(b.SignedPreKey.ID) != w.Signed.ID ||
		uint32(b.KEMPreKey.ID) != w.KEM.ID {
		return nil, errors.New("client: bundle fields disagree with their keys")
	}
	return b, b.Verify()
}

// seal encrypts every item for every target and saves the advanced
// sessions with the ready envelopes, in one transaction.
func (f *flusher) seal(user addr.UserID, items []*outboxItem, ts []target, fresh map[addr.Address]*session.Session) error {
	return vaultErr(f.v.Update(func(tx *vault.Tx) error {
		live, err := f.present(tx, items) // an item swept since is not sealed, nor sent
		if err != nil {
			return err
		}
		if err := sealAll(tx, user, live, ts, fresh); err != nil {
			return err
		}
		for _, it := range live { // each its own record, as enqueued
			if err := putJSON(tx, nsOutbox, it.key, it); err != nil {
				return err
			}
		}
		return nil
	}))
}

// present returns those of items the outbox still holds, within tx: all
// of them unless the flush is stale.
func (f *flusher) present(tx *vault.Tx, items []*outboxItem) ([]*outboxItem, error) {
	if !f.stale() {
		return items, nil
	}
	bursts := map[string]map[string]bool{} // a burst record's key: the messages it holds
	var live []*outboxItem
	for _, it := range items {
		held, err := f.holds(tx, it, bursts)
		if err != nil {
			return nil, err
		}
		if held {
			live = append(live, it)
		}
	}
	return live, nil
}

// holds reports whether the outbox still holds it, within tx, reading
// each burst record once (bursts).
func (f *flusher) holds(tx *vault.Tx, it *outboxItem, bursts map[string]map[string]bool) (bool, error) {
	if it.burst == nil {
		_, err := tx.Get(nsOutbox, it.key)
		if notFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	ids, ok := bursts[it.key]
	if !ok {
		var err error
		if ids, err = burstHolds(tx, it.key); err != nil {
			return false, err
		}
		bursts[it.key] = ids
	}
	return ids[it.ID], nil
}

// sealAll encrypts every item for every target and saves the advanced
// sessions, within tx; the caller stores the ready items.
func sealAll(tx *vault.Tx, user addr.UserID, items []*outboxItem, ts []target, fresh map[addr.Address]*session.Session) error {
	lists := make(map[addr.Address]sessionList)
	for _, t := range ts {
		l, err := loadSessions(tx, t.addr)
		if err != nil {
			return err
		}
		if s := fresh[t.addr]; s != nil {
			l = l.withFirst(s)
		}
		lists[t.addr] = l
	}
	for _, it := range items {
		if err := sealItem(it, user, ts, lists); err != nil {
			return err
		}
	}
	return saveSessions(tx, lists)
}

// saveSessions saves the advanced sessions of a seal.
func saveSessions(tx *vault.Tx, lists map[addr.Address]sessionList) error {
	for a, l := range lists {
		if err := l.save(tx, a); err != nil {
			return err
		}
	}
	return nil
}

// sealItem encrypts it for every target (it.Ready), advancing the
// sessions in lists; the caller stores it.
func sealItem(it *outboxItem, user addr.UserID, ts []target, lists map[addr.Address]sessionList) error {
	id, err := addr.ParseMessageID(it.ID)
	if err != nil {
		return err
	}
	text, copyForOwn := itemContent(it, id, user)
	ready := make([]readyEnvelope, 0, len(ts))
	for _, t := range ts {
		m := text
		if t.own {
			m = copyForOwn
		}
		pt, err := content.Marshal(m)
		if err != nil {
			return err
		}
		s := lists[t.addr].forIdentity(t.identity)
		if s == nil {
			continue // a concurrent change removed it; the device misses this one
		}
		ct, err := s.Encrypt(pt)
		if err != nil {
			return err
		}
		ready = append(ready, readyEnvelope{To: t.addr.String(), Payload: ct})
	}
	it.Ready = ready
	return nil
}

// itemContent returns the client messages an outbox item is sent as: to
// the recipient's devices, and to this user's other devices.
func itemContent(it *outboxItem, id addr.MessageID, user addr.UserID) (text, copyForOwn *content.Message) {
	timer := time.Duration(it.Timer) * time.Second
	text = &content.Message{Kind: content.KindText, ID: id, Sent: msTime(it.Sent), Text: it.Text, Timer: timer}
	copyForOwn = &content.Message{Kind: content.KindTranscript, ID: id, Sent: text.Sent, To: user, Text: it.Text, Timer: timer}
	switch {
	case it.SetTimer != nil:
		text.Kind, copyForOwn.Kind = content.KindTimer, content.KindTimerTranscript
		text.Timer = time.Duration(*it.SetTimer) * time.Second
		copyForOwn.Timer = text.Timer
	case it.Att != nil:
		text.Kind, copyForOwn.Kind = content.KindAttachment, content.KindAttachmentTranscript
		text.Attachment, copyForOwn.Attachment = it.Att, it.Att
	}
	return text, copyForOwn
}

// hold marks items as held for a changed identity.
func (f *flusher) hold(user addr.UserID, items []*outboxItem) error {
	var held []string
	err := f.v.Update(func(tx *vault.Tx) error {
		held = held[:0]
		for _, it := range items {
			_, err := setStatus(tx, user, it.ID, StatusHeld)
			switch {
			case err == nil:
				held = append(held, it.ID)
			case !notFound(err):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return vaultErr(err)
	}
	for _, id := range held {
		f.committed(id, StatusHeld)
	}
	return nil
}

// fail drops items that cannot be sent and marks them failed.
func (f *flusher) fail(user addr.UserID, items []*outboxItem, cause error) error {
	var failed []*historyRec
	err := f.v.Update(func(tx *vault.Tx) error {
		failed = failed[:0]
		edit := outboxEdit{stale: f.stale()}
		for _, it := range items {
			if err := edit.retire(tx, it); err != nil {
				return err
			}
			h, err := setStatus(tx, user, it.ID, StatusFailed)
			if err != nil && !notFound(err) {
				return err
			}
			if h != nil {
				failed = append(failed, h)
			}
		}
		return edit.done(tx)
	})
	if err != nil {
		return vaultErr(err)
	}
	for _, h := range failed {
		f.committed(h.ID, h.Status)
		m := h.message(user)
		f.c.emitEvent(Event{Kind: EventError, Message: &m, Err: cause})
	}
	return cause
}
