package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/policy"
	"parley.dev/internal/vault"
)

// Disappearing messages (docs/protocol.md, "Disappearing messages"). A
// conversation's timer is set by either participant with a timer message,
// carried inside the session like any other (the relay never learns it),
// and kept in the vault (nsTimers). Every message sent under a timer
// carries it; each end deletes the message Timer after it was sent
// (sweep.go), and a copy that arrives after that is never stored. The
// relay keeps each envelope of a timed message no longer than the timer
// (Submit's TTL). A tenant policy caps the timer and may give every
// conversation a default one.

// nsTimers holds the timer of each conversation: key user ID, value
// timerRec (JSON). A conversation without a record has the policy's
// default timer, or none.
const nsTimers = "timers"

// timerRec is a conversation's timer and when it was set (the setter's
// clock, Unix ms): a change older than the one held is ignored, so that
// a delayed message cannot undo a newer change (of two at the same
// millisecond, the later received wins).
type timerRec struct {
	V       int   `json:"v"`
	Seconds int64 `json:"s"`
	Set     int64 `json:"set"`
}

// TimerChange reports that a conversation's disappearing timer changed
// (EventTimer).
type TimerChange struct {
	// Contact is the other user of the conversation.
	Contact string
	// Timer is the new timer; 0 turns it off. Messages sent from now on
	// are deleted on every device Timer after they were sent.
	Timer time.Duration
	// Outgoing is true when this user changed it, on another device.
	Outgoing bool
}

// SetTimer sets the disappearing timer of the conversation with peer: d
// in whole seconds, at most a year; 0 turns it off. It tells peer's
// devices and this user's other devices, inside the encrypted session,
// and applies to the messages sent after it (from either side). A tenant
// policy with a maximum timer refuses a longer one, and turning the
// timer off (a *PolicyError with RuleTimer).
//
// The change is stored on this device first. If the relay could not take
// it yet, SetTimer returns ErrQueued: it goes out with the outbox on the
// next Send, Sync or Listen.
func (c *Client) SetTimer(ctx context.Context, peer string, d time.Duration) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	user, err := addr.ParseUserID(peer)
	switch {
	case err != nil:
		return fmt.Errorf("%w: user name %q", ErrInvalid, peer)
	case user == a.self().User:
		return fmt.Errorf("%w: a conversation with yourself", ErrInvalid)
	case d < 0 || d > content.MaxTimer || d%time.Second != 0:
		return fmt.Errorf("%w: a timer must be whole seconds from 0 to %v", ErrInvalid, content.MaxTimer)
	}
	if err := checkTimerPolicy(c.policyNow(), d); err != nil {
		return err
	}
	if err := c.checkOutgoing(); err != nil {
		return err
	}
	if err := c.enqueueTimer(v, user, d); err != nil {
		return err
	}
	errs, err := c.flushNow(ctx)
	if err == nil {
		err = errs[user]
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrQueued):
		return err
	}
	return fmt.Errorf("%w (%w)", ErrQueued, err)
}

// checkTimerPolicy applies the policy's cap to a new timer.
func checkTimerPolicy(p *policy.Policy, d time.Duration) error {
	switch {
	case p == nil || p.MaxTimer == 0:
		return nil
	case d == 0:
		return policyErr(RuleTimer, "the timer cannot be turned off (the maximum is %v)", p.MaxTimer)
	case d > p.MaxTimer:
		return policyErr(RuleTimer, "a timer of %v is above the maximum of %v", d, p.MaxTimer)
	}
	return nil
}

// enqueueTimer stores the new timer and queues the timer message.
func (c *Client) enqueueTimer(v *vault.Vault, user addr.UserID, d time.Duration) error {
	id := addr.NewMessageID()
	now := c.clock()
	secs := int64(d / time.Second)
	err := v.Update(func(tx *vault.Tx) error {
		if err := checkNotHeld(tx, user); err != nil {
			return err
		}
		rec := timerRec{V: recordVersion, Seconds: secs, Set: now.UnixMilli()}
		if err := putJSON(tx, nsTimers, string(user), &rec); err != nil {
			return err
		}
		item := outboxItem{V: recordVersion, ID: id.String(), To: string(user), Sent: now.UnixMilli(), SetTimer: &secs}
		return putJSON(tx, nsOutbox, outboxKey(now, id), &item)
	})
	if errors.Is(err, ErrIdentityChanged) {
		return err
	}
	return vaultErr(err)
}

