package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations are embedded SQL files named NNNN_description.sql, applied in
// order; schema_version holds the number of the last one applied.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations parses the embedded files. Their numbers must run 1, 2, 3...
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	for i, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("store: migration %s: want number %d", base, i+1)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, stmts: splitSQL(string(body))})
	}
	return ms, nil
}

// splitSQL splits a migration into statements at semicolons ending a line,
// dropping "--" comment lines. Migrations contain no string literals.
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
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// ErrSchemaBehind is returned by Open with Options.NoMigrate when the
// database's schema is older than this program's: run Migrate (parleyd
// migrate) first.
var ErrSchemaBehind = errors.New("store: database schema is older than this program; run the migrations (parleyd migrate)")

// migrate brings the schema up to date in one transaction and returns the
// versions before and after. It is idempotent, and safe when several
// relay nodes start together: on PostgreSQL the transaction first takes
// an advisory lock on the schema, so one node migrates and the others
// then find nothing to do. It refuses a database whose schema is newer
// than the code.
func migrate(ctx context.Context, db *sql.DB, d dialect) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	if d.migrateLock != "" {
		if _, err := tx.ExecContext(ctx, d.migrateLock); err != nil {
			return 0, 0, fmt.Errorf("store: migrate: %w", err)
		}
	}
	have, err := schemaVersion(ctx, tx, d, true)
	if err != nil {
		return 0, 0, err
	}
	if have > len(ms) {
		return have, have, fmt.Errorf("store: database schema version %d is newer than this program's %d", have, len(ms))
	}
	for _, m := range ms[have:] {
		for _, s := range m.stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return have, have, fmt.Errorf("store: migration %s: %w", m.name, err)
			}
		}
	}
	if have < len(ms) {
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE schema_version SET version = $1`), len(ms)); err != nil {
			return have, have, fmt.Errorf("store: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return have, have, fmt.Errorf("store: migrate: %w", err)
	}
	return have, len(ms), nil
}

// checkSchema fails unless the database's schema is exactly this
// program's (ErrSchemaBehind if older).
func checkSchema(ctx context.Context, db *sql.DB, d dialect) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	defer tx.Rollback()
	have, err := schemaVersion(ctx, tx, d, false)
	switch {
	case err != nil:
		return err
	case have < len(ms):
		return fmt.Errorf("%w (version %d, want %d)", ErrSchemaBehind, have, len(ms))
	case have > len(ms):
		return fmt.Errorf("store: database schema version %d is newer than this program's %d", have, len(ms))
	}
	return nil
}

// SchemaVersion is the schema version this program's migrations produce.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// schemaVersion reads the schema version; with create it first creates
// the version table if needed. Without it, a database with no version
// table is version 0.
func schemaVersion(ctx context.Context, tx *sql.Tx, d dialect, create bool) (int, error) {
	if !create {
		var n int
		if err := tx.QueryRowContext(ctx, d.tableExists, "schema_version").Scan(&n); err != nil {
			return 0, fmt.Errorf("store: schema version: %w", err)
		}
		if n == 0 {
			return 0, nil
		}
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`,
		`INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`,
	}
	if !create {
		stmts = nil
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return 0, fmt.Errorf("store: schema version: %w", err)
		}
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}
