package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"parley.dev/internal/addr"
)

// stmtCache prepares each shared statement once per database handle, after
// rewriting it for the dialect. It is safe for concurrent use.
type stmtCache struct {
	db *sql.DB
	d  dialect
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, d dialect) *stmtCache {
	return &stmtCache{db: db, d: d, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, c.d.rebind(q))
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	c.m[q] = s
	return s, nil
}

// prepare prepares qs now, so that get never has to.
func (c *stmtCache) prepare(ctx context.Context, qs []string) error {
	for _, q := range qs {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// prepared returns a statement that prepare has prepared.
func (c *stmtCache) prepared(q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("store: statement not prepared: %.40q", q)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

// txn is the writer's open transaction, handed to each writeOp. It caches
// the transaction's statements and the counters of the mailboxes it
// touches; flush writes the counters back before COMMIT. A txn is used by
// the writer goroutine only.
type txn struct {
	ctx   context.Context
	tx    *sql.Tx
	conn  *sql.Conn // the connection tx runs on, for raw statements (rawbulk.go); nil: none
	w     *writer
	stmts map[string]*sql.Stmt
	boxes map[mailboxKey]*mailboxState
	// pending are submissions not stored yet and acks are acks not run
	// yet (see submit.go): every statement the transaction runs settles
	// them first.
	pending []submission
	acks    []ackRequest
	// lastGroupRef is the highest group message id, read once per
	// transaction when the dialect numbers them in sequence (group.go).
	lastGroupRef int64
	// foreign: the transaction ran a statement outside counterSafe, so
	// the writer's kept counters go at its commit (counters.go).
	foreign bool
}

type mailboxKey struct {
	user   addr.UserID
	device addr.DeviceID
}

// mailboxState is a mailbox's counters as of this transaction: lastSeq
// exactly, queued as an upper bound (see ack.go), exact once counted. A
// missing device is cached too (gone), so that it is looked up once per
// batch.
type mailboxState struct {
	lastSeq, queued      int64
	gone, dirty, counted bool
}

func (t *txn) stmt(q string) (*sql.Stmt, error) {
	if !counterSafe[q] {
		t.foreign = true
	}
	if s, ok := t.stmts[q]; ok {
		return s, nil
	}
	s, err := t.w.stmts.prepared(q)
	if err != nil {
		return nil, err
	}
	s = t.tx.StmtContext(t.ctx, s)
	t.stmts[q] = s
	return s, nil
}

func (t *txn) exec(q string, args ...any) (int64, error) {
	if err := t.settle(); err != nil {
		return 0, err
	}
	s, err := t.stmt(q)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(t.ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("store: exec: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: exec: %w", err)
	}
	return n, nil
}

// queryRow runs a one-row query; a missing row is (false, nil).
func (t *txn) queryRow(q string, args []any, dest ...any) (bool, error) {
	if err := t.settle(); err != nil {
		return false, err
	}
	s, err := t.stmt(q)
	if err != nil {
		return false, err
	}
	err = s.QueryRowContext(t.ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: query: %w", err)
	}
	return true, nil
}

func (t *txn) query(q string, args ...any) (*sql.Rows, error) {
	if err := t.settle(); err != nil {
		return nil, err
	}
	s, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(t.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return rows, nil
}

// mailbox returns the counters of a's mailbox, locking its device row;
// gone reports a missing device. It settles queued submissions before it
// looks in the cache: a submission to a's mailbox caches (and advances)
// its counters, which the table does not hold until flush, so reading
// the table after settling would cache stale ones over them.
func (t *txn) mailbox(a addr.Address) (*mailboxState, error) {
	if err := t.settle(); err != nil {
		return nil, err
	}
	k := mailboxKey{a.User, a.Device}
	if m, ok := t.boxes[k]; ok {
		return m, nil
	}
	if m, ok := t.w.keptCounters(k); ok {
		t.boxes[k] = m
		return m, nil
	}
	m := &mailboxState{}
	ok, err := t.queryRow(qLockMailbox, []any{string(a.User), int64(a.Device)}, &m.lastSeq, &m.queued)
	if err != nil {
		return nil, err
	}
	m.gone = !ok
	t.boxes[k] = m
	return m, nil
}

// forget drops the cached counters of a's mailbox after its device was
// deleted (a later read finds it gone).
func (t *txn) forget(a addr.Address) {
	delete(t.boxes, mailboxKey{a.User, a.Device})
}

// flush saves the changed mailbox counters in one bulk statement.
func (t *txn) flush() error {
	_, err := t.bulkExec(bulkSave, t.dirtyRows())
	return err
}

// dirtyRows returns the changed mailbox counters as bulkSave rows and
// marks them saved.
func (t *txn) dirtyRows() [][]any {
	var rows [][]any
	arena := newRowArena(len(t.boxes), 4)
	for k, m := range t.boxes {
		if m.dirty && !m.gone {
			rows = append(rows, arena.row(string(k.user), int64(k.device), m.lastSeq, m.queued))
			m.dirty = false
		}
	}
	return rows
}

func (t *txn) commit() error {
	if err := t.settle(); err != nil {
		t.rollback()
		return err
	}
	if err := t.flush(); err != nil {
		t.rollback()
		return err
	}
	err := t.tx.Commit()
	t.release()
	if err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (t *txn) rollback() {
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		t.w.log.Warn("store: rollback failed", "err", err)
	}
	t.release()
}

// release hands the transaction's connection back to the pool, once it
// has ended.
func (t *txn) release() {
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}
