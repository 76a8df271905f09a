package store

import "fmt"

// Mailbox counters kept between transactions (SQLite only).
//
// Every submission reads its mailboxes' counters (last_seq, queued) at the
// start of its transaction (txn.lockMailboxes), which on PostgreSQL also
// locks them against the other writers and nodes. On SQLite the writer's
// one connection is the only writer there is, so the counters a committed
// transaction leaves are exactly those the next one would read: the writer
// keeps them (writer.kept) and a transaction reads only mailboxes it has
// not seen yet, which saves the relay's busiest read.
//
// What keeps the copy true:
//   - only committed transactions update it, after their flush has saved
//     every counter they changed; a transaction that fails, for any
//     reason, empties it;
//   - a transaction that runs any statement outside counterSafe (device
//     and user deletion and insertion, prekeys, admin work, anything
//     added later) empties it too, at commit, so that only the hot path
//     (submissions, acks, expiry notices, touches) keeps it;
//   - another connection's commit (a second process on the same file, a
//     mistake, or an operator's tool) empties it: each transaction first
//     reads PRAGMA data_version, which changes only when another
//     connection has committed, and which starts the transaction's read
//     snapshot, so that a commit after it makes this transaction's first
//     write fail (SQLITE_BUSY_SNAPSHOT) instead of using stale counters;
//   - "gone" (a missing device) is never kept, queued is kept as the
//     upper bound it is (counted is dropped: acks may have lowered the
//     true count since), and at most maxCountersKept mailboxes are.

// qDataVersion reads the number that changes when another connection
// commits; the writer prepares it once (writerQueries), since every
// transaction runs it.
const qDataVersion = "PRAGMA data_version"

// maxCountersKept bounds the kept counters (about 100 bytes each).
const maxCountersKept = 1 << 16

// counters is a mailbox's kept counters.
type counters struct{ lastSeq, queued int64 }

// counterSafe are the statements that change no counter behind the
// writer's back: they neither insert nor delete devices, and they write
// counters only through flush. (SQLite's forms only: PostgreSQL keeps
// nothing.)
var counterSafe = func() map[string]bool {
	m := map[string]bool{}
	for _, q := range multiRowQueries() {
		m[q] = true
	}
	for _, q := range []string{qLockMailbox, qCountMailbox, qTouch, qRefShared, qReleaseShared, qDropShared,
		qGroupRecord, qAddGroup, qMaxGroupRef, qGroupEntries, qReleaseGroup} {
		m[q] = true
	}
	return m
}()

// keptCounters returns the kept counters of k, if any.
func (w *writer) keptCounters(k mailboxKey) (*mailboxState, bool) {
	c, ok := w.kept[k]
	if !ok {
		return nil, false
	}
	return &mailboxState{lastSeq: c.lastSeq, queued: c.queued}, true
}

// keep updates the kept counters from t, which has just committed.
func (w *writer) keep(t *txn) {
	if !w.d.keepCounters {
		return
	}
	if t.foreign || len(w.kept)+len(t.boxes) > maxCountersKept {
		w.forgetKept()
		if t.foreign {
			return
		}
	}
	if w.kept == nil {
		w.kept = map[mailboxKey]counters{}
	}
	for k, m := range t.boxes {
		if m.gone {
			delete(w.kept, k)
			continue
		}
		w.kept[k] = counters{m.lastSeq, m.queued}
	}
}

// forgetKept empties the kept counters.
func (w *writer) forgetKept() { clear(w.kept) }

// checkKept starts t (a new transaction) by reading the database's
// data_version, and forgets the kept counters if another connection has
// committed since the last transaction began.
func (w *writer) checkKept(t *txn) error {
	if !w.d.keepCounters {
		return nil
	}
	s, err := w.stmts.prepared(qDataVersion) // not t.stmt: no counter changes
	var v int64
	if err == nil {
		err = t.tx.StmtContext(t.ctx, s).QueryRowContext(t.ctx).Scan(&v)
	}
	if err != nil {
		return fmt.Errorf("store: data version: %w", err)
	}
	if v != w.dataVersion {
		w.forgetKept()
		w.dataVersion = v
	}
	return nil
}
