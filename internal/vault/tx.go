package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction of Update. It is valid only during the function
// Update calls, and not safe for concurrent use. Its reads see its own
// writes.
type Tx struct {
	q     querier
	sqlTx *sql.Tx // nil outside Update: statements run on the database
	v     *Vault  // its prepared statements
	keys  *recordKeys
	mac   *indexMAC // the index HMAC, keyed at first use; dropped when done
	done  bool      // set when Update returns
	// stmts are the Vault's prepared statements bound to this transaction,
	// each bound once.
	stmts map[string]*sql.Stmt
}

// indexMAC returns the transaction's index HMAC.
func (tx *Tx) indexMAC() *indexMAC {
	if tx.mac == nil {
		tx.mac = tx.keys.newIndexMAC()
	}
	return tx.mac
}

// stmt returns query prepared (once per Vault) for this transaction, or
// nil if it cannot be, and then the query runs unprepared.
func (tx *Tx) stmt(query string) *sql.Stmt {
	st := tx.v.prepared(query)
	if st == nil || tx.sqlTx == nil {
		return st
	}
	if bound := tx.stmts[query]; bound != nil {
		return bound
	}
	if tx.stmts == nil {
		tx.stmts = make(map[string]*sql.Stmt, 3)
	}
	tx.stmts[query] = tx.sqlTx.StmtContext(context.Background(), st)
	return tx.stmts[query]
}

// finish marks tx done and drops what it held: the bound statements (the
// commit or rollback closes them) and the index HMAC.
func (tx *Tx) finish() {
	tx.done, tx.mac, tx.stmts = true, nil, nil
}

// exec runs a statement that returns no rows.
func (tx *Tx) exec(query string, args ...any) error {
	_, err := tx.execResult(query, args...)
	return err
}

// execResult runs a statement that returns no rows, and returns its result.
func (tx *Tx) execResult(query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(query); st != nil {
		return st.ExecContext(context.Background(), args...)
	}
	return tx.q.ExecContext(context.Background(), query, args...)
}

// queryRow runs a statement that returns at most one row.
func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	if st := tx.stmt(query); st != nil {
		return st.QueryRowContext(context.Background(), args...)
	}
	return tx.q.QueryRowContext(context.Background(), query, args...)
}

// check validates a namespace and key and that tx is still usable.
func (tx *Tx) check(ns, key string) error {
	if tx.done {
		return errTxDone
	}
	return checkName(ns, key)
}

// Get returns the value of the record (ns, key), ErrNotFound if there is
// none, or ErrCorrupt if it fails authentication.
func (tx *Tx) Get(ns, key string) ([]byte, error) {
	if err := tx.check(ns, key); err != nil {
		return nil, err
	}
	id := tx.indexMAC().recordID(ns, key)
	var sealed []byte
	err := tx.queryRow(tx.v.q.get, id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, dbErr("reading record", err)
	}
	r, err := tx.keys.openRecord(tx.indexMAC(), ns, id, sealed)
	return r.Value, err
}

// Put stores val as the record (ns, key), replacing any previous value.
func (tx *Tx) Put(ns, key string, val []byte) error {
	_, err := tx.write(tx.v.q.put, ns, key, val)
	return err
}

// Add stores val as the record (ns, key) unless that record exists
// already, and reports whether it stored it. It is Get and Put in one
// statement for a record that is usually new (a received message, whose
// ID a duplicate repeats). An existing record is left as it is, unread:
// one that would fail authentication counts as existing.
func (tx *Tx) Add(ns, key string, val []byte) (added bool, err error) {
	return tx.write(tx.v.q.add, ns, key, val)
}

// Replace stores val as the record (ns, key) if that record exists, and
// reports whether it did: a missing record stays missing. It is for a
// record the caller wrote earlier and may since have been deleted (an
// outgoing message the disappearing-message sweep removed while it was
// being sent), in one statement instead of a lookup and a Put.
func (tx *Tx) Replace(ns, key string, val []byte) (replaced bool, err error) {
	return tx.write(tx.v.q.replace, ns, key, val)
}

