package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// Raw bulk statements (SQLite). The writer's bulk statements (bulk.go)
// are its hottest: every batch inserts, deletes and saves counters with
// them. Through database/sql each execution converts and checks every
// argument, wraps the statement for the transaction and allocates a
// Rows; the relay spent about a tenth of its writer's CPU there. On
// SQLite the writer therefore runs them on the driver's connection
// itself (sql.Conn.Raw), binding and reading columns directly; every
// other statement, and the transaction itself, still goes through
// database/sql. PostgreSQL's array forms are unchanged.
//
// The writer's transaction holds a sql.Conn (txn.conn) for its life, and
// the raw statements run inside Raw, which keeps the connection's other
// user, the WAL checkpointer, out meanwhile, as database/sql would. They
// are prepared on first use and kept (rawStmts) until the writer closes,
// which finalizes them before the connection is closed.

// rowScanner reads one result row: *sql.Rows, or a raw statement's.
type rowScanner interface {
	Scan(dest ...any) error
}

// rawConn is what the SQLite driver's connection offers Raw's callback.
type rawConn interface{ Raw() *sqlite3.Conn }

// rawStmts are a writer's raw statements, on the connection c. Only the
// writer's goroutine uses them, inside Raw.
type rawStmts struct {
	c *sqlite3.Conn
	m map[string]*sqlite3.Stmt
}

// get returns q, rewritten for the dialect by rebind, prepared on c.
func (r *rawStmts) get(c *sqlite3.Conn, q string, rebind func(string) string) (*sqlite3.Stmt, error) {
	if r.c != c { // database/sql never replaces the writer's connection; should it, start over
		r.c, r.m = c, map[string]*sqlite3.Stmt{}
	}
	if s, ok := r.m[q]; ok {
		return s, nil
	}
	s, _, err := c.PrepareFlags(rebind(q), sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	r.m[q] = s
	return s, nil
}

// close finalizes the statements; c must be their connection.
func (r *rawStmts) close(c *sqlite3.Conn) {
	if r.c != c {
		return
	}
	for q, s := range r.m {
		s.Close()
		delete(r.m, q)
	}
}

// closeRaw finalizes the writer's raw statements, which must go before
// their connection closes (SQLite refuses to close it otherwise).
func (w *writer) closeRaw() {
	if len(w.raw.m) == 0 {
		return
	}
	conn, err := w.db.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if rc, ok := dc.(rawConn); ok {
			w.raw.close(rc.Raw())
		}
		return nil
	})
}

// rawRun runs q with args on the transaction's connection, as exec or
// query would (queued work settled first), calling scan for each row if
// scan is not nil. It returns the rows changed.
func (t *txn) rawRun(q string, args []any, scan func(rowScanner) error) (int64, error) {
	if err := t.settle(); err != nil {
		return 0, err
	}
	if !counterSafe[q] {
		t.foreign = true
	}
	var n int64
	err := t.conn.Raw(func(dc any) error {
		rc, ok := dc.(rawConn)
		if !ok {
			return fmt.Errorf("store: raw statement on a %T", dc)
		}
		s, err := t.w.raw.get(rc.Raw(), q, t.w.d.rebind)
		if err != nil {
			return err
		}
		defer s.ClearBindings()
		defer s.Reset()
		if err := rawBind(s, args); err != nil {
			return err
		}
		for s.Step() {
			if scan == nil {
				continue
			}
			if err := scan(rawRow{s}); err != nil {
				return err
			}
		}
		if err := s.Err(); err != nil {
			return fmt.Errorf("store: exec: %w", err)
		}
		n = rc.Raw().Changes()
		return nil
	})
	return n, err
}

// rawBind binds args, which are what database/sql would accept from the
// bulk rows: strings, int64s, byte slices (nil for NULL).
func rawBind(s *sqlite3.Stmt, args []any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case string:
			err = s.BindText(i+1, v)
		case int64:
			err = s.BindInt64(i+1, v)
		case []byte:
			err = s.BindBlob(i+1, v)
		case nil:
			err = s.BindNull(i + 1)
		default:
			err = fmt.Errorf("store: bind a %T", a)
		}
		if err != nil {
			return fmt.Errorf("store: bind: %w", err)
		}
	}
	return nil
}

// rawRow scans the current row of a raw statement into *string, *int64
// and *[]byte (a copy; nil for NULL), as database/sql would.
type rawRow struct{ s *sqlite3.Stmt }

func (r rawRow) Scan(dest ...any) error {
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = r.s.ColumnText(i)
		case *int64:
			*d = r.s.ColumnInt64(i)
		case *[]byte:
			*d = nil
			if r.s.ColumnType(i) != sqlite3.NULL {
				*d = r.s.ColumnBlob(i, []byte{})
			}
		default:
			return fmt.Errorf("store: scan into a %T", d)
		}
	}
	return nil
}

var _ rowScanner = (*sql.Rows)(nil)
