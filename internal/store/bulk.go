package store

import (
	"fmt"
)

// Bulk statements: the few statements that act on many rows at once
// (lock a batch's mailboxes, find its stored envelopes, insert them, save
// the counters, delete acked envelopes). The callers in submit.go and
// ack.go hand over rows of values; how they reach the database is the
// dialect's business:
//   - portable (SQLite): the multi-row statements of queries.go, one per
//     chunk of up to maxRows rows, padded (reads) or split (writes) to the
//     sizes prepared, run on the driver's connection (rawbulk.go);
//   - arrays (PostgreSQL, dialect.bulk): one statement per call whatever
//     the number of rows, each column bound as one array and joined with
//     unnest. PostgreSQL plans a long OR list or VALUES list anew on every
//     execution (about a millisecond for 32 rows, more than the work
//     itself), while an unnest join has one cheap generic plan.
//
// Every form returns the same columns in the same order, so the callers
// do not know which ran.

// bulkOp names a bulk statement.
type bulkOp int

const (
	// bulkLock reads (on PostgreSQL: locks, in key order) mailboxes.
	// Row: user, device. Returns user, device, last_seq, queued.
	bulkLock bulkOp = iota
	// bulkFind finds stored envelopes. Row: to user, to device, from
	// user, from device, message ID. Returns those and seq.
	bulkFind
	// bulkInsert inserts envelopes, skipping stored ones. Row: the
	// eleven columns of qInsertEnvelopes.
	bulkInsert
	// bulkSave writes mailbox counters. Row: user, device, last_seq,
	// queued.
	bulkSave
	// bulkDelete deletes envelopes. Row: to user, to device, seq.
	// Returns those of the rows deleted, and each one's shared payload
	// hash (NULL if it holds its payload itself).
	bulkDelete
	// bulkInsertGroup inserts group entries. Row: to user, to device,
	// seq, ref.
	bulkInsertGroup
	// bulkDeleteGroup deletes group entries. Row: to user, to device,
	// seq. Returns those of the rows deleted, and each one's ref.
	bulkDeleteGroup
	// bulkInsertSave is bulkInsert and bulkSave in one statement (array
	// form only; see txn.insertSaving): the insert's columns, then the
	// save's. It counts the envelopes inserted.
	bulkInsertSave
)

// portable returns the multi-row statement of op for size rows.
func (op bulkOp) portable(size int) string {
	r := multiRows[size]
	return [...]string{bulkLock: r.lock, bulkFind: r.find, bulkInsert: r.insert, bulkSave: r.save, bulkDelete: r.delete,
		bulkInsertGroup: r.insertGroup, bulkDeleteGroup: r.deleteGroup}[op]
}

// returnsRows reports whether op is a query.
func (op bulkOp) returnsRows() bool {
	return op == bulkLock || op == bulkFind || op == bulkDelete || op == bulkDeleteGroup
}

// postgresBulk are the array forms of the bulk statements.
var postgresBulk = map[bulkOp]string{
	bulkLock: `SELECT d.user_id, d.device_id, d.last_seq, d.queued
FROM devices d JOIN unnest($1::text[], $2::bigint[]) AS k(u, dv) ON d.user_id = k.u AND d.device_id = k.dv
ORDER BY d.user_id, d.device_id FOR UPDATE OF d`,
	bulkFind: `SELECT e.to_user, e.to_device, e.from_user, e.from_device, e.msg_id, e.seq
FROM envelopes e JOIN unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bytea[]) AS k(tu, td, fu, fd, id)
ON e.to_user = k.tu AND e.to_device = k.td AND e.from_user = k.fu AND e.from_device = k.fd AND e.msg_id = k.id`,
	bulkInsert: `INSERT INTO envelopes
(to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bytea[],
$7::bigint[], $8::bigint[], $9::bigint[], $10::bytea[], $11::bigint[])
ON CONFLICT (from_user, from_device, msg_id, to_user, to_device) DO NOTHING`,
	bulkSave: `UPDATE devices d SET last_seq = v.ls, queued = v.q
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(u, dv, ls, q)
WHERE d.user_id = v.u AND d.device_id = v.dv`,
	bulkDelete: `DELETE FROM envelopes e USING unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(u, dv, s)
WHERE e.to_user = k.u AND e.to_device = k.dv AND e.seq = k.s
RETURNING e.to_user, e.to_device, e.seq, CASE WHEN e.shared = 1 THEN e.payload END`,
	bulkInsertGroup: `INSERT INTO group_entries (to_user, to_device, seq, ref)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])`,
	bulkDeleteGroup: `DELETE FROM group_entries g USING unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(u, dv, s)
WHERE g.to_user = k.u AND g.to_device = k.dv AND g.seq = k.s
RETURNING g.to_user, g.to_device, g.seq, g.ref`,
	bulkInsertSave: `WITH save AS (UPDATE devices d SET last_seq = v.ls, queued = v.q
FROM unnest($12::text[], $13::bigint[], $14::bigint[], $15::bigint[]) AS v(u, dv, ls, q)
WHERE d.user_id = v.u AND d.device_id = v.dv)
INSERT INTO envelopes
(to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload, shared)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bytea[],
$7::bigint[], $8::bigint[], $9::bigint[], $10::bytea[], $11::bigint[])
ON CONFLICT (from_user, from_device, msg_id, to_user, to_device) DO NOTHING`,
}

