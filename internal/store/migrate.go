package store

import (
	"context"
	"database/sql"
	"embed"

	"parley.dev/internal/migrate"
)

// Migrations are embedded SQL files named NNNN_description.sql, applied in
// order by internal/migrate; schema_version holds the number of the last
// one applied.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

var migrations = migrate.Set{Name: "store", Files: migrationFS, Dir: "migrations", Table: "schema_version"}

// ErrSchemaBehind is returned by Open with Options.NoMigrate when the
// database's schema is older than this program's: run Migrate (parleyd
// migrate) first. It is migrate.ErrBehind, which the blob store returns
// too.
var ErrSchemaBehind = migrate.ErrBehind

func (d dialect) migrateDialect() migrate.Dialect {
	return migrate.Dialect{Lock: d.migrateLock, TableExists: d.tableExists, Rewrite: d.ddl}
}

// migrateDB brings the schema up to date in one transaction and returns the
// versions before and after. It is idempotent, and safe when several
// relay nodes start together: on PostgreSQL the transaction first takes
// an advisory lock on the schema, so one node migrates and the others
// then find nothing to do. It refuses a database whose schema is newer
// than the code.
func migrateDB(ctx context.Context, db *sql.DB, d dialect) (from, to int, err error) {
	return migrations.Migrate(ctx, db, d.migrateDialect())
}

// checkSchema fails unless the database's schema is exactly this
// program's (ErrSchemaBehind if older).
func checkSchema(ctx context.Context, db *sql.DB, d dialect) error {
	return migrations.Check(ctx, db, d.migrateDialect())
}

// SchemaVersion is the schema version this program's migrations produce.
func SchemaVersion() int { return migrations.Version() }
