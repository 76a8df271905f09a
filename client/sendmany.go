package client

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// MaxBurst is the most messages one SendMany takes.
const MaxBurst = 4096

// SendResult is the outcome of one message of SendMany: the ID and error
// Send would have returned for it.
type SendResult struct {
	ID  MessageID
	Err error
}

// SendMany writes each of texts to user, in order, as Send would one
// after the other, but as one burst: the envelopes are submitted
// pipelined over one connection (the relay stores one connection's
// submissions in the order sent), and every vault write is one
// transaction for the whole burst. Into a conversation under way (the
// sealed path, sendsealed.go) the messages are encrypted first and stored
// once, sealed, with their history records (one fsync); otherwise, as
// Send does, they are stored plain first, then sealed (two). The relay's
// answers are recorded in one more.
//
// results[i] is texts[i]'s outcome, exactly as Send documents it (nil:
// sent; ErrQueued: waits in the outbox; ErrIdentityChanged: held; ...).
// The error is for the whole call and then nothing was stored: invalid
// arguments (ErrInvalid, with at most MaxBurst texts each valid as for
// Send), a *PolicyError as for Send, ErrNotOpen, ErrNotRegistered, a
// vault failure, or ErrIdentityChanged when the change was known before.
func (c *Client) SendMany(ctx context.Context, to string, texts []string) ([]SendResult, error) {
	v, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	user, err := addr.ParseUserID(to)
	if err != nil {
		return nil, fmt.Errorf("%w: user name %q", ErrInvalid, to)
	}
	if user == a.self().User {
		return nil, fmt.Errorf("%w: cannot send to yourself", ErrInvalid)
	}
	if len(texts) == 0 || len(texts) > MaxBurst {
		return nil, fmt.Errorf("%w: 1 to %d messages per burst", ErrInvalid, MaxBurst)
	}
	for _, text := range texts {
		if text == "" || len(text) > MaxTextLen || !utf8.ValidString(text) {
			return nil, fmt.Errorf("%w: text must be 1 to %d bytes of UTF-8", ErrInvalid, MaxTextLen)
		}
	}
	if err := c.checkOutgoing(); err != nil {
		return nil, err
	}
	ids, known, err := c.sendTexts(ctx, v, user, texts)
	if ids == nil {
		return nil, err
	}
	return c.sendOutcomes(v, user, ids, known, err)
}

// enqueueMany stores new outgoing messages in the history and the outbox,
// in one transaction. Their outbox keys follow the order of texts.
func (c *Client) enqueueMany(v *vault.Vault, user addr.UserID, texts []string) ([]addr.MessageID, error) {
	var ids []addr.MessageID
	err := v.Update(func(tx *vault.Tx) error {
		hs, items, err := c.outgoing(tx, user, texts)
		if err != nil {
			return err
		}
		ids = idsOf(items)
		for i, it := range items {
			if err := putJSON(tx, nsOutbox, it.key, it); err != nil {
				return err
			}
			if err := putJSON(tx, historyNS(user), it.ID, &hs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrIdentityChanged) {
		return nil, err
	}
	return ids, vaultErr(err)
}

// outgoing makes the history records and outbox items of new messages to
// user, in the order of texts (their outbox keys too), within tx: it
// fails if sending to user is held, and stamps the conversation's timer.
// It stores nothing of the messages themselves.
func (c *Client) outgoing(tx *vault.Tx, user addr.UserID, texts []string) ([]historyRec, []*outboxItem, error) {
	if err := checkNotHeld(tx, user); err != nil {
		return nil, nil, err
	}
	d, err := c.timerOf(tx, user)
	if err != nil {
		return nil, nil, err
	}
	now := c.clock()
	ms := now.UnixMilli()
	hs := make([]historyRec, len(texts))
	items := make([]*outboxItem, len(texts))
	for i, text := range texts {
		id := addr.NewMessageID()
		hs[i] = historyRec{V: recordVersion, ID: id.String(), Outgoing: true, Text: text, Sent: ms, Received: ms, Status: StatusQueued, Ord: c.order()}
		timer, err := c.stampTimerOf(tx, d, user, &hs[i])
		if err != nil {
			return nil, nil, err
		}
		items[i] = &outboxItem{V: recordVersion, ID: id.String(), To: string(user), Text: text, Sent: ms, Timer: timer,
			key: outboxKey(now.Add(time.Duration(i)), id)}
	}
	return hs, items, nil
}

// idsOf returns the message IDs of items (valid: outgoing made them).
func idsOf(items []*outboxItem) []addr.MessageID {
	ids := make([]addr.MessageID, len(items))
	for i, it := range items {
		ids[i], _ = addr.ParseMessageID(it.ID)
	}
	return ids
}

// sendOutcomes is sendOutcome for each of ids: the status the flush
// committed (known), else as read in one transaction.
func (c *Client) sendOutcomes(v *vault.Vault, user addr.UserID, ids []addr.MessageID, known map[string]Status, err error) ([]SendResult, error) {
	statuses := make([]Status, len(ids))
	var unknown []int
	for i, id := range ids {
		st, ok := known[id.String()]
		statuses[i] = st
		if !ok {
			unknown = append(unknown, i)
		}
	}
	var verr error
	if len(unknown) > 0 {
		verr = readStatuses(v, user, ids, unknown, statuses)
	}
	out := make([]SendResult, len(ids))
	for i, id := range ids {
		out[i].ID = MessageID(id)
		if verr != nil {
			out[i].Err = errors.Join(err, vaultErr(verr))
			continue
		}
		out[i].Err = outcomeOf(statuses[i], user, err)
	}
	return out, nil
}

// readStatuses reads the history status of ids[i] into statuses[i] for
// each i of which, in one transaction.
func readStatuses(v *vault.Vault, user addr.UserID, ids []addr.MessageID, which []int, statuses []Status) error {
	return v.Update(func(tx *vault.Tx) error {
		q := &shownQueue{tx: tx}
		for _, i := range which {
			var h historyRec
			err := getJSON(tx, historyNS(user), ids[i].String(), &h)
			if notFound(err) {
				statuses[i] = statusDeleted // swept before it was sent
				continue
			}
			if err != nil {
				return err
			}
			if err := q.show(&h); err != nil {
				return err
			}
			statuses[i] = h.Status
		}
		return nil
	})
}
