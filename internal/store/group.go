package store

import (
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"

	"parley.dev/internal/addr"
)

// KindGroup is a group message: end-to-end ciphertext that one sender
// submitted once for many devices (wire.KindGroup). The relay stores a
// copy in each recipient's mailbox, like a KindMessage envelope, except
// that it expires without a notice to the sender: a group's sender learns
// nothing per recipient device.
const KindGroup Kind = 3

// Group messages (migration 10). A KindGroup envelope is not an envelopes
// row: group_messages holds each message once (sender, ID, times,
// payload) with refs, the number of entries that refer to it, and
// group_entries holds each recipient device's copy as (mailbox, Seq, ref).
// Seqs come from the mailbox's one counter, so Pending merges both tables
// in Seq order. Idempotency is per (sender, message ID), as for envelopes
// per (recipient, sender, ID): a batch first looks up the records of its
// group messages (one indexed read each), and if one exists, which entries
// it has (group_entries_ref). Every statement that deletes entries
// returns their refs and the transaction releases them in the same commit
// (releaseGroups), deleting a record when no entry is left: an acked,
// expired or erased group message leaves nothing behind.

// groupKey names a group message: the same message ID from another
// sender device is another message.
type groupKey struct {
	from addr.Address
	id   addr.MessageID
}

// groupMsg is a group message a batch stores: its record's id, whether the
// record existed before the batch, and one envelope carrying its fields.
type groupMsg struct {
	ref    int64
	exists bool
	e      *Envelope
}

// Group statements.
const (
	qGroupRecord = `SELECT id FROM group_messages WHERE from_user = $1 AND from_device = $2 AND msg_id = $3`
	// qAddGroup stores a record, or counts refs more entries for it; it
	// returns the record's id either way.
	qAddGroup = `INSERT INTO group_messages (id, from_user, from_device, msg_id, kind, created, expires, payload, refs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (from_user, from_device, msg_id) DO UPDATE SET refs = group_messages.refs + excluded.refs
RETURNING id`
	qMaxGroupRef     = `SELECT COALESCE(MAX(id), 0) FROM group_messages`
	qGroupEntries    = `SELECT to_user, to_device, seq FROM group_entries WHERE ref = $1`
	qReleaseGroup    = `UPDATE group_messages SET refs = refs - $2 WHERE id = $1 RETURNING refs`
	qDropGroup       = `DELETE FROM group_messages WHERE id = $1 AND refs <= 0`
	qDeleteGroupBox  = `DELETE FROM group_entries WHERE to_user = $1 AND to_device = $2 RETURNING ref`
	qDeleteGroupBoxs = `DELETE FROM group_entries WHERE to_user = $1 RETURNING ref`
	// Erasing a sender: the entries of its messages, then the records.
	qDeleteGroupSent = `DELETE FROM group_entries WHERE ref IN (SELECT id FROM group_messages WHERE from_user = $1)`
	qDropGroupSent   = `DELETE FROM group_messages WHERE from_user = $1`
	// Expiry: a whole message at once, every copy of it.
	qExpiringGroups  = `SELECT id FROM group_messages WHERE expires <= $1 ORDER BY expires LIMIT $2`
	qDeleteGroupRef  = `DELETE FROM group_entries WHERE ref = $1`
	qDropGroupRecord = `DELETE FROM group_messages WHERE id = $1`
)

func init() {
	writeQueries = append(writeQueries, qGroupRecord, qAddGroup, qMaxGroupRef, qGroupEntries, qReleaseGroup, qDropGroup,
		qDeleteGroupBox, qDeleteGroupBoxs, qDeleteGroupSent, qDropGroupSent,
		qExpiringGroups, qDeleteGroupRef, qDropGroupRecord)
}

// lookupGroups finds the group messages of subs (to existing mailboxes)
// and whether each is stored already; found is true if one is.
func (t *txn) lookupGroups(subs []submission) (msgs map[groupKey]*groupMsg, found bool, err error) {
	for _, s := range subs {
		e := s.e
		if e.Kind != KindGroup || t.boxes[mailboxKey{e.To.User, e.To.Device}].gone {
			continue
		}
		k := groupKey{e.From, e.ID}
		if msgs[k] != nil {
			continue
		}
		if msgs == nil {
			msgs = map[groupKey]*groupMsg{}
		}
		m := &groupMsg{e: e}
		m.exists, err = t.queryRow(qGroupRecord, []any{string(e.From.User), int64(e.From.Device), e.ID[:]}, &m.ref)
		if err != nil {
			return nil, false, fmt.Errorf("store: group message: %w", err)
		}
		found = found || m.exists
		msgs[k] = m
	}
	return msgs, found, nil
}

// findGroupsStored adds to stored the entries of the group messages of
// msgs that exist.
func (t *txn) findGroupsStored(msgs map[groupKey]*groupMsg, stored map[envKey]int64) error {
	for k, m := range msgs {
		if !m.exists {
			continue
		}
		rows, err := t.query(qGroupEntries, m.ref)
		if err != nil {
			return err
		}
		for rows.Next() {
			var user string
			var dev, seq int64
			if err := rows.Scan(&user, &dev, &seq); err != nil {
				rows.Close()
				return fmt.Errorf("store: group entries: %w", err)
			}
			stored[envKey{addr.Address{User: addr.UserID(user), Device: addr.DeviceID(dev)}, k.from, k.id}] = seq
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: group entries: %w", err)
		}
	}
	return nil
}

