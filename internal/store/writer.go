package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"parley.dev/internal/addr"
)

// Group commit: one goroutine owns the only write connection. Callers queue
// a writeOp and wait; the writer takes every op that is queued (up to
// maxBatchOps ops and maxBatchWeight envelopes), runs them in ONE
// transaction, commits once (one fsync for all of them) and only then
// replies to each. While it commits, new ops queue up and form the next
// batch, so the batch size adapts to the load with no timer.
//
// An op's run function must return a "clean" error (one wrapping a store
// sentinel such as ErrNotFound) only before it has written anything; the
// other ops of its batch then commit normally. Any other error (a failed
// statement) aborts the batch's transaction, and each op is then rerun in a
// transaction of its own so that one failure cannot cost the others.
//
// Durability: an op is durable (its commit must reach the disk before the
// caller hears back) or relaxed (acks, expiry). On PostgreSQL a batch of
// relaxed ops only commits without flushing; on SQLite every commit
// flushes (see dialect.syncStmt).
const (
	maxBatchOps    = 256
	maxBatchWeight = 4 * MaxBatch
	// defaultQueueLen is how many write requests may wait for the writer
	// before callers block (backpressure).
	defaultQueueLen = 1024
)

// writeOp is one queued write: a function run inside the writer's
// transaction. Results reach the caller through variables captured by run,
// which must therefore (re)set every output each time it runs.
type writeOp struct {
	ctx     context.Context
	durable bool
	weight  int
	run     func(t *txn) error
	err     error
	done    chan struct{}
	// state says who has the op: its caller may abandon it while it is
	// queued (do's context ended), the writer claims it before running
	// it; whichever comes first wins.
	state atomic.Int32
}

// writeOp states.
const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

// writer owns the write connection. Its zero value is not usable; see
// newWriter. Its methods other than do and close run on its goroutine only.
type writer struct {
	db     *sql.DB // MaxOpenConns 1
	d      dialect
	log    *slog.Logger
	stmts  *stmtCache
	cap    int64 // mailbox cap
	queue  chan *writeOp
	carry  *writeOp // taken from the queue but left for the next batch
	synced bool     // the connection's current sync setting is durable
	// kept are mailbox counters as the last committed transaction left
	// them, and dataVersion the database's data_version then (see
	// counters.go).
	kept        map[mailboxKey]counters
	dataVersion int64
	raw         rawStmts // the raw bulk statements (rawbulk.go)
	// commits and committed count transactions and the ops in them
	// (benchmarks report the batch size from them).
	commits, committed atomic.Int64
	mu                 sync.RWMutex
	closed             bool
	stopped            chan struct{}
}

func newWriter(ctx context.Context, db *sql.DB, d dialect, log *slog.Logger, queueLen int, mailboxCap int) (*writer, error) {
	w := &writer{
		db:      db,
		d:       d,
		log:     log,
		stmts:   newStmtCache(db, d),
		cap:     int64(mailboxCap),
		queue:   make(chan *writeOp, queueLen),
		synced:  true, // the connection opens with synchronous = FULL
		stopped: make(chan struct{}),
	}
	if err := w.stmts.prepare(ctx, writerQueries(d)); err != nil {
		w.stmts.close()
		return nil, err
	}
	go w.loop()
	return w, nil
}

// do queues run and waits for the commit (or failure) of its batch. If ctx
// ends while run is still queued, do returns ctx's error and run never
// runs; if the writer has taken it already, do waits for its batch (a
// short transaction), so that run never writes the caller's variables
// after do has returned.
func (w *writer) do(ctx context.Context, durable bool, weight int, run func(*txn) error) error {
	op := &writeOp{ctx: ctx, durable: durable, weight: weight, run: run, done: make(chan struct{})}
	if err := w.enqueue(op); err != nil {
		return err
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		<-op.done
		return op.err
	}
}

func (w *writer) enqueue(op *writeOp) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case w.queue <- op:
		return nil
	case <-op.ctx.Done():
		return op.ctx.Err()
	}
}

// close stops taking ops, lets the writer commit every queued one and
// waits for it to finish.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.stopped
	w.closeRaw()
	w.stmts.close()
}

func (w *writer) loop() {
	defer close(w.stopped)
	for {
		batch := w.gather()
		if batch == nil {
			return
		}
		w.commit(batch)
	}
}

// gather blocks for one op and then takes whatever else is queued, within
// the batch bounds. It returns nil once the queue is closed and empty.
func (w *writer) gather() []*writeOp {
	first := w.carry
	w.carry = nil
	if first == nil {
		op, ok := <-w.queue
		if !ok {
			return nil
		}
		first = op
	}
	batch, weight := []*writeOp{first}, first.weight
	for len(batch) < maxBatchOps {
		select {
		case op, ok := <-w.queue:
			if !ok {
				return batch
			}
			if weight+op.weight > maxBatchWeight {
				w.carry = op
				return batch
			}
			batch, weight = append(batch, op), weight+op.weight
		default:
			return batch
		}
	}
	return batch
}

