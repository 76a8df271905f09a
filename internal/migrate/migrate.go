// Package migrate applies a database's embedded schema migrations: files
// named NNNN_description.sql, run in the order of their numbers in one
// transaction, with the number of the last one kept in a version table.
// Numbers rise but may skip (numbers are handed out to work in progress,
// which may land in any order): a database at version v gets every
// migration numbered above v.
// The relay's store (internal/store) and its blob store (internal/blob)
// each have their own set and table; they share this code so that both
// behave the same way:
//
//   - Migrate is idempotent, and safe when several relay nodes start
//     together: on PostgreSQL the transaction first takes the set's
//     advisory lock on the current schema (Dialect.Lock), so one node
//     migrates and the others then find nothing to do.
//   - Check only reads: it fails with ErrBehind on a schema older than the
//     code, for relays started with --migrate=false after "parleyd
//     migrate".
//   - Both refuse a schema newer than the code.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// ErrBehind is returned by Check when the database's schema is older than
// this program's: run the migrations (parleyd migrate) first.
var ErrBehind = errors.New("database schema is older than this program; run the migrations (parleyd migrate)")

// Set is one database's migrations. Its zero value is not usable.
type Set struct {
	// Name prefixes errors ("store", "blob").
	Name string
	// Files holds the migrations, NNNN_description.sql, in Dir. A file's
	// statements end with a semicolon at the end of a line; lines
	// starting with "--" are comments; files contain no string literals.
	Files fs.FS
	Dir   string
	// Table holds the schema version: the number of the last migration
	// applied (the largest value, for tables that once kept one row per
	// migration).
	Table string
}

// Dialect is what differs between the SQL backends.
type Dialect struct {
	// Lock, if set, runs first in the migration transaction to keep
	// concurrent migrations of one schema apart (PostgreSQL: an advisory
	// transaction lock keyed by the set and current_schema()). SQLite
	// needs none: its one writer holds the database lock.
	Lock string
	// TableExists counts the tables named by its one argument in the
	// current schema.
	TableExists string
	// Rewrite, if set, rewrites each migration statement for the backend
	// (the store's PostgreSQL dialect drops SQLite's WITHOUT ROWID).
	Rewrite func(stmt string) string
}

type migration struct {
	num   int
	name  string
	stmts []string
}

// load parses the files. Their numbers must be positive and distinct.
func (s Set) load() ([]migration, error) {
	names, err := fs.Glob(s.Files, s.Dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	last := 0
	for _, name := range names {
		base := strings.TrimPrefix(name, s.Dir+"/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= last {
			return nil, fmt.Errorf("%s: migration %s: want a number above %d", s.Name, base, last)
		}
		last = v
		body, err := fs.ReadFile(s.Files, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{num: v, name: base, stmts: splitSQL(string(body))})
	}
	return ms, nil
}

// splitSQL splits a migration into statements at semicolons ending a line,
// dropping "--" comment lines.
func splitSQL(body string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(body) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts
}

// Version is the schema version the set's migrations produce (0 if the
// files are malformed, which the package's tests rule out).
func (s Set) Version() int {
	ms, err := s.load()
	if err != nil {
		return 0
	}
	return version(ms)
}

// version is the number of the last of ms (0 if none).
func version(ms []migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].num
}

// Migrate brings the schema up to date in one transaction and returns the
// versions before and after.
func (s Set) Migrate(ctx context.Context, db *sql.DB, d Dialect) (from, to int, err error) {
	ms, err := s.load()
	if err != nil {
		return 0, 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: migrate: %w", s.Name, err)
	}
	defer tx.Rollback()
	if d.Lock != "" {
		if _, err := tx.ExecContext(ctx, d.Lock); err != nil {
			return 0, 0, fmt.Errorf("%s: migrate: %w", s.Name, err)
		}
	}
	have, err := s.version(ctx, tx, d, true)
	if err != nil {
		return 0, 0, err
	}
	want := version(ms)
	if have > want {
		return have, have, s.newer(have, want)
	}
	for _, m := range ms {
		if m.num <= have {
			continue
		}
		for _, st := range m.stmts {
			if d.Rewrite != nil {
				st = d.Rewrite(st)
			}
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return have, have, fmt.Errorf("%s: migration %s: %w", s.Name, m.name, err)
			}
		}
	}
	if have < want {
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.Table+" SET version = "+strconv.Itoa(want)); err != nil {
			return have, have, fmt.Errorf("%s: migrate: %w", s.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return have, have, fmt.Errorf("%s: migrate: %w", s.Name, err)
	}
	return have, want, nil
}

// Check fails unless the database's schema is exactly the set's version
// (ErrBehind if older). It changes nothing.
func (s Set) Check(ctx context.Context, db *sql.DB, d Dialect) error {
	ms, err := s.load()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: schema version: %w", s.Name, err)
	}
	defer tx.Rollback()
	have, err := s.version(ctx, tx, d, false)
	switch {
	case err != nil:
		return err
	case have < version(ms):
		return fmt.Errorf("%s: %w (version %d, want %d)", s.Name, ErrBehind, have, version(ms))
	case have > version(ms):
		return s.newer(have, version(ms))
	}
	return nil
}

func (s Set) newer(have, want int) error {
	return fmt.Errorf("%s: database schema version %d is newer than this program's %d", s.Name, have, want)
}

// version reads the schema version; with create it first creates the
// version table if needed. Without it, a database with no version table
// is version 0.
func (s Set) version(ctx context.Context, tx *sql.Tx, d Dialect, create bool) (int, error) {
	if create {
		for _, st := range []string{
			"CREATE TABLE IF NOT EXISTS " + s.Table + " (version BIGINT NOT NULL)",
			"INSERT INTO " + s.Table + " (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM " + s.Table + ")",
		} {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return 0, fmt.Errorf("%s: schema version: %w", s.Name, err)
			}
		}
	} else {
		var n int
		if err := tx.QueryRowContext(ctx, d.TableExists, s.Table).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: schema version: %w", s.Name, err)
		}
		if n == 0 {
			return 0, nil
		}
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(version) FROM "+s.Table).Scan(&v); err != nil {
		return 0, fmt.Errorf("%s: schema version: %w", s.Name, err)
	}
	return int(v.Int64), nil
}