// Timer returns the disappearing timer of the conversation with peer (0:
// none): the last one set by either side, or the tenant policy's default,
// capped by the policy's maximum.
func (c *Client) Timer(ctx context.Context, peer string) (time.Duration, error) {
	v, err := c.vault()
	if err != nil {
		return 0, err
	}
	user, err := addr.ParseUserID(peer)
	if err != nil {
		return 0, fmt.Errorf("%w: user name %q", ErrInvalid, peer)
	}
	var d time.Duration
	err = v.Update(func(tx *vault.Tx) (err error) {
		d, err = c.timerOf(tx, user)
		return err
	})
	return d, vaultErr(err)
}

// timerOf is the timer messages to or from user get.
func (c *Client) timerOf(tx *vault.Tx, user addr.UserID) (time.Duration, error) {
	p := c.policyNow()
	var rec timerRec
	err := getJSON(tx, nsTimers, string(user), &rec)
	switch {
	case notFound(err) && p != nil:
		return p.DefaultTimer, nil
	case notFound(err):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return capTimer(p, time.Duration(rec.Seconds)*time.Second), nil
}

// capTimer applies the policy's maximum to a timer (0: none).
func capTimer(p *policy.Policy, d time.Duration) time.Duration {
	if p != nil && p.MaxTimer > 0 && (d == 0 || d > p.MaxTimer) {
		return p.MaxTimer
	}
	return d
}

// stampTimer gives a new outgoing message of the conversation with user
// its timer: it sets h.Expires and indexes the expiry. It returns the
// timer in seconds, for the outbox item (0: none).
func (c *Client) stampTimer(tx *vault.Tx, user addr.UserID, h *historyRec) (int64, error) {
	d, err := c.timerOf(tx, user)
	if err != nil {
		return 0, err
	}
	return c.stampTimerOf(tx, d, user, h)
}

// stampTimerOf is stampTimer given the conversation's timer d (timerOf),
// for a burst that reads it once.
func (c *Client) stampTimerOf(tx *vault.Tx, d time.Duration, user addr.UserID, h *historyRec) (int64, error) {
	if d == 0 {
		return 0, nil
	}
	h.Expires = h.Sent + d.Milliseconds()
	return int64(d / time.Second), c.indexExpiry(tx, h.Expires, h.ID, user)
}

// fileTimer applies a timer change from peer (or, outgoing, from another
// device of this user about the conversation with conv), unless a newer
// one is held, and reports it.
func (c *Client) fileTimer(tx *vault.Tx, conv addr.UserID, outgoing bool, m *content.Message, r *received) error {
	var held timerRec
	err := getJSON(tx, nsTimers, string(conv), &held)
	if err != nil && !notFound(err) {
		return err
	}
	if err == nil && held.Set > m.Sent.UnixMilli() {
		c.log.Debug("an older timer change ignored")
		return nil
	}
	rec := timerRec{V: recordVersion, Seconds: int64(m.Timer / time.Second), Set: m.Sent.UnixMilli()}
	if err := putJSON(tx, nsTimers, string(conv), &rec); err != nil {
		return err
	}
	ch := &TimerChange{Contact: string(conv), Timer: m.Timer, Outgoing: outgoing}
	r.events = append(r.events, Event{Kind: EventTimer, Timer: ch})
	return nil
}

// expiryOf is when a received message m, stored at now, is deleted (Unix
// ms; 0: kept): its timer, capped by the policy, counted from when it was
// sent, and never later than counted from now (a sender's clock ahead
// cannot keep it longer).
func (c *Client) expiryOf(m *content.Message, now time.Time) int64 {
	d := m.Timer
	if p := c.policyNow(); p != nil && p.MaxTimer > 0 {
		d = capTimer(p, d)
	}
	if d == 0 {
		return 0
	}
	return min(m.Sent.UnixMilli(), now.UnixMilli()) + d.Milliseconds()
}
