package store

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"parley.dev/internal/addr"
)

// Submissions (and acks, see ack.go) are stored in bulk. Each Submit only
// queues its envelopes in
// the writer's transaction (txn.submit); the transaction stores everything
// queued at once (txn.settle) before it runs any other statement and
// before it commits. A batch of N envelopes to M mailboxes then costs a
// few multi-row statements (lock the M mailboxes, look up which of the N
// are stored already, insert the new ones, save the M counters) instead of
// about 3N single-row ones. The outcome is what storing the envelopes one
// by one in queue order would give: duplicates (also of an envelope
// earlier in the same batch), unknown devices and full mailboxes are
// decided per envelope, in order, from the locked counters.

// submission is one queued envelope and where its result goes.
type submission struct {
	e   *Envelope
	res *SubmitResult
}

// envKey is an envelope's idempotency key.
type envKey struct {
	to, from addr.Address
	id       addr.MessageID
}

// submit queues envs for the next settle, which fills results (the caller
// keeps both alive until the transaction ends).
func (t *txn) submit(envs []Envelope, results []SubmitResult) {
	for i := range envs {
		t.pending = append(t.pending, submission{&envs[i], &results[i]})
	}
}

// settle runs the queued acks, then the queued submissions. Each kind
// keeps its queue order; across kinds the order may change, which is
// still correct: the ops of one batch were all waiting at once, none had
// its answer, so any order is one in which they could have arrived. (Acks
// go first so that the envelopes' pages they free can be reused.)
func (t *txn) settle() error {
	if acks := t.acks; len(acks) > 0 {
		t.acks = nil
		if err := t.deleteAcked(acks); err != nil {
			return err
		}
	}
	if subs := t.pending; len(subs) > 0 {
		t.pending = nil
		return t.store(subs)
	}
	return nil
}

// store stores subs in order and sets each result; it fails only if a
// statement does. It first assumes that no envelope of subs is stored
// yet (the common case; copies within subs are caught in memory) and
// inserts with ON CONFLICT DO NOTHING. If any insert conflicts (a
// resubmission), it deletes the rows it did insert (no other transaction
// can hold their Seqs, which are above the locked mailbox's last_seq),
// restores the counters and decides again, looking up which envelopes are
// stored first. This costs no statement in the common case, where a
// savepoint would cost one per batch.
func (t *txn) store(subs []submission) error {
	if err := t.settle(); err != nil { // earlier submissions go first
		return err
	}
	keys := make([]mailboxKey, len(subs))
	for i, s := range subs {
		keys[i] = mailboxKey{s.e.To.User, s.e.To.Device}
	}
	if err := t.lockMailboxes(keys); err != nil {
		return err
	}
	if err := t.recount(subs); err != nil {
		return err
	}
	saved := t.saveBoxes(subs)
	groups, resubmitted, err := t.lookupGroups(subs)
	if err != nil {
		return err
	}
	if !resubmitted {
		if done, err := t.storeOptimistic(subs, groups); done || err != nil {
			return err
		}
		for k, m := range saved {
			m.dirty = true // the insert may have saved the undone counters
			*t.boxes[k] = m
		}
	}
	stored, err := t.findStored(subs)
	if err == nil {
		err = t.findGroupsStored(groups, stored)
	}
	if err != nil {
		return err
	}
	all, err := t.insertRows(t.placeAll(subs, stored), groups)
	if err == nil && !all {
		err = errors.New("store: an envelope conflicts but is not stored")
	}
	return err
}

// storeOptimistic stores subs assuming none is stored yet (the caller
// knows that none of their group messages is). It gives up (done false,
// no change made) if that turns out wrong or if a mailbox is full (a
// duplicate into a full mailbox is still a duplicate).
func (t *txn) storeOptimistic(subs []submission, groups map[groupKey]*groupMsg) (done bool, err error) {
	rows := t.placeAll(subs, map[envKey]int64{})
	for _, s := range subs {
		if errors.Is(s.res.Err, ErrMailboxFull) {
			return false, nil
		}
	}
	if len(rows) == 0 {
		return true, nil
	}
	all, err := t.insertRows(rows, groups)
	if err != nil || all {
		return all, err
	}
	// Only envelopes rows can conflict, and insertRows inserts group
	// entries only once they are all in.
	undo := make([][]any, len(rows))
	for i, e := range rows {
		undo[i] = []any{string(e.To.User), int64(e.To.Device), e.Seq}
	}
	// The undone rows' shared payloads were never referenced (refShared
	// runs only once every row is in), so there is nothing to release.
	return false, t.bulkQuery(bulkDelete, undo, func(rowScanner) error { return nil })
}

