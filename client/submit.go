package client

import (
	"context"
	"fmt"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// submit hands the ready envelopes of items to the relay and forgets
// each the relay answered for. An item whose every envelope is answered
// leaves the outbox: sent if the relay stored a copy for at least one
// device of the recipient, failed otherwise.
//
// The envelopes go pipelined, up to maxPipelined per round trip, in the
// order the items were written, over one connection: the relay stores
// one connection's submissions in the order it reads them (its results
// may come back in any order), so a device receives one sender's
// messages in order. The answers of a whole flush are recorded in one
// transaction.
func (f *flusher) submit(ctx context.Context, user addr.UserID, items []*outboxItem) error {
	if len(items) == 0 {
		return nil
	}
	var subs []*wire.Submit
	for _, it := range items {
		s, err := itemSubmits(it, f.c.clock())
		if err != nil {
			return err
		}
		subs = append(subs, s...)
	}
	results := make([]*wire.SubmitResult, len(subs)) // nil: unanswered, retried later
	var connErr error
	for i := 0; i < len(subs) && connErr == nil; i += maxPipelined {
		chunk := subs[i:min(i+maxPipelined, len(subs))]
		var res []*wire.SubmitResult
		res, connErr = f.c.submitVia(ctx, f.conn, chunk)
		copy(results[i:i+len(chunk)], res)
	}
	retry, err := f.settle(user, items, results)
	if err != nil {
		return err
	}
	if connErr != nil {
		return relayErr(connErr)
	}
	return retry
}

// maxPipelined is the most envelopes submitted before waiting for their
// answers: the relay reads them in batches of its MaxInFlight, and stops
// reading while its answers wait unread.
const maxPipelined = 1024

// itemSubmits returns the Submit frames of an item's ready envelopes. A
// timed message's envelopes carry as TTL the time left until its
// deadline (at least a second): the relay keeps them no longer.
func itemSubmits(it *outboxItem, now time.Time) ([]*wire.Submit, error) {
	id, err := addr.ParseMessageID(it.ID)
	if err != nil {
		return nil, err
	}
	ttl := itemTTL(it, now)
	subs := make([]*wire.Submit, 0, len(it.Ready))
	for _, e := range it.Ready {
		to, err := addr.ParseAddress(e.To)
		if err != nil {
			return nil, err
		}
		subs = append(subs, &wire.Submit{To: to, ID: id, Payload: e.Payload, TTL: ttl})
	}
	return subs, nil
}

// itemTTL is the relay TTL of a timed item's envelopes, in seconds (0:
// none, the relay's mailbox TTL).
func itemTTL(it *outboxItem, now time.Time) uint32 {
	if it.Timer <= 0 {
		return 0
	}
	left := msTime(it.Sent).Add(time.Duration(it.Timer) * time.Second).Sub(now)
	return uint32(max(1, min(it.Timer, int64((left+time.Second-1)/time.Second))))
}

// outcome classifies a relay's answer to one envelope.
type outcome int

const (
	pending outcome = iota // no answer, or try again later
	stored                 // the relay has it
	gone                   // the device no longer exists: nothing to do
	refused                // the relay will never take it
)

func classifyResult(r *wire.SubmitResult) outcome {
	switch {
	case r == nil:
		return pending
	case r.Code == wire.CodeOK:
		return stored
	case r.Code == wire.CodeUnknownDevice:
		return gone
	case r.Code == wire.CodeRateLimited, r.Code == wire.CodeUnavailable, r.Code == wire.CodeInternal,
		r.Code == wire.CodeMailboxFull:
		return pending
	}
	return refused
}

// settle records the relay's answers: results[i] answers the i-th ready
// envelope of items, in order. It returns the error to retry on, if any.
func (f *flusher) settle(user addr.UserID, items []*outboxItem, results []*wire.SubmitResult) (retry, err error) {
	var done []Event
	err = f.v.Update(func(tx *vault.Tx) error {
		done = done[:0]
		edit := outboxEdit{stale: f.stale()}
		i := 0
		for _, it := range items {
			var left []readyEnvelope
			for _, e := range it.Ready {
				r := results[i]
				i++
				switch classifyResult(r) {
				case pending:
					left = append(left, e)
					if r != nil {
						retry = relayErr(r.Err())
					}
				case stored:
					if !isOwn(e, f.a) {
						it.Stored++
					}
				case refused:
					f.c.log.Warn("relay refused an envelope", "device", e.To, "code", r.Code.String())
				}
			}
			ev, err := f.finish(tx, &edit, user, it, left)
			if err != nil {
				return err
			}
			if ev != nil {
				done = append(done, *ev)
			}
		}
		return edit.done(tx)
	})
	if err != nil {
		return nil, vaultErr(err)
	}
	for _, e := range done {
		if e.Message != nil {
			f.committed(e.Message.ID.String(), e.Message.Status)
		}
		f.c.emitEvent(e)
	}
	return retry, nil
}

func isOwn(e readyEnvelope, a *account) bool {
	to, err := addr.ParseAddress(e.To)
	return err == nil && to.User == a.self().User
}

// finish saves an item with the envelopes left, or retires it and returns
// the event that reports it.
func (f *flusher) finish(tx *vault.Tx, edit *outboxEdit, user addr.UserID, it *outboxItem, left []readyEnvelope) (*Event, error) {
	if len(left) > 0 {
		it.Ready = left
		return nil, edit.keep(tx, it)
	}
	if err := edit.retire(tx, it); err != nil {
		return nil, err
	}
	kind, h, err := EventSent, (*historyRec)(nil), error(nil)
	var cause error
	if it.Stored == 0 {
		kind, cause = EventError, fmt.Errorf("%w: the relay took no copy for %s", ErrUnknownUser, user)
		h, err = f.setStatus(tx, user, it.ID, StatusFailed)
	} else {
		h, err = f.sent(tx, user, it.ID)
	}
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := h.message(user)
	return &Event{Kind: kind, Message: &m, Err: cause}, nil
}

// sent returns the history record of message id, whose outbox item this
// transaction retires, as shown once the relay has stored it: StatusSent.
// A record stored as StatusQueued is not written again: without its
// outbox item it shows as sent (shown.go). A record this flush stored is
// taken as stored unless the flush is stale (a sweep may have deleted
// it); any other is read (and written, in the rare case it is not
// StatusQueued).
func (f *flusher) sent(tx *vault.Tx, user addr.UserID, id string) (*historyRec, error) {
	h := f.written[id]
	if h == nil || f.stale() {
		h = new(historyRec)
		if err := getJSON(tx, historyNS(user), id, h); err != nil {
			return nil, err
		}
	}
	if h.Status != StatusQueued {
		return f.setStatus(tx, user, id, StatusSent)
	}
	shown := *h
	shown.Status = StatusSent
	return &shown, nil
}

// setStatus is setStatus, for a record this flush stored without reading
// it back: it is written again only if it still exists (a sweep may have
// deleted it since). Nothing else writes an outgoing record's other fields
// meanwhile.
func (f *flusher) setStatus(tx *vault.Tx, user addr.UserID, id string, st Status) (*historyRec, error) {
	h := f.written[id]
	if h == nil {
		return setStatus(tx, user, id, st)
	}
	next := *h
	next.Status = st
	replaced, err := replaceJSON(tx, historyNS(user), id, &next)
	if err == nil && !replaced {
		err = vault.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	*h = next
	return h, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }
