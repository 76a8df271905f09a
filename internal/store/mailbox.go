package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"parley.dev/internal/addr"
)

func (s *sqlStore) Submit(ctx context.Context, envs []Envelope) ([]SubmitResult, error) {
	if len(envs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d envelopes in one submission, limit %d", ErrInvalid, len(envs), MaxBatch)
	}
	if len(envs) == 0 {
		return nil, nil
	}
	now := s.opt.Now()
	norm := make([]Envelope, len(envs))
	for i, e := range envs {
		if err := normalize(&e, now, s.opt.TTL); err != nil {
			return nil, fmt.Errorf("envelope %d: %w", i, err)
		}
		norm[i] = e
	}
	results := make([]SubmitResult, len(norm))
	err := s.w.do(ctx, norm[0].To.User, true, len(norm), func(t *txn) error {
		t.submit(norm, results) // stored with the rest of the batch; see submit.go
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s *sqlStore) Pending(ctx context.Context, to addr.Address, after int64, limit int) ([]Envelope, error) {
	if err := checkAddr(to); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: pending limit %d", ErrInvalid, limit)
	}
	limit = min(limit, MaxBatch)
	if s.reader != nil {
		return s.reader.pending(ctx, to, after, limit)
	}
	return s.pendingOne(ctx, to, after, limit)
}

// pendingOne reads one mailbox with one statement.
func (s *sqlStore) pendingOne(ctx context.Context, to addr.Address, after int64, limit int) ([]Envelope, error) {
	var out []Envelope
	args := []any{string(to.User), int64(to.Device), after, micros(s.opt.Now()), limit}
	err := s.query(ctx, qPending, args, func(r *sql.Rows) error {
		e, err := scanEnvelope(r, to)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanEnvelope scans a row of qPending's columns, after those of lead.
func scanEnvelope(r *sql.Rows, to addr.Address, lead ...any) (Envelope, error) {
	e := Envelope{To: to}
	var from string
	var fromDev, kind, created, expires int64
	var id []byte
	if err := r.Scan(append(lead, &e.Seq, &from, &fromDev, &id, &kind, &created, &expires, &e.Payload)...); err != nil {
		return e, err
	}
	if len(id) != addr.MessageIDLen {
		return e, fmt.Errorf("envelope %d has a %d-byte message ID", e.Seq, len(id))
	}
	copy(e.ID[:], id)
	e.From = addr.Address{User: addr.UserID(from), Device: addr.DeviceID(fromDev)}
	e.Kind, e.Created, e.Expires = Kind(kind), fromMicros(created), fromMicros(expires)
	return e, nil
}

// Ack runs as relaxed writes: losing an ack in a crash only redelivers an
// envelope that the client drops as a duplicate, so acks ride along in the
// next durable commit instead of paying for a flush of their own (on
// PostgreSQL; SQLite flushes every commit, see dialect.syncStmt).
func (s *sqlStore) Ack(ctx context.Context, to addr.Address, seqs []int64) (int, error) {
	if err := checkAddr(to); err != nil {
		return 0, err
	}
	total := 0
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), MaxBatch)]
		seqs = seqs[len(chunk):]
		var n int
		err := s.w.do(ctx, to.User, false, len(chunk), func(t *txn) error {
			t.ack(to, chunk, &n) // run with the rest of the batch; see ack.go
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// expiring is one envelope Expire removes.
type expiring struct {
	to, from addr.Address
	seq      int64
	id       addr.MessageID
	kind     Kind
}

// Expire, like Ack, commits without its own flush: if a crash loses it,
// the envelopes come back and the next Expire removes them (and queues
// their notices) again.
func (s *sqlStore) Expire(ctx context.Context, now time.Time, limit int) ([]Expired, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: expire limit %d", ErrInvalid, limit)
	}
	if err := checkTime("expire time", now); err != nil {
		return nil, err
	}
	limit = min(limit, MaxBatch)
	var out []Expired
	err := s.w.do(ctx, "", false, limit, func(t *txn) (err error) {
		out, err = s.expire(t, now, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *sqlStore) expire(t *txn, now time.Time, limit int) ([]Expired, error) {
	found, err := listExpiring(t, now, limit)
	if err != nil {
		return nil, err
	}
	// Only what this transaction deleted counts: on PostgreSQL another
	// relay node may have expired the same rows a moment before.
	gone := found[:0]
	for _, e := range found {
		deleted, err := deleteEnvelope(t, e.to, e.seq)
		if err != nil {
			return nil, err
		}
		if deleted {
			gone = append(gone, e)
		}
	}
	out := groupExpired(gone)
	for _, x := range out {
		if err := s.notify(t, x, now); err != nil {
			return nil, err
		}
	}
	if err := t.expireGroups(micros(now), limit); err != nil {
		return nil, err
	}
	if _, err := t.exec(qPurgeTokens, micros(now), limit); err != nil {
		return nil, err
	}
	return out, nil
}

func listExpiring(t *txn, now time.Time, limit int) ([]expiring, error) {
	rows, err := t.query(qExpiring, micros(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []expiring
	for rows.Next() {
		var e expiring
		var to, from string
		var toDev, fromDev, kind int64
		var id []byte
		if err := rows.Scan(&to, &toDev, &e.seq, &from, &fromDev, &id, &kind); err != nil {
			return nil, fmt.Errorf("store: expire: %w", err)
		}
		copy(e.id[:], id)
		e.to = addr.Address{User: addr.UserID(to), Device: addr.DeviceID(toDev)}
		e.from = addr.Address{User: addr.UserID(from), Device: addr.DeviceID(fromDev)}
		e.kind = Kind(kind)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: expire: %w", err)
	}
	return out, nil
}

// deleteEnvelope deletes one envelope and reports whether it existed.
// Like an ack it is a plain delete (see ack.go).
func deleteEnvelope(t *txn, to addr.Address, seq int64) (bool, error) {
	n, err := t.deleteReleasing(qDeleteEnvelope, string(to.User), int64(to.Device), seq)
	return n > 0, err
}

// groupExpired groups expired messages by (sender, recipient) in the order
// first seen; expired notices are left out.
func groupExpired(gone []expiring) []Expired {
	var out []Expired
	index := map[[2]addr.Address]int{}
	for _, e := range gone {
		if e.kind != KindMessage {
			continue
		}
		k := [2]addr.Address{e.from, e.to}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Expired{From: e.from, To: e.to})
		}
		out[i].IDs = append(out[i].IDs, e.id)
	}
	return out
}

// notify queues a KindExpired notice for x into the sender's mailbox,
// unless the sender device is gone or its mailbox is full.
func (s *sqlStore) notify(t *txn, x Expired, now time.Time) error {
	payload := make([]byte, 0, len(x.IDs)*addr.MessageIDLen)
	for _, id := range x.IDs {
		payload = append(payload, id[:]...)
	}
	n := Envelope{To: x.From, From: x.To, ID: addr.NewMessageID(), Kind: KindExpired,
		Created: now, Expires: now.Add(s.opt.NoticeTTL), Payload: payload}
	var r SubmitResult
	if err := t.store([]submission{{&n, &r}}); err != nil {
		return err
	}
	if r.Err != nil {
		// No addresses in logs: the reason is enough to watch for.
		reason := "mailbox full"
		if errors.Is(r.Err, ErrNotFound) {
			reason = "sender device gone"
		}
		s.opt.Logger.Debug("store: expiry notice dropped", "reason", reason, "ids", len(x.IDs))
	}
	return nil
}
