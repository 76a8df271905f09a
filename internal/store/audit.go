package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"parley.dev/internal/audit"
)

// AuditStore keeps the hash-chained audit log (internal/audit). Appends
// from every relay node sharing a database form one chain: each takes the
// head row's lock (PostgreSQL; SQLite has one writer), links the entry to
// the head and moves the head, in one durable transaction.
type AuditStore interface {
	// AppendAudit sets e's Seq, Time (now), Prev and Hash, stores it and
	// returns it. ErrInvalid if e fails audit.Entry.Check.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
	// AuditLog returns up to limit entries (at most MaxBatch; below 1 is
	// ErrInvalid) with Seq > after, in Seq order.
	AuditLog(ctx context.Context, after int64, limit int) ([]audit.Entry, error)
	// AuditAnchor returns where the stored chain starts (the last pruned
	// entry) and its head.
	AuditAnchor(ctx context.Context) (audit.Anchor, error)
	// PruneAudit deletes up to limit of the oldest entries (at most
	// MaxBatch) created before before, making the last one deleted the
	// anchor, so that the rest still verifies, and appends, in the same
	// transaction, an audit.PruneEntry naming it. It returns how many. The
	// head is never pruned, so the chain always has an entry to link to.
	PruneAudit(ctx context.Context, before time.Time, limit int) (int, error)
}

// Audit statements.
const (
	qAuditHead      = `SELECT head_seq, head_hash FROM audit_head WHERE id = 1` + forUpdate
	qAuditSetHead   = `UPDATE audit_head SET head_seq = $1, head_hash = $2 WHERE id = 1`
	qAuditAppend    = `INSERT INTO audit_log (seq, created, kind, actor, subject, detail, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	qAuditLog       = `SELECT seq, created, kind, actor, subject, detail, prev, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`
	qAuditAnchor    = `SELECT anchor_seq, anchor_hash, head_seq, head_hash FROM audit_head WHERE id = 1`
	qAuditLockHead  = `SELECT anchor_seq FROM audit_head WHERE id = 1` + forUpdate
	qAuditOldest    = `SELECT seq, hash FROM audit_log WHERE created < $1 AND seq < $2 ORDER BY seq LIMIT $3`
	qAuditPrune     = `DELETE FROM audit_log WHERE seq <= $1`
	qAuditSetAnchor = `UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1`
)

func init() {
	writeQueries = append(writeQueries, qAuditHead, qAuditSetHead, qAuditAppend,
		qAuditLockHead, qAuditOldest, qAuditPrune, qAuditSetAnchor)
}

// auditWriter is the writer key of every audit write: one writer per
// node, so that a node's appends do not queue behind each other's locks.
const auditWriter = ""

func (s *sqlStore) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	if err := e.Check(); err != nil {
		return audit.Entry{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var out audit.Entry
	err := s.w.do(ctx, auditWriter, true, 1, func(t *txn) (err error) {
		out, err = s.appendAudit(t, e)
		return err
	})
	if err != nil {
		return audit.Entry{}, err
	}
	return out, nil
}

// appendAudit appends e after the head, in t.
func (s *sqlStore) appendAudit(t *txn, e audit.Entry) (audit.Entry, error) {
	var seq int64
	var head []byte
	if ok, err := t.queryRow(qAuditHead, nil, &seq, &head); err != nil || !ok {
		return audit.Entry{}, notFoundOr(err, "audit head")
	}
	next := e
	next.Seq = seq + 1
	next.Time = fromMicros(micros(s.opt.Now()))
	next.Prev = hashOf(head)
	next.Hash = next.Sum()
	if _, err := t.exec(qAuditAppend, next.Seq, micros(next.Time), string(next.Kind), next.Actor,
		next.Subject, next.Detail, next.Prev[:], next.Hash[:]); err != nil {
		return audit.Entry{}, err
	}
	if _, err := t.exec(qAuditSetHead, next.Seq, next.Hash[:]); err != nil {
		return audit.Entry{}, err
	}
	return next, nil
}

func (s *sqlStore) AuditLog(ctx context.Context, after int64, limit int) ([]audit.Entry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	var out []audit.Entry
	err := s.query(ctx, qAuditLog, []any{after, min(limit, MaxBatch)}, func(r *sql.Rows) error {
		var e audit.Entry
		var created int64
		var kind string
		var prev, hash []byte
		if err := r.Scan(&e.Seq, &created, &kind, &e.Actor, &e.Subject, &e.Detail, &prev, &hash); err != nil {
			return err
		}
		e.Time, e.Kind, e.Prev, e.Hash = fromMicros(created), audit.Kind(kind), hashOf(prev), hashOf(hash)
		out = append(out, e)
		return nil
	})
	return out, err
}

func (s *sqlStore) AuditAnchor(ctx context.Context) (audit.Anchor, error) {
	var a audit.Anchor
	var anchor, head []byte
	ok, err := s.queryRow(ctx, qAuditAnchor, nil, &a.Seq, &anchor, &a.HeadSeq, &head)
	if err != nil || !ok {
		return a, notFoundOr(err, "audit head")
	}
	a.Hash, a.HeadHash = hashOf(anchor), hashOf(head)
	return a, nil
}

func (s *sqlStore) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	if err := checkTime("prune before", before); err != nil {
		return 0, err
	}
	var n int
	err := s.w.do(ctx, auditWriter, true, 1, func(t *txn) error {
		n = 0
		var seq int64
		var head []byte
		if ok, err := t.queryRow(qAuditHead, nil, &seq, &head); err != nil || !ok {
			return notFoundOr(err, "audit head")
		}
		rows, err := t.query(qAuditOldest, micros(before), seq, min(limit, MaxBatch))
		if err != nil {
			return err
		}
		var last int64
		var lastHash []byte
		count := 0
		for rows.Next() {
			if err := rows.Scan(&last, &lastHash); err != nil {
				rows.Close()
				return fmt.Errorf("store: prune audit: %w", err)
			}
			count++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: prune audit: %w", err)
		}
		rows.Close()
		if count == 0 {
			return nil
		}
		if _, err := t.exec(qAuditPrune, last); err != nil {
			return err
		}
		if _, err := t.exec(qAuditSetAnchor, last, lastHash); err != nil {
			return err
		}
		if _, err := s.appendAudit(t, audit.PruneEntry(last)); err != nil {
			return err
		}
		n = count
		return nil
	})
	return n, err
}

// hashOf reads a stored hash; an empty (or malformed) one is the zero
// hash, which the chain check then refuses unless it is expected.
func hashOf(b []byte) audit.Hash {
	var h audit.Hash
	if len(b) == len(h) {
		copy(h[:], b)
	}
	return h
}

// VerifyAudit checks the whole stored log against its anchor and head,
// reading it in pages. It returns how many entries it checked, and a
// *audit.BreakError (wrapping audit.ErrBroken) at the first break.
func VerifyAudit(ctx context.Context, s AuditStore) (int64, error) {
	a, err := s.AuditAnchor(ctx)
	if err != nil {
		return 0, err
	}
	v := audit.NewVerifier(a)
	after := a.Seq
	for {
		page, err := s.AuditLog(ctx, after, MaxBatch)
		if err != nil {
			return v.Checked(), err
		}
		for _, e := range page {
			if e.Seq > a.HeadSeq {
				return v.Checked(), v.End() // appended since the anchor was read
			}
			if err := v.Add(e); err != nil {
				return v.Checked(), err
			}
			after = e.Seq
		}
		if len(page) < MaxBatch {
			return v.Checked(), v.End()
		}
	}
}