// commit runs a batch and replies to every op in it.
func (w *writer) commit(batch []*writeOp) {
	live := batch[:0]
	for _, op := range batch {
		if !op.state.CompareAndSwap(opQueued, opClaimed) {
			continue // its caller gave up on it: nobody waits
		}
		if err := op.ctx.Err(); err != nil {
			w.reply(op, err)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	err := w.runTx(live, false)
	if err == nil {
		return
	}
	if len(live) > 1 {
		w.log.Warn("store: batch failed, retrying its writes one by one", "ops", len(live), "err", err)
		for _, op := range live {
			w.runTx([]*writeOp{op}, true)
		}
		return
	}
	w.reply(live[0], err)
}

// runTx runs ops in one transaction and replies to them, unless the
// transaction fails before COMMIT with more than one op (then it returns
// the error and replies to none, so that the caller can retry them one by
// one). alone means every error is final.
func (w *writer) runTx(ops []*writeOp, alone bool) error {
	durable := false
	for _, op := range ops {
		durable = durable || op.durable
	}
	t, err := w.begin(durable)
	if err != nil {
		w.forgetKept()
		return w.fail(ops, alone, err)
	}
	for _, op := range ops {
		op.err = op.run(t)
		if op.err != nil && (alone || !isClean(op.err)) {
			t.rollback()
			w.forgetKept()
			return w.fail(ops, alone, op.err)
		}
	}
	if err := t.commit(); err != nil {
		w.forgetKept()
		return w.fail(ops, alone, err)
	}
	w.keep(t)
	w.commits.Add(1)
	w.committed.Add(int64(len(ops)))
	for _, op := range ops {
		w.reply(op, op.err)
	}
	return nil
}

// fail replies err to every op when alone, and otherwise hands err back.
func (w *writer) fail(ops []*writeOp, alone bool, err error) error {
	if !alone {
		return err
	}
	for _, op := range ops {
		w.reply(op, err)
	}
	return nil
}

func (w *writer) reply(op *writeOp, err error) {
	op.err = err
	close(op.done)
}

// begin sets the connection's sync mode and starts a transaction.
func (w *writer) begin(durable bool) (*txn, error) {
	ctx := context.Background() // one caller giving up must not abort the others' batch
	stmt, inTx := w.d.syncStmt(durable)
	if stmt != "" && !inTx && durable != w.synced {
		if err := w.setSync(ctx, stmt); err != nil {
			return nil, err
		}
		w.synced = durable
	}
	t := &txn{ctx: ctx, w: w, stmts: map[string]*sql.Stmt{}, boxes: map[mailboxKey]*mailboxState{}}
	if err := w.beginTx(t); err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	if err := w.checkKept(t); err != nil {
		t.rollback()
		return nil, err
	}
	if stmt != "" && inTx {
		if _, err := t.tx.ExecContext(ctx, stmt); err != nil {
			t.rollback()
			return nil, fmt.Errorf("store: set sync mode: %w", err)
		}
	}
	return t, nil
}

// beginTx starts t's transaction: on a connection t holds (t.conn) where
// the dialect runs raw bulk statements, else on the pool's.
func (w *writer) beginTx(t *txn) error {
	var err error
	if !w.d.rawBulk {
		t.tx, err = w.db.BeginTx(t.ctx, nil)
		return err
	}
	if t.conn, err = w.db.Conn(t.ctx); err != nil {
		return err
	}
	if t.tx, err = t.conn.BeginTx(t.ctx, nil); err != nil {
		t.release()
	}
	return err
}

// setSync runs a sync statement that runs outside transactions, which
// the writer prepared when it started (see writerQueries): a batch of acks
// between submissions switches the mode twice.
func (w *writer) setSync(ctx context.Context, stmt string) error {
	s, err := w.stmts.prepared(stmt)
	if err == nil {
		_, err = s.ExecContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: set sync mode: %w", err)
	}
	return nil
}

// isClean reports whether an op error is one an op returns before writing.
func isClean(err error) bool {
	for _, s := range []error{ErrNotFound, ErrExists, ErrTokenUsed, ErrMailboxFull, ErrLimit, ErrInvalid} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// writers routes writes to one of several writers, each with its own
// connection: one on SQLite (its single-writer lock allows no more), and
// Options.Writers on PostgreSQL, whose commits then overlap (and share WAL
// flushes) instead of queueing behind one connection. A write goes to the
// writer of the user it concerns, by a hash of the user ID, so that the
// rows of one user (devices, mailboxes, prekeys) are always written by the
// same writer and concurrent writers seldom wait for each other's row
// locks. Writes that span users (Expire, a Submit to several users) may
// still meet another writer's locks; mailboxes are locked in one order,
// and should PostgreSQL still find a deadlock, it aborts one transaction,
// whose writes the writer then retries one by one.
type writers struct {
	ws []*writer
}

// do runs run on the writer of user ("" for writes that concern none).
func (ws *writers) do(ctx context.Context, user addr.UserID, durable bool, weight int, run func(*txn) error) error {
	return ws.ws[ws.index(user)].do(ctx, durable, weight, run)
}

// index picks user's writer: FNV-1a of the ID modulo the writers.
func (ws *writers) index(user addr.UserID) int {
	if len(ws.ws) == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h = (h ^ uint32(user[i])) * 16777619
	}
	return int(h % uint32(len(ws.ws)))
}

func (ws *writers) close() {
	for _, w := range ws.ws {
		w.close()
	}
}

// stats sums the writers' transactions and the ops in them.
func (ws *writers) stats() (commits, ops int64) {
	for _, w := range ws.ws {
		commits += w.commits.Load()
		ops += w.committed.Load()
	}
	return commits, ops
}
