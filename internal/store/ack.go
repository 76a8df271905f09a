package store

import (
	"fmt"

	"parley.dev/internal/addr"
)

// Acks are run in bulk like submissions (see submit.go): each Ack queues
// its Seqs in the writer's transaction, and the next statement or the
// commit deletes every queued one with multi-row DELETEs. An ack is a
// plain delete: it neither locks the mailbox's device row nor touches its
// counters. The queued counter is therefore an upper bound (submissions
// raise it, acks leave it), which a submission recounts, under the
// mailbox lock, only when the bound says the mailbox may be full (see
// txn.recount). On PostgreSQL this keeps acks from queueing behind a
// mailbox's submissions on other nodes; on both it saves a statement and
// the counter write per batch. A Seq listed more than once counts for the
// first request listing it, as running the acks one by one in queue order
// would. See txn.settle for how acks and submissions are ordered.

// ackRequest is one queued Ack call and where its count goes.
type ackRequest struct {
	to   addr.Address
	seqs []int64
	n    *int
}

// ackKey names one envelope by mailbox and Seq.
type ackKey struct {
	box mailboxKey
	seq int64
}

// ack queues an Ack of seqs in to's mailbox; the next settle sets *n to
// the number of them deleted.
func (t *txn) ack(to addr.Address, seqs []int64, n *int) {
	*n = 0
	t.acks = append(t.acks, ackRequest{to, seqs, n})
}

// deleteAcked runs acks and updates their mailboxes' counters.
func (t *txn) deleteAcked(acks []ackRequest) error {
	owner := map[ackKey]*int{}
	var keys []ackKey
	for _, a := range acks {
		box := mailboxKey{a.to.User, a.to.Device}
		for _, seq := range a.seqs {
			k := ackKey{box, seq}
			if _, ok := owner[k]; !ok {
				owner[k] = a.n
				keys = append(keys, k)
			}
		}
	}
	rows := make([][]any, len(keys))
	arena := newRowArena(len(keys), 3)
	for i, k := range keys {
		rows[i] = arena.row(string(k.box.user), int64(k.box.device), k.seq)
	}
	released := releases{}
	var scan ackScan
	var hash []byte
	err := t.bulkQuery(bulkDelete, rows, func(r rowScanner) error {
		err := scan.deleted(r, owner, &hash)
		released.add(hash)
		return err
	})
	if err != nil {
		return err
	}
	if err := t.releaseShared(released); err != nil {
		return err
	}
	// The Seqs that were not envelopes may be group entries (group.go).
	rows = rows[:0]
	for _, k := range keys {
		if owner[k] != nil {
			rows = append(rows, []any{string(k.box.user), int64(k.box.device), k.seq})
		}
	}
	groups := groupReleases{}
	var ref int64
	err = t.bulkQuery(bulkDeleteGroup, rows, func(r rowScanner) error {
		err := scan.deleted(r, owner, &ref)
		groups[ref]++
		return err
	})
	if err != nil {
		return err
	}
	return t.releaseGroups(groups)
}

// ackScan scans the rows a bulk delete returns (mailbox, Seq, then ref)
// into its fields, one per statement rather than one set per row.
type ackScan struct {
	user        string
	device, seq int64
}

// deleted scans a row, counts it for the request that asked for it and
// removes it from owner, so that a Seq counts once.
func (s *ackScan) deleted(r rowScanner, owner map[ackKey]*int, ref any) error {
	if err := r.Scan(&s.user, &s.device, &s.seq, ref); err != nil {
		return fmt.Errorf("store: ack: %w", err)
	}
	k := ackKey{mailboxKey{addr.UserID(s.user), addr.DeviceID(s.device)}, s.seq}
	n := owner[k]
	if n == nil {
		return fmt.Errorf("store: ack deleted an envelope it was not asked to")
	}
	*n++
	owner[k] = nil
	return nil
}