// bulkQuery runs a bulk query over rows, calling scan for each result.
func (t *txn) bulkQuery(op bulkOp, rows [][]any, scan func(rowScanner) error) error {
	return t.bulk(op, rows, func(q string, args []any) error {
		if t.conn != nil {
			_, err := t.rawRun(q, args, scan)
			return err
		}
		res, err := t.query(q, args...)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			if err := scan(res); err != nil {
				return err
			}
		}
		return res.Err()
	})
}

// bulkExec runs a bulk write over rows and returns the rows affected.
func (t *txn) bulkExec(op bulkOp, rows [][]any) (int64, error) {
	var total int64
	err := t.bulk(op, rows, func(q string, args []any) error {
		var n int64
		var err error
		if t.conn != nil {
			n, err = t.rawRun(q, args, nil)
		} else {
			n, err = t.exec(q, args...)
		}
		total += n
		return err
	})
	return total, err
}

// bulk calls run with each statement and its arguments that op over rows
// takes in this dialect.
func (t *txn) bulk(op bulkOp, rows [][]any, run func(q string, args []any) error) error {
	if len(rows) == 0 {
		return nil
	}
	if q, ok := t.w.d.bulk[op]; ok {
		return run(q, columns(rows))
	}
	args := make([]any, 0, min(len(rows), maxRows)*len(rows[0]))
	for len(rows) > 0 {
		var size int
		args = args[:0] // run is done with the last statement's
		if op.returnsRows() {
			size = padRows(min(len(rows), maxRows))
			for i := range size {
				args = append(args, rows[min(i, len(rows)-1)]...)
			}
			rows = rows[min(size, len(rows)):]
		} else {
			size = splitRows(len(rows))
			for _, r := range rows[:size] {
				args = append(args, r...)
			}
			rows = rows[size:]
		}
		if err := run(op.portable(size), args); err != nil {
			return err
		}
	}
	return nil
}

// rowArena hands out bulk rows from one backing slice, instead of one
// allocation per row: a batch builds a row per envelope for its insert and
// another for its ack. Rows are read-only once made.
type rowArena struct{ vals []any }

// newRowArena returns an arena with room for n rows of width values.
func newRowArena(n, width int) *rowArena {
	return &rowArena{vals: make([]any, 0, n*width)}
}

// row returns a row holding vals.
func (a *rowArena) row(vals ...any) []any {
	n := len(a.vals)
	a.vals = append(a.vals, vals...)
	return a.vals[n:len(a.vals):len(a.vals)]
}

// columns turns rows into one slice per column, for array parameters.
// Values are strings, int64s or byte slices, alike down each column.
func columns(rows [][]any) []any {
	cols := make([]any, len(rows[0]))
	for j := range cols {
		switch rows[0][j].(type) {
		case string:
			cols[j] = column[string](rows, j)
		case int64:
			cols[j] = column[int64](rows, j)
		case []byte:
			cols[j] = column[[]byte](rows, j)
		default:
			panic(fmt.Sprintf("store: bulk column of %T", rows[0][j]))
		}
	}
	return cols
}

func column[T any](rows [][]any, j int) []T {
	c := make([]T, len(rows))
	for i, r := range rows {
		c[i] = r[j].(T)
	}
	return c
}