// insertGroups stores the records of envs' group messages (or counts the
// new entries on existing ones) and inserts the entries.
func (t *txn) insertGroups(envs []*Envelope, msgs map[groupKey]*groupMsg) error {
	if len(envs) == 0 {
		return nil
	}
	refs := map[groupKey]int64{}
	var order []groupKey
	var err error
	for _, e := range envs {
		k := groupKey{e.From, e.ID}
		if refs[k] == 0 {
			order = append(order, k)
		}
		refs[k]++
	}
	for _, k := range order {
		m := msgs[k]
		if !m.exists {
			if m.ref, err = t.newGroupRef(); err != nil {
				return err
			}
		}
		e := m.e
		args := []any{m.ref, string(k.from.User), int64(k.from.Device), k.id[:], int64(e.Kind),
			micros(e.Created), micros(e.Expires), e.Payload, refs[k]}
		if _, err := t.queryRow(qAddGroup, args, &m.ref); err != nil {
			return fmt.Errorf("store: group message: %w", err)
		}
	}
	rows := make([][]any, len(envs))
	for i, e := range envs {
		rows[i] = []any{string(e.To.User), int64(e.To.Device), e.Seq, msgs[groupKey{e.From, e.ID}].ref}
	}
	_, err = t.bulkExec(bulkInsertGroup, rows)
	return err
}

// newGroupRef returns a new record's id, always positive (migrated
// records are negative). SQLite's one writer numbers them in sequence, so
// that each message's entries go to the end of the ref index instead of a
// random page of it. PostgreSQL's writers and nodes draw them at random:
// a collision (a failed insert, the batch retried) is as likely as two of
// a few billion live records drawing the same 63-bit number.
func (t *txn) newGroupRef() (int64, error) {
	if !t.w.d.sequentialRefs {
		var b [8]byte
		rand.Read(b[:])
		return int64(binary.BigEndian.Uint64(b[:])>>1) | 1, nil
	}
	if t.lastGroupRef == 0 {
		if _, err := t.queryRow(qMaxGroupRef, nil, &t.lastGroupRef); err != nil {
			return 0, fmt.Errorf("store: group message id: %w", err)
		}
		t.lastGroupRef = max(t.lastGroupRef, 0)
	}
	t.lastGroupRef++
	return t.lastGroupRef, nil
}

// groupReleases counts the entries deleted per record.
type groupReleases map[int64]int64

// scan adds the ref of each row of a DELETE ... RETURNING ref.
func (r groupReleases) scan(rows *sql.Rows) (int64, error) {
	defer rows.Close()
	var n int64
	for rows.Next() {
		var ref int64
		if err := rows.Scan(&ref); err != nil {
			return n, err
		}
		r[ref]++
		n++
	}
	return n, rows.Err()
}

// releaseGroups drops the references r counts and deletes the records left
// with none.
func (t *txn) releaseGroups(r groupReleases) error {
	for ref, n := range r {
		var left int64
		found, err := t.queryRow(qReleaseGroup, []any{ref, n}, &left)
		if err != nil {
			return fmt.Errorf("store: release group message: %w", err)
		}
		if found && left <= 0 {
			if _, err := t.exec(qDropGroup, ref); err != nil {
				return fmt.Errorf("store: drop group message: %w", err)
			}
		}
	}
	return nil
}

// deleteGroupEntries runs a DELETE of entries returning ref and releases
// their records; it returns the number deleted.
func (t *txn) deleteGroupEntries(q string, args ...any) (int64, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return 0, err
	}
	r := groupReleases{}
	n, err := r.scan(rows)
	if err != nil {
		return 0, fmt.Errorf("store: delete group entries: %w", err)
	}
	return n, t.releaseGroups(r)
}

// deleteGroupsSent deletes every group message u sent, with its entries.
func (t *txn) deleteGroupsSent(u addr.UserID) error {
	if _, err := t.exec(qDeleteGroupSent, string(u)); err != nil {
		return err
	}
	_, err := t.exec(qDropGroupSent, string(u))
	return err
}

// expireGroups deletes group messages that expired by now, every copy of
// one at once, until it has deleted limit copies or limit messages; they
// expire without notices.
func (t *txn) expireGroups(now int64, limit int) error {
	rows, err := t.query(qExpiringGroups, now, limit)
	if err != nil {
		return err
	}
	var refs []int64
	for rows.Next() {
		var ref int64
		if err := rows.Scan(&ref); err != nil {
			rows.Close()
			return fmt.Errorf("store: expire group messages: %w", err)
		}
		refs = append(refs, ref)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: expire group messages: %w", err)
	}
	deleted := 0
	for _, ref := range refs {
		if deleted >= limit { // bounded like the envelopes: the next sweep goes on
			break
		}
		n, err := t.exec(qDeleteGroupRef, ref)
		if err != nil {
			return err
		}
		deleted += int(n)
		if _, err := t.exec(qDropGroupRecord, ref); err != nil {
			return err
		}
	}
	return nil
}