// write seals val as the record (ns, key) and runs query, one of the
// writing statements, on its row (id, namespace tag, sealed value). It
// reports whether the statement changed a row.
func (tx *Tx) write(query, ns, key string, val []byte) (changed bool, err error) {
	if err := tx.check(ns, key); err != nil {
		return false, err
	}
	if len(val) > MaxValueLen {
		return false, fmt.Errorf("%w: value of %d bytes above %d", ErrInvalid, len(val), MaxValueLen)
	}
	id, nsTag, sealed := tx.keys.sealRecord(tx.indexMAC(), ns, key, val)
	res, err := tx.execResult(query, id, nsTag, sealed)
	if err != nil {
		return false, dbErr("writing record", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("writing record", err)
}

// Delete removes the record (ns, key). Deleting a missing record is not an
// error. With secure_delete the old bytes are overwritten in the database.
func (tx *Tx) Delete(ns, key string) error {
	if err := tx.check(ns, key); err != nil {
		return err
	}
	err := tx.exec(tx.v.q.del, tx.indexMAC().recordID(ns, key))
	return dbErr("deleting record", err)
}

// List decrypts every record of namespace ns and returns them sorted by
// key. It fails with ErrCorrupt, returning nothing, if any fails
// authentication or two have one key. It reads the whole namespace, so
// keep namespaces to a size that fits in memory (for example one per
// conversation).
func (tx *Tx) List(ns string) ([]Record, error) {
	if err := tx.check(ns, ""); err != nil {
		return nil, err
	}
	rows, err := tx.q.QueryContext(context.Background(), "SELECT id, val FROM records WHERE ns = ?", tx.indexMAC().nsTag(ns))
	if err != nil {
		return nil, dbErr("listing records", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var id, sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return nil, dbErr("listing records", err)
		}
		r, err := tx.keys.openRecord(tx.indexMAC(), ns, id, sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("listing records", err)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, corrupt("two records with one key in a namespace")
		}
	}
	return out, nil
}

// view runs fn on a Tx over the database itself (one statement, its own
// implicit transaction).
func (v *Vault) view(fn func(*Tx) error) error {
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	return fn(&Tx{q: v.db, v: v, keys: v.keys})
}

// Get returns the value of the record (ns, key); see Tx.Get.
func (v *Vault) Get(ns, key string) (val []byte, err error) {
	err = v.view(func(tx *Tx) error { val, err = tx.Get(ns, key); return err })
	return val, err
}

// Put stores one record durably; see Tx.Put.
func (v *Vault) Put(ns, key string, val []byte) error {
	return v.view(func(tx *Tx) error { return tx.Put(ns, key, val) })
}

// Delete removes one record; see Tx.Delete.
func (v *Vault) Delete(ns, key string) error {
	return v.view(func(tx *Tx) error { return tx.Delete(ns, key) })
}

// List returns a namespace's records sorted by key; see Tx.List.
func (v *Vault) List(ns string) (recs []Record, err error) {
	err = v.view(func(tx *Tx) error { recs, err = tx.List(ns); return err })
	return recs, err
}

// Update runs fn in one transaction: if fn returns nil, every change it
// made is committed durably (on disk when Update returns); otherwise, or
// if fn panics, none is, and Update returns fn's error. fn must not call
// the Vault's own methods (they would wait for the transaction: deadlock)
// and must not keep tx.
func (v *Vault) Update(fn func(*Tx) error) error {
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	sqlTx, err := v.db.BeginTx(context.Background(), nil)
	if err != nil {
		return dbErr("beginning transaction", err)
	}
	defer sqlTx.Rollback() // no-op after Commit; also runs on panic
	tx := &Tx{q: sqlTx, sqlTx: sqlTx, v: v, keys: v.keys}
	defer tx.finish()
	if err := fn(tx); err != nil {
		return err
	}
	tx.finish()
	return dbErr("committing", sqlTx.Commit())
}

// errTxDone is returned by a Tx used after its Update returned.
var errTxDone = fmt.Errorf("%w: transaction finished", ErrClosed)

// prepare prepares the frequent queries (openDB, before any transaction:
// the pool's one connection is then free).
func (v *Vault) prepare(ctx context.Context) error {
	v.stmts = make(map[string]*sql.Stmt)
	for _, q := range v.q.all() {
		st, err := v.db.PrepareContext(ctx, q)
		if err != nil {
			return dbErr("preparing statements", err)
		}
		v.stmts[q] = st
	}
	return nil
}

// prepared returns query's prepared statement, or nil if it has none.
// stmts changes only in openDB and Close (with closeMu held to write).
func (v *Vault) prepared(query string) *sql.Stmt { return v.stmts[query] }

// closeStmts closes the prepared statements (Close, under closeMu).
func (v *Vault) closeStmts() {
	for _, st := range v.stmts {
		st.Close()
	}
	v.stmts = nil
}