// saveBoxes copies the counters of the mailboxes of subs.
func (t *txn) saveBoxes(subs []submission) map[mailboxKey]mailboxState {
	saved := map[mailboxKey]mailboxState{}
	for _, s := range subs {
		k := mailboxKey{s.e.To.User, s.e.To.Device}
		saved[k] = *t.boxes[k]
	}
	return saved
}

// placeAll decides every envelope's outcome given those already stored,
// and returns the envelopes to insert.
func (t *txn) placeAll(subs []submission, stored map[envKey]int64) []*Envelope {
	var rows []*Envelope
	for _, s := range subs {
		*s.res = t.place(s.e, stored)
		if s.res.Err == nil && !s.res.Duplicate {
			rows = append(rows, s.e)
		}
	}
	return rows
}

// place decides one envelope's outcome from its mailbox's counters. A new
// envelope takes the mailbox's next Seq (in e.Seq) and joins stored, so
// that a later copy in the same batch is a duplicate of it.
func (t *txn) place(e *Envelope, stored map[envKey]int64) SubmitResult {
	m := t.boxes[mailboxKey{e.To.User, e.To.Device}]
	k := envKey{e.To, e.From, e.ID}
	if m.gone {
		return SubmitResult{Err: fmt.Errorf("%w: device %s", ErrNotFound, e.To)}
	}
	if seq, ok := stored[k]; ok {
		return SubmitResult{Seq: seq, Duplicate: true}
	}
	if m.queued >= t.w.cap {
		return SubmitResult{Err: fmt.Errorf("%w: device %s has %d envelopes", ErrMailboxFull, e.To, m.queued)}
	}
	m.lastSeq++
	m.queued++
	m.dirty = true
	e.Seq = m.lastSeq
	stored[k] = e.Seq
	return SubmitResult{Seq: e.Seq}
}

