package client

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"parley.dev/client/internal/content"
	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// MaxTextLen is the longest message text, in bytes of UTF-8.
const MaxTextLen = 64 << 10

// The limit is the message format's.
var _ [MaxTextLen - content.MaxTextLen]struct{}
var _ [content.MaxTextLen - MaxTextLen]struct{}

// Send writes text to user. It first stores the message in the history and
// in the encrypted outbox, in one transaction, then tries to send
// everything in the outbox: the message is encrypted separately to every
// device of the recipient and, as a transcript, to this user's other
// devices, starting sessions from prekey bundles where needed. Into a
// conversation under way it takes SendMany's sealed path: the message is
// encrypted first and stored once, sealed (sendsealed.go).
//
// The returned ID is valid whenever the message was stored, even with an
// error, and the error says exactly where the stored message stands (its
// Status in History):
//   - nil: the relay stored a copy for every device (StatusSent);
//   - ErrQueued: the relay was unreachable (ErrUnreachable too) or refused
//     it for now (a rate limit, a full mailbox ...: the error matches
//     that cause as well); the message waits in the encrypted outbox
//     (StatusQueued) and goes out by itself on the next Send, Sync or
//     Listen. Do not send it again: that would deliver it twice;
//   - ErrIdentityChanged: the recipient's verified identity changed; the
//     message is held (StatusHeld) until AcceptIdentity. If the change was
//     known before, nothing is stored and the ID is zero;
//   - ErrUnknownUser, or a *RelayError: the message can never be sent
//     (there is no such user or device, or the relay refuses it for good)
//     and is marked failed (StatusFailed).
//
// Other errors (ErrInvalid, ErrNotRegistered, ErrNotOpen ...) store
// nothing and return a zero ID.
func (c *Client) Send(ctx context.Context, to, text string) (MessageID, error) {
	v, a, err := c.registered()
	if err != nil {
		return MessageID{}, err
	}
	user, err := addr.ParseUserID(to)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: user name %q", ErrInvalid, to)
	}
	switch {
	case user == a.self().User:
		return MessageID{}, fmt.Errorf("%w: cannot send to yourself", ErrInvalid)
	case text == "" || len(text) > MaxTextLen || !utf8.ValidString(text):
		return MessageID{}, fmt.Errorf("%w: text must be 1 to %d bytes of UTF-8", ErrInvalid, MaxTextLen)
	}
	if err := c.checkOutgoing(); err != nil {
		return MessageID{}, err
	}
	ids, known, err := c.sendTexts(ctx, v, user, []string{text})
	if ids == nil {
		return MessageID{}, err
	}
	res, _ := c.sendOutcomes(v, user, ids, known, err)
	return res[0].ID, res[0].Err
}

// sendTexts stores texts to user and sends them, over the live connection
// or one of its own: by the sealed path when it can (sendsealed.go), else
// stored plain first, then flushed with the rest of the outbox. It returns
// the stored messages' IDs (nil: nothing was stored, and err says why),
// the statuses the flush committed, and the flush's outcome for user.
func (c *Client) sendTexts(ctx context.Context, v *vault.Vault, user addr.UserID, texts []string) ([]addr.MessageID, map[string]Status, error) {
	conn, release, connErr := c.flushConn(ctx)
	if connErr == nil {
		defer release()
		if ids, known, sealed, err := c.sendSealed(ctx, conn, v, user, texts); sealed {
			return ids, known, err
		}
	}
	ids, err := c.enqueueMany(v, user, texts)
	if err != nil {
		return nil, nil, err
	}
	if connErr != nil {
		return ids, nil, connErr
	}
	errs, known, err := c.flushReport(ctx, conn)
	if err == nil {
		err = errs[user]
	}
	return ids, known, err
}

// sendOutcome is Send's (and SendFile's) error for a stored message, from
// where the message stands after the flush (or upload) whose error was
// err.
func (c *Client) sendOutcome(v *vault.Vault, user addr.UserID, id addr.MessageID, err error) error {
	var h historyRec
	verr := v.Update(func(tx *vault.Tx) error { return getHistory(tx, user, id.String(), &h) })
	switch {
	case notFound(verr):
		h.Status = statusDeleted
	case verr != nil:
		return errors.Join(err, vaultErr(verr))
	}
	return outcomeOf(h.Status, user, err)
}

// statusDeleted is the status of a message whose record is gone: the
// sweep deleted it (its timer or the retention policy) before it was sent.
// It is never stored.
const statusDeleted Status = 0

// outcomeOf is the error of a stored message to user whose status is st,
// after the flush whose error was err.
func outcomeOf(st Status, user addr.UserID, err error) error {
	switch st {
	case StatusSent:
		return nil
	case StatusQueued, StatusUploading:
		if err == nil || errors.Is(err, ErrQueued) {
			return ErrQueued
		}
		return fmt.Errorf("%w (%w)", ErrQueued, err)
	case StatusHeld:
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrIdentityChanged, user)
		}
		return err
	case statusDeleted:
		return ErrExpired
	}
	if err == nil {
		err = fmt.Errorf("%w: the relay took no copy for %s", ErrUnknownUser, user)
	}
	return err
}

// checkNotHeld fails with ErrIdentityChanged if sending to user is held:
// their verified identity changed and the change is not accepted yet.
func checkNotHeld(tx *vault.Tx, user addr.UserID) error {
	rec, _, err := loadContact(tx, user)
	if err != nil {
		return err
	}
	if rec.Pending != nil {
		return fmt.Errorf("%w: %s", ErrIdentityChanged, user)
	}
	return nil
}

// flushNow sends the outbox over the live connection, or over a short
// one of its own. It returns the outcome per recipient, and an error if
// the relay could not be reached at all.
func (c *Client) flushNow(ctx context.Context) (map[addr.UserID]error, error) {
	errs, _, err := c.flushNowReport(ctx)
	return errs, err
}

// flushNowReport is flushNow that also returns the statuses flushReport
// committed.
func (c *Client) flushNowReport(ctx context.Context) (map[addr.UserID]error, map[string]Status, error) {
	conn, release, err := c.flushConn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	return c.flushReport(ctx, conn)
}

// flushConn returns the live connection of Sync or Listen, or dials one
// that ignores deliveries (they stay at the relay for the next reader).
func (c *Client) flushConn(ctx context.Context) (*relay.Conn, func(), error) {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	if live != nil && live.Err() == nil {
		return live, func() {}, nil
	}
	conn, err := c.dial(ctx, relay.DialOptions{Discard: true})
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { conn.Close() }, nil
}

// dial opens the device's WebSocket.
func (c *Client) dial(ctx context.Context, opt relay.DialOptions) (*relay.Conn, error) {
	a, rc, err := c.relayAs()
	if err != nil {
		return nil, err
	}
	conn, err := rc.Dial(ctx, a.auth(), opt)
	return conn, relayErr(err)
}

// emitEvent hands e to the running Sync or Listen, or keeps it for the
// next one.
func (c *Client) emitEvent(e Event) {
	c.mu.Lock()
	f := c.emit
	if f == nil {
		if len(c.backlog) == maxBacklog {
			c.backlog = c.backlog[1:]
		}
		c.backlog = append(c.backlog, e)
	}
	c.mu.Unlock()
	if f != nil {
		f(e)
	}
}

// setStatus changes the status of one history record.
func setStatus(tx *vault.Tx, user addr.UserID, id string, s Status) (*historyRec, error) {
	var h historyRec
	if err := getJSON(tx, historyNS(user), id, &h); err != nil {
		return nil, err
	}
	h.Status = s
	return &h, putJSON(tx, historyNS(user), id, &h)
}
