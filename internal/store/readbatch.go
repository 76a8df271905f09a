package store

import (
	"context"
	"database/sql"
	"fmt"

	"parley.dev/internal/addr"
)

// Batched mailbox reads (PostgreSQL). Each Pending call is a statement,
// and on PostgreSQL a statement's fixed cost (protocol, snapshot,
// executor start-up; tens of microseconds of backend CPU) is most of a
// small read's. A relay under load reads many mailboxes at once, so the
// pendingBatcher coalesces concurrent Pending calls the way the writer
// coalesces writes: each of its goroutines (one per read connection) takes
// one call, then whatever else is waiting (up to maxReadBatch), and
// answers all of them with one statement that reads every mailbox
// (qPendingBatch: a LATERAL join over arrays of mailboxes, each with its
// own Seq and limit). Alone, a call runs the plain qPending. SQLite reads
// in-process for a few microseconds and needs none of this.
//
// The result is exactly what separate calls would return at the moment
// the statement runs.

// maxReadBatch bounds the calls answered by one statement.
const maxReadBatch = 64

// qPendingBatch reads many mailboxes at once; $1..$5 are arrays of the
// call index, user, device, after and limit; $6 is now. Like qPending it
// merges each mailbox's envelopes and group entries in Seq order.
const qPendingBatch = `SELECT k.i, e.seq, e.from_user, e.from_device, e.msg_id, e.kind, e.created, e.expires, e.payload
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS k(i, u, dv, after, lim)
CROSS JOIN LATERAL (SELECT * FROM (
(SELECT x.seq, x.from_user, x.from_device, x.msg_id, x.kind, x.created, x.expires, COALESCE(p.payload, x.payload) AS payload
FROM envelopes x LEFT JOIN shared_payloads p ON x.shared = 1 AND p.hash = x.payload
WHERE x.to_user = k.u AND x.to_device = k.dv AND x.seq > k.after AND x.expires > $6
ORDER BY x.seq LIMIT k.lim)
UNION ALL
(SELECT g.seq, m.from_user, m.from_device, m.msg_id, m.kind, m.created, m.expires, m.payload
FROM group_entries g JOIN group_messages m ON m.id = g.ref
WHERE g.to_user = k.u AND g.to_device = k.dv AND g.seq > k.after AND m.expires > $6
ORDER BY g.seq LIMIT k.lim)) AS b
ORDER BY b.seq LIMIT k.lim) AS e
ORDER BY k.i, e.seq`

// pendingCall is one Pending call waiting for a batch.
type pendingCall struct {
	ctx   context.Context
	to    addr.Address
	after int64
	limit int
	out   []Envelope
	err   error
	done  chan struct{}
}

// pendingBatcher runs batched reads; see above. Make one with
// newPendingBatcher; stop ends it.
type pendingBatcher struct {
	s     *sqlStore
	queue chan *pendingCall
	stop  chan struct{}
}

func newPendingBatcher(s *sqlStore, workers int) *pendingBatcher {
	b := &pendingBatcher{s: s, queue: make(chan *pendingCall, 4*maxReadBatch), stop: make(chan struct{})}
	for range workers {
		go b.loop()
	}
	return b
}

// pending queues one call and waits for its answer.
func (b *pendingBatcher) pending(ctx context.Context, to addr.Address, after int64, limit int) ([]Envelope, error) {
	c := &pendingCall{ctx: ctx, to: to, after: after, limit: limit, done: make(chan struct{})}
	select {
	case b.queue <- c:
	case <-b.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-b.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *pendingBatcher) loop() {
	for {
		var first *pendingCall
		select {
		case first = <-b.queue:
		case <-b.stop:
			return
		}
		calls := []*pendingCall{first}
	gather:
		for len(calls) < maxReadBatch {
			select {
			case c := <-b.queue:
				calls = append(calls, c)
			default:
				break gather
			}
		}
		b.run(calls)
	}
}

// run answers calls, alone with qPending or together with qPendingBatch.
func (b *pendingBatcher) run(calls []*pendingCall) {
	live := calls[:0]
	for _, c := range calls {
		if c.ctx.Err() != nil {
			c.err = c.ctx.Err()
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	var err error
	switch len(live) {
	case 0:
		return
	case 1:
		c := live[0]
		c.out, err = b.s.pendingOne(c.ctx, c.to, c.after, c.limit)
	default:
		err = b.batch(live)
	}
	for _, c := range live {
		if err != nil {
			c.out, c.err = nil, err
		}
		close(c.done)
	}
}

func (b *pendingBatcher) batch(calls []*pendingCall) error {
	n := len(calls)
	idx, users, devs, afters, limits := make([]int64, n), make([]string, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, c := range calls {
		idx[i], users[i], devs[i], afters[i], limits[i] = int64(i), string(c.to.User), int64(c.to.Device), c.after, int64(c.limit)
	}
	// One caller giving up must not fail the others' read.
	args := []any{idx, users, devs, afters, limits, micros(b.s.opt.Now())}
	return b.s.query(context.Background(), qPendingBatch, args, func(r *sql.Rows) error {
		var i int64
		e, err := scanEnvelope(r, addr.Address{}, &i)
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(n) {
			return fmt.Errorf("store: batched read returned call %d of %d", i, n)
		}
		e.To = calls[i].to
		calls[i].out = append(calls[i].out, e)
		return nil
	})
}

func (b *pendingBatcher) close() { close(b.stop) }