// lockMailboxes reads (and on PostgreSQL locks) the counters of every
// mailbox of all that this transaction has not read yet.
func (t *txn) lockMailboxes(all []mailboxKey) error {
	var keys []mailboxKey
	seen := map[mailboxKey]bool{}
	for _, k := range all {
		if _, ok := t.boxes[k]; ok || seen[k] {
			continue
		}
		if m, ok := t.w.keptCounters(k); ok {
			t.boxes[k] = m
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareMailboxes)
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{string(k.user), int64(k.device)}
	}
	err := t.bulkQuery(bulkLock, rows, func(r rowScanner) error {
		var user string
		var device int64
		m := &mailboxState{}
		if err := r.Scan(&user, &device, &m.lastSeq, &m.queued); err != nil {
			return fmt.Errorf("store: lock mailboxes: %w", err)
		}
		if k := (mailboxKey{addr.UserID(user), addr.DeviceID(device)}); t.boxes[k] == nil {
			t.boxes[k] = m
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := t.boxes[k]; !ok {
			t.boxes[k] = &mailboxState{gone: true}
		}
	}
	return nil
}

// recount replaces the queued bound of each mailbox of subs that the
// submissions might fill (bound + their number > cap) by the true count.
// The mailbox is locked, so no envelope can be added meanwhile; an ack
// (which does not lock) can only make the count too high, never too low.
func (t *txn) recount(subs []submission) error {
	adding := map[mailboxKey]int64{}
	for _, s := range subs {
		adding[mailboxKey{s.e.To.User, s.e.To.Device}]++
	}
	for k, n := range adding {
		m := t.boxes[k]
		if m.gone || m.counted || m.queued+n <= t.w.cap {
			continue
		}
		var q int64
		if _, err := t.queryRow(qCountMailbox, []any{string(k.user), int64(k.device)}, &q); err != nil {
			return err
		}
		m.counted = true
		if q != m.queued {
			m.queued, m.dirty = q, true
		}
	}
	return nil
}

// findStored returns the Seqs of the envelopes of subs that are stored
// already (those to existing mailboxes only; group messages are
// findGroupsStored's).
func (t *txn) findStored(subs []submission) (map[envKey]int64, error) {
	stored := map[envKey]int64{}
	var rows [][]any
	seen := map[envKey]bool{}
	for _, s := range subs {
		k := envKey{s.e.To, s.e.From, s.e.ID}
		if s.e.Kind != KindGroup && !t.boxes[mailboxKey{k.to.User, k.to.Device}].gone && !seen[k] {
			seen[k] = true
			rows = append(rows, []any{string(k.to.User), int64(k.to.Device), string(k.from.User), int64(k.from.Device), k.id[:]})
		}
	}
	err := t.bulkQuery(bulkFind, rows, func(r rowScanner) error {
		var to, from string
		var toDev, fromDev, seq int64
		var id []byte
		if err := r.Scan(&to, &toDev, &from, &fromDev, &id, &seq); err != nil {
			return fmt.Errorf("store: find envelopes: %w", err)
		}
		k := envKey{to: addr.Address{User: addr.UserID(to), Device: addr.DeviceID(toDev)},
			from: addr.Address{User: addr.UserID(from), Device: addr.DeviceID(fromDev)}}
		if copy(k.id[:], id) != len(id) || len(id) != addr.MessageIDLen {
			return fmt.Errorf("store: find envelopes: a %d-byte message ID", len(id))
		}
		stored[k] = seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// insertRows inserts rows (each with its Seq set): envelopes into
// envelopes and group messages into group_entries (group.go). all
// reports whether every envelope was inserted; group entries are
// inserted only if so.
func (t *txn) insertRows(rows []*Envelope, groups map[groupKey]*groupMsg) (all bool, err error) {
	var plain, grouped []*Envelope
	for _, e := range rows {
		if e.Kind == KindGroup {
			grouped = append(grouped, e)
		} else {
			plain = append(plain, e)
		}
	}
	if all, err := t.insertEnvelopes(plain); err != nil || !all {
		return all, err
	}
	return true, t.insertGroups(grouped, groups)
}

// insertEnvelopes inserts envs (each with its Seq set), skipping any
// already stored; all reports whether every one was inserted.
func (t *txn) insertEnvelopes(envs []*Envelope) (all bool, err error) {
	rows, shared := sharedRows(envs)
	n, err := t.insertSaving(rows)
	if err != nil || n != int64(len(envs)) {
		return false, err // the caller undoes a partial insert
	}
	return true, t.refShared(shared)
}

// compareMailboxes orders mailboxes as qLockMailboxes locks them.
func compareMailboxes(a, b mailboxKey) int {
	return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.device, b.device))
}

// insertSaving runs bulkInsert over rows. Where the dialect has
// bulkInsertSave (PostgreSQL), the same statement also saves the changed
// mailbox counters, which flush would otherwise save in a statement of
// its own just before COMMIT: one round trip fewer per batch. Counters
// saved for envelopes that then turn out not to be inserted are marked
// changed again by the caller undoing them (see store), so the COMMIT
// still saves the right ones.
func (t *txn) insertSaving(rows [][]any) (int64, error) {
	q, ok := t.w.d.bulk[bulkInsertSave]
	if !ok || len(rows) == 0 {
		return t.bulkExec(bulkInsert, rows)
	}
	if err := t.settle(); err != nil { // as exec would, before reading the counters
		return 0, err
	}
	save := t.dirtyRows()
	users, devices, seqs, queued := make([]string, len(save)), make([]int64, len(save)), make([]int64, len(save)), make([]int64, len(save))
	for i, r := range save {
		users[i], devices[i], seqs[i], queued[i] = r[0].(string), r[1].(int64), r[2].(int64), r[3].(int64)
	}
	return t.exec(q, append(columns(rows), users, devices, seqs, queued)...)
}
