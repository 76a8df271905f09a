package client

import (
	"errors"
	"fmt"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/pqxdh"
	"parley.dev/internal/session"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// The receive pipeline, for each delivered envelope: route it by
// session.Peek to the session with its base key, to session.Respond for a
// new one, or to each stored session in turn; check the sender's identity;
// drop duplicates (the ratchet's, and a message ID already in the
// history); then, in ONE vault transaction, store the message, the
// advanced session and the deletion of used one-time prekeys. Only then is
// the envelope acknowledged, so a crash before the ack redelivers a
// message that is then a duplicate, and a crash before the commit loses
// nothing. A message that can never be read is acknowledged and dropped
// with an EventError; a vault failure is not acknowledged.

// dropError is a message that can never be read: acknowledge and drop.
// keyGone says its key was already used or discarded (by the ratchet, or
// a first message seen before), so it is either a duplicate or a real
// message lost (see classify).
type dropError struct {
	err     error
	keyGone bool
}

func (e *dropError) Error() string { return e.err.Error() }

// received is what one delivery produced.
type received struct {
	events    []Event
	responded bool  // a new session started on this device's prekeys
	unread    error // the session advanced but the content was refused
	duplicate bool
	mark      string // the unreadKey of the message stored, if any
}

// maxReceiveBatch bounds the deliveries stored in one vault transaction
// (one fsync): those already waiting when the first is handled, at most
// half the relay's window (processor.batchMax).
const maxReceiveBatch = wire.MaxAckBatch

// receive stores a batch of deliveries in one transaction. It returns
// what each produced; all may be acknowledged, unless err (a failure to
// store, after which none may be).
func (c *Client) receive(batch []*wire.Deliver) ([]received, error) {
	v, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	out := make([]received, len(batch))
	var sc *sessionCache
	err = v.Update(func(tx *vault.Tx) error {
		sc = newSessionCache(tx)
		var marks []string
		for i, d := range batch {
			r, err := c.receiveOne(sc, a, d)
			if err != nil {
				return err
			}
			out[i] = r
			if r.mark != "" {
				marks = append(marks, r.mark)
			}
		}
		if err := c.markUnread(tx, marks); err != nil {
			return err
		}
		if err := sc.flush(); err != nil {
			return err
		}
		if err := sc.saveGroups(); err != nil {
			return err
		}
		if c.crashBeforeCommit() {
			return errTestCrash
		}
		return nil
	})
	c.keepGroups(sc, err == nil)
	if err != nil {
		return nil, vaultErr(err)
	}
	if c.crashAfterCommit() {
		return nil, errTestCrash
	}
	return out, nil
}

// receiveOne handles one delivery within tx. Its error is the vault's.
func (c *Client) receiveOne(sc *sessionCache, a *account, d *wire.Deliver) (received, error) {
	switch d.Kind {
	case wire.KindExpired:
		evs, err := c.receiveExpiry(sc.tx, a, d)
		return received{events: evs}, err
	case wire.KindGroup:
		return c.receiveGroupMessage(sc, a, d)
	case wire.KindMessage:
	default:
		c.log.Warn("unknown delivery kind dropped", "kind", int(d.Kind))
		return received{}, nil
	}
	info, err := session.Peek(d.Payload)
	if err != nil {
		return c.dropped(d, err), nil
	}
	var r received
	err = c.store(sc, a, d, info, &r)
	var drop *dropError
	switch {
	case errors.As(err, &drop):
		return c.classify(sc.tx, a, d, drop)
	case err != nil:
		return r, err
	case r.unread != nil:
		c.log.Warn("message content refused", "from", d.From.String(), "err", r.unread)
		r.events = append(r.events, Event{Kind: EventError, Err: fmt.Errorf("%w: from %s: %v", ErrUnreadable, d.From, r.unread)})
	}
	return r, nil
}

// dropped reports a message that could not be read.
func (c *Client) dropped(d *wire.Deliver, err error) received {
	c.log.Warn("undecryptable message dropped", "from", d.From.String(), "err", err)
	return received{events: []Event{{Kind: EventError, Err: fmt.Errorf("%w: from %s: %v", ErrUnreadable, d.From, err)}}}
}

// classify tells a true duplicate (its message ID is stored already:
// dropped silently) from a message that is lost: one whose key the
// ratchet had used or discarded (ErrUndecryptable, naming the message), or
// one that does not decrypt at all (ErrUnreadable).
func (c *Client) classify(tx *vault.Tx, a *account, d *wire.Deliver, drop *dropError) (received, error) {
	stored, err := messageStored(tx, a, d.From, d.ID)
	if err != nil {
		return received{}, err
	}
	if stored {
		c.log.Debug("duplicate dropped", "from", d.From.String(), "reason", drop.err.Error())
		return received{duplicate: true}, nil
	}
	if !drop.keyGone {
		return c.dropped(d, drop.err), nil
	}
	c.log.Warn("message lost: its key was used or discarded", "from", d.From.String())
	m := Message{ID: MessageID(d.ID), Contact: string(d.From.User), Outgoing: d.From.User == a.self().User,
		Sent: d.Queued, Received: c.clock(), Status: StatusFailed}
	err = fmt.Errorf("%w: from %s", ErrUndecryptable, d.From)
	return received{events: []Event{{Kind: EventError, Message: &m, Err: err}}}, nil
}

// messageStored reports whether a message with this ID from device from
// is in the history: a message of another user in the conversation with
// them, a copy from another device of this user in the index of copies.
func messageStored(tx *vault.Tx, a *account, from addr.Address, id addr.MessageID) (bool, error) {
	ns := historyNS(from.User)
	if from.User == a.self().User {
		ns = nsCopies
	}
	_, err := tx.Get(ns, id.String())
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

// store decrypts d and stores what it carries, within tx. It returns a
// *dropError only before it has written anything, so that the other
// deliveries of a batch commit without this one.
func (c *Client) store(sc *sessionCache, a *account, d *wire.Deliver, info session.Info, r *received) error {
	tx := sc.tx
	list, err := sc.load(d.From)
	if err != nil {
		return err
	}
	s, pt, used, isNew, err := decrypt(tx, a, d.From, list, info, d.Payload)
	if err != nil {
		return err
	}
	if isNew {
		list = list.withFirst(s)
	}
	pending, change, err := c.checkSender(sc, a, d.From, s)
	if err != nil {
		return err
	}
	// The message is authentic: the session has advanced for good.
	sc.put(d.From, list)
	if err := deleteUsed(tx, used); err != nil {
		return err
	}
	if isNew {
		if err := rememberFirst(tx, d.From, info.Header.SignedPreKey, s.BaseKey(), used); err != nil {
			return err
		}
	}
	r.responded = isNew
	if change != nil {
		r.events = append(r.events, Event{Kind: EventIdentityChanged, Identity: change})
	}
	m, err := content.Parse(pt)
	if err != nil {
		r.unread = err // stored nothing but the session: the message is spent
		return nil
	}
	if m.Kind.IsGroupControl() {
		return c.fileGroupControl(sc, a, d.From, s.RemoteIdentity(), m, r)
	}
	return c.file(tx, a, d.From, m, pending, r)
}

// decrypt routes payload to its session (attack 2: a replayed first
// message reaches its session by base key and is a duplicate; one whose
// session has left the list is found in the record of accepted first
// messages, see firstmsgs.go, before anything else happens).
func decrypt(tx *vault.Tx, a *account, from addr.Address, list sessionList, info session.Info, payload []byte) (
	s *session.Session, pt []byte, used pqxdh.Used, isNew bool, err error) {
	if info.Type == session.TypePreKey {
		bk, _ := info.BaseKey()
		if s := list.byBaseKey(bk); s != nil {
			pt, err := s.Decrypt(payload)
			return s, pt, used, false, dropped(err)
		}
		if err := checkFirst(tx, from, bk); err != nil {
			return nil, nil, used, false, err
		}
		src := &vaultPreKeys{tx: tx}
		s, pt, used, err := session.Respond(a.identity, a.self(), from, src, payload)
		if src.err != nil {
			return nil, nil, used, false, src.err
		}
		return s, pt, used, true, dropped(err)
	}
	last := errors.New("client: no session with the sender")
	for _, s := range list {
		pt, err := s.Decrypt(payload)
		if err == nil || errors.Is(err, session.ErrDuplicate) {
			return s, pt, used, false, dropped(err)
		}
		last = err
	}
	return nil, nil, used, false, &dropError{err: last}
}

// dropped wraps a decryption error as a dropError.
func dropped(err error) error {
	if err == nil {
		return nil
	}
	return &dropError{err: err, keyGone: errors.Is(err, session.ErrDuplicate)}
}

// checkSender applies the trust rules to the session's identity. A device
// of this user must carry this user's identity. Within one batch the
// verdict for a user is kept while the same identity presents itself
// (sessionCache.trust): only checkSender writes contacts during a
// receive, and it writes nothing for an identity it has just observed.
func (c *Client) checkSender(sc *sessionCache, a *account, from addr.Address, s *session.Session) (pending bool, change *IdentityChange, err error) {
	id := s.RemoteIdentity()
	if from.User == a.self().User {
		if !id.Equal(a.identity.Public()) {
			return false, nil, &dropError{err: errors.New("client: a device of this user under another identity")}
		}
		return false, nil, nil
	}
	if v, ok := sc.trust[from.User]; ok && v.id.Equal(id) {
		return v.pending, nil, nil
	}
	if _, change, err = observeIdentity(sc.tx, from.User, id); err != nil {
		return false, nil, err
	}
	if pending, err = underPending(sc.tx, from.User, id); err != nil {
		return false, nil, err
	}
	sc.trust[from.User] = trustVerdict{id: id, pending: pending}
	return pending, change, nil
}

// trustVerdict is checkSender's verdict on a user's identity, kept for
// the rest of a batch.
type trustVerdict struct {
	id      keys.IdentityPublic
	pending bool
}

func deleteUsed(tx *vault.Tx, used pqxdh.Used) error {
	if used.OneTimePreKey != 0 {
		if err := tx.Delete(nsPreKeys, otkKey(used.OneTimePreKey)); err != nil {
			return err
		}
	}
	if used.KEMPreKey != 0 {
		return tx.Delete(nsPreKeys, kemKey(used.KEMPreKey))
	}
	return nil
}

// file stores a decrypted message in its conversation, unless that
// conversation has its ID already. Its errors are the vault's; a message
// that makes no sense here is reported in r.unread.
func (c *Client) file(tx *vault.Tx, a *account, from addr.Address, m *content.Message, pending bool, r *received) error {
	conv, outgoing, ok := conversationOf(a, from, m)
	if !ok {
		r.unread = fmt.Errorf("client: a message of kind %d from %s", m.Kind, from)
		return nil
	}
	if m.Kind == content.KindTimer || m.Kind == content.KindTimerTranscript {
		return c.fileTimer(tx, conv, outgoing, m, r)
	}
	now := c.clock()
	expires := c.expiryOf(m, now)
	if expires != 0 && expires <= now.UnixMilli() {
		c.log.Debug("a message past its disappearing timer dropped", "from", from.String())
		return nil
	}
	ns := historyNS(conv)
	h := historyRec{V: recordVersion, ID: m.ID.String(), Outgoing: outgoing, Text: m.Text,
		Sent: m.Sent.UnixMilli(), Received: now.UnixMilli(), Status: StatusReceived, NewIdentity: pending, Expires: expires,
		Ord: c.order()}
	if outgoing {
		h.Status = StatusSent
	}
	if dup, err := c.fileHistory(tx, ns, conv, outgoing, m, &h); err != nil || dup {
		if dup {
			c.log.Debug("duplicate dropped", "from", from.String(), "reason", "message ID already stored")
		}
		r.duplicate = dup
		return err
	}
	if expires != 0 {
		if err := c.indexExpiry(tx, expires, h.ID, conv); err != nil {
			return err
		}
	}
	if outgoing { // a copy from another device: index it for messageStored
		if err := tx.Put(nsCopies, h.ID, []byte(conv)); err != nil {
			return err
		}
	}
	r.mark = unreadKey(h.ID, string(conv)) // receive marks the batch unread
	msg := h.message(conv)
	r.events = append(r.events, Event{Kind: EventMessage, Message: &msg})
	return nil
}

// fileHistory stores h, a received message's history record, unless one
// with its ID is stored already (dup: the message is a duplicate, and
// nothing is written). A text is stored by one statement that does both
// (vault.Tx.Add); a message with an attachment is looked up first, as
// filing the attachment writes records of its own.
func (c *Client) fileHistory(tx *vault.Tx, ns string, conv addr.UserID, outgoing bool, m *content.Message, h *historyRec) (dup bool, err error) {
	if m.Attachment == nil {
		added, err := addJSON(tx, ns, h.ID, h)
		return !added && err == nil, err
	}
	if _, err := tx.Get(ns, h.ID); err == nil || !notFound(err) {
		return err == nil, err
	}
	if err := c.fileAttachment(tx, conv, outgoing, m, h); err != nil {
		return false, err
	}
	return false, putJSON(tx, ns, h.ID, h)
}

// conversationOf says which conversation a message from a device belongs
// to, and whether this user sent it (a transcript from another of its
// devices); ok is false for a kind that makes no sense from there.
func conversationOf(a *account, from addr.Address, m *content.Message) (conv addr.UserID, outgoing, ok bool) {
	self := a.self().User
	switch m.Kind {
	case content.KindTranscript, content.KindAttachmentTranscript, content.KindTimerTranscript:
		return m.To, true, from.User == self && m.To != self
	case content.KindText, content.KindAttachment, content.KindTimer:
		return from.User, false, from.User != self
	}
	return "", false, false
}

// receiveExpiry marks the messages an expiry notice lists: copies this
// device sent to d.From that expired before that device fetched them.
func (c *Client) receiveExpiry(tx *vault.Tx, a *account, d *wire.Deliver) ([]Event, error) {
	if len(d.Payload) == 0 || len(d.Payload)%addr.MessageIDLen != 0 {
		c.log.Warn("malformed expiry notice dropped")
		return nil, nil
	}
	if d.From.User == a.self().User {
		return nil, nil // a transcript to another device of ours expired
	}
	var events []Event
	for p := d.Payload; len(p) > 0; p = p[addr.MessageIDLen:] {
		id := addr.MessageID(p[:addr.MessageIDLen])
		var h historyRec
		err := getJSON(tx, historyNS(d.From.User), id.String(), &h)
		if notFound(err) || (err == nil && !h.Outgoing) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.Status = StatusExpired
		if err := putJSON(tx, historyNS(d.From.User), h.ID, &h); err != nil {
			return nil, err
		}
		m := h.message(d.From.User)
		events = append(events, Event{Kind: EventExpired, Message: &m})
	}
	return events, nil
}
