package client

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/vault"
)

// The sweep deletes, from history and from the vault's files, the
// messages whose disappearing timer has run out (nsExpiry indexes them
// by deadline) and, under a tenant policy with RetentionDays, every
// message this device stored longer ago than that. It runs at Unlock,
// before History, at every Sync and Listen connection, and every
// sweepEvery while Listen runs. After deleting anything it compacts the
// vault (vault.Compact), so that no page image of a deleted record is
// left in its files.

// nsExpiry indexes timed messages: key "TTTTTTTTTTTTTTTT-ID" (the
// deadline, Unix ms in hex, then the message ID), value the conversation
// (user ID). Keys sort by deadline.
const nsExpiry = "expiry"

// sweepEvery is how often Listen sweeps; retentionEvery how often a sweep
// also applies the retention rule (a scan of every conversation).
const (
	sweepEvery     = time.Minute
	retentionEvery = time.Hour
)

func expiryKey(deadline int64, id string) string {
	return fmt.Sprintf("%016x-%s", uint64(deadline), id)
}

// indexExpiry records that message id of conversation conv goes at
// deadline (Unix ms), and brings the next sweep forward to it if needed
// (harmless if the transaction then fails: one scan for nothing).
func (c *Client) indexExpiry(tx *vault.Tx, deadline int64, id string, conv addr.UserID) error {
	c.mu.Lock()
	c.dueGen++
	if c.nextDue == 0 || deadline < c.nextDue {
		c.nextDue = deadline
	}
	c.mu.Unlock()
	return tx.Put(nsExpiry, expiryKey(deadline, id), []byte(conv))
}

// expiryDue reports whether the expiry index may hold a due message: the
// earliest deadline known is not after now, or none is known yet.
func (c *Client) expiryDue(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextDue <= now.UnixMilli()
}

// dueGeneration counts the deadlines indexed so far.
func (c *Client) dueGeneration() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dueGen
}

// setNextDue records, after a sweep committed, the earliest deadline it
// left in the index (noDeadline: none), unless a deadline was indexed
// since gen (then the next sweep reads the index again).
func (c *Client) setNextDue(ms int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dueGen != gen {
		ms = 0
	}
	c.nextDue = ms
}

// noDeadline is nextDue when the expiry index is empty.
const noDeadline = math.MaxInt64

// doomed is a message to delete: of the conversation with conv, or the
// record id of a group history namespace ns.
type doomed struct {
	conv addr.UserID
	ns   string
	id   string
}

// sweep deletes what is due and compacts the vault if it deleted
// anything. Its errors are the vault's.
func (c *Client) sweep(ctx context.Context) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	now := c.clock()
	gen := c.dueGeneration()
	var r sweepResult
	err = v.Update(func(tx *vault.Tx) (err error) {
		r, err = c.sweepTx(tx, now)
		return err
	})
	if err != nil {
		return vaultErr(err)
	}
	if r.next >= 0 {
		c.setNextDue(r.next, gen)
	}
	if !r.deleted {
		return nil
	}
	for _, f := range r.files {
		if err := v.RemoveFile(f); err != nil {
			c.log.Warn("cannot remove an expired attachment", "err", err)
		}
	}
	return vaultErr(v.Compact(ctx))
}

// sweepResult is what one sweep transaction did.
type sweepResult struct {
	deleted bool     // something was deleted: compact
	files   []string // vault files to remove after the commit
	next    int64    // the earliest deadline left (-1: the index was not read)
}

// sweepTx deletes, within tx, the messages due at now.
func (c *Client) sweepTx(tx *vault.Tx, now time.Time) (sweepResult, error) {
	due, next, err := c.dueExpiries(tx, now)
	r := sweepResult{next: next}
	if err != nil {
		return r, err
	}
	if c.retentionDue(now) {
		old, err := c.pastRetention(tx, now)
		if err != nil {
			return r, err
		}
		due = append(due, old...)
	}
	marks := map[string]bool{}
	q := &shownQueue{tx: tx}
	for _, d := range due {
		if d.ns != "" {
			if err := deleteGroupMessage(tx, d); err != nil {
				return r, err
			}
			continue
		}
		f, err := deleteMessage(tx, q, d)
		if err != nil {
			return r, err
		}
		r.files = append(r.files, f...)
		marks[unreadKey(d.id, string(d.conv))] = true
	}
	r.deleted = len(due) > 0
	if len(marks) == 0 {
		return r, nil
	}
	c.swept.Add(1) // before the commit: see flusher.sent
	return r, clearUnread(tx, func(k string) bool { return marks[k] })
}

// dueExpiries removes from the index, and returns, the messages whose
// deadline is not after now. It reads the index only when its earliest
// deadline is due.
func (c *Client) dueExpiries(tx *vault.Tx, now time.Time) (due []doomed, next int64, err error) {
	if !c.expiryDue(now) {
		return nil, -1, nil
	}
	recs, err := tx.List(nsExpiry)
	if err != nil {
		return nil, 0, err
	}
	limit := expiryKey(now.UnixMilli(), "~")
	next = noDeadline
	for _, r := range recs {
		if r.Key > limit {
			if ms, err := strconv.ParseUint(r.Key[:16], 16, 63); err == nil {
				next = int64(ms)
			}
			break
		}
		_, id, _ := strings.Cut(r.Key, "-")
		due = append(due, doomed{conv: addr.UserID(r.Value), id: id})
		if err := tx.Delete(nsExpiry, r.Key); err != nil {
			return nil, 0, err
		}
	}
	return due, next, nil
}

// deleteMessage removes one message of a conversation and everything
// that refers to it but its unread mark (sweepTx clears those of all at
// once): its history record, copy index, outbox item, upload and
// attachment records; an unfinished upload's blob is queued for deletion
// at the relay (nsBlobDeletes). It returns the vault files to
// remove after the commit (the attachment's plaintext). q shows statuses
// within tx.
func deleteMessage(tx *vault.Tx, q *shownQueue, d doomed) ([]string, error) {
	var h historyRec
	err := getJSON(tx, historyNS(d.conv), d.id, &h)
	if err == nil {
		err = q.show(&h)
	}
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := queueUploadBlobDelete(tx, d.id); err != nil {
		return nil, err
	}
	dels := [][2]string{{historyNS(d.conv), d.id}, {nsCopies, d.id}, {nsAttachments, d.id}, {nsAutoDownload, d.id}, {nsUploads, d.id}}
	for _, k := range dels {
		if err := tx.Delete(k[0], k[1]); err != nil {
			return nil, err
		}
	}
	if h.Outgoing && h.Status != StatusSent {
		if err := dropFromOutbox(tx, d.id); err != nil {
			return nil, err
		}
	}
	if h.Att == nil {
		return nil, nil
	}
	return []string{attFile(d.id)}, nil
}

// deleteGroupMessage removes the record d.id of the group history d.ns and,
// for a message of this device's still waiting for the relay and not yet
// sealed, its group outbox item: a message past the retention is not sent.
// A sealed item stays and goes out: sealing marked its recipients as
// holding this device's sender key, and the handouts that give it to them
// travel with the item, so dropping it would silently cut them off from
// this device's later messages (TestRetentionKeepsSealedGroupItems).
func deleteGroupMessage(tx *vault.Tx, d doomed) error {
	var h groupHistoryRec
	err := getJSON(tx, d.ns, d.id, &h)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.Delete(d.ns, d.id); err != nil {
		return err
	}
	if !h.Outgoing || h.Text == "" || h.Status == StatusSent {
		return nil // received, sent, or a change: a change is never dropped
	}
	recs, err := tx.List(nsGroupOut)
	if err != nil {
		return err
	}
	items, err := decodeGroupOutbox(recs)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Text != "" && it.ID == h.ID {
			if it.Ready != nil {
				return nil // sealed: it carries sender-key handouts
			}
			return tx.Delete(nsGroupOut, it.key)
		}
	}
	return nil
}

// dropFromOutbox removes the outbox item of message id, if any: a message
// past its deadline is not sent.
func dropFromOutbox(tx *vault.Tx, id string) error {
	items, err := listOutbox(tx)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ID == id {
			var edit outboxEdit
			if err := edit.retire(tx, it); err != nil {
				return err
			}
			return edit.done(tx)
		}
	}
	return nil
}

// retentionDue reports whether the policy has a retention rule and the
// last scan is retentionEvery old (always at the first sweep).
func (c *Client) retentionDue(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pol == nil || c.pol.RetentionDays == 0 {
		return false
	}
	if !c.retained.IsZero() && now.Sub(c.retained) < retentionEvery && now.After(c.retained) {
		return false
	}
	c.retained = now
	return true
}

// pastRetention lists the messages of every conversation stored longer
// ago than the policy's RetentionDays.
func (c *Client) pastRetention(tx *vault.Tx, now time.Time) ([]doomed, error) {
	p := c.policyNow()
	limit := now.AddDate(0, 0, -p.RetentionDays).UnixMilli()
	convs, err := conversations(tx)
	if err != nil {
		return nil, err
	}
	var old []doomed
	for _, u := range convs {
		keys, err := receivedBefore(tx, historyNS(u), limit)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			old = append(old, doomed{conv: u, id: k})
		}
	}
	groups, err := tx.List(nsGroups)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		gid, err := group.ParseID(g.Key)
		if err != nil {
			continue
		}
		ns := groupHistoryNS(gid)
		keys, err := receivedBefore(tx, ns, limit)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			old = append(old, doomed{ns: ns, id: k})
		}
	}
	return old, nil
}

// receivedBefore lists the keys of the history records of ns (a
// conversation's or a group's) stored before limit (Unix ms).
func receivedBefore(tx *vault.Tx, ns string, limit int64) ([]string, error) {
	recs, err := tx.List(ns)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, r := range recs {
		var h struct {
			Received int64 `json:"recv"`
		}
		if err := json.Unmarshal(r.Value, &h); err != nil {
			return nil, fmt.Errorf("client: history record: %w", err)
		}
		if h.Received < limit {
			keys = append(keys, r.Key)
		}
	}
	return keys, nil
}

// conversations lists the users this device may hold history with: its
// contacts and the conversations given a timer.
func conversations(tx *vault.Tx) ([]addr.UserID, error) {
	seen := make(map[addr.UserID]bool)
	var out []addr.UserID
	for _, ns := range []string{nsContacts, nsTimers} {
		recs, err := tx.List(ns)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if u := addr.UserID(r.Key); !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// sweepQuietly sweeps and reports a failure as an event.
func (c *Client) sweepQuietly(ctx context.Context) {
	if err := c.sweep(ctx); err != nil {
		c.log.Warn("cannot delete expired messages", "err", err)
		c.emitEvent(Event{Kind: EventError, Err: err})
	}
}

// startSweeper sweeps every sweepEvery while Listen runs; the function it
// returns stops it and waits for it.
func (c *Client) startSweeper(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.sweepQuietly(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
