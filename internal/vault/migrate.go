package vault

import (
	"context"
	"database/sql"
)

// Schema version 1 (vaults created before records were found by an index
// of their ids' prefixes) had one table of records with a unique index on
// the whole id:
//
//	CREATE TABLE records (id BLOB NOT NULL UNIQUE, ns BLOB NOT NULL, val BLOB NOT NULL);
//	CREATE INDEX records_ns ON records(ns);
//
// migrateV1 rebuilds it as version 2 in one transaction, after the check
// record has shown the database is this vault's: an interrupted migration
// leaves version 1, which the next Open migrates again. Rows keep their
// rowid as rid and their sealed bytes unchanged (a record's AEAD binds
// its id, not its row). The old table's pages are overwritten as they
// are freed (secure_delete) and stay in the file, free, until reused or
// Compact; their images in the WAL go at the next checkpoint that reuses
// the frames, or at once with Compact. If the migration fails, the
// vault stays at version 1 (Vault.migrateOrStay).
const schemaV1 = 1

// migrateV1Statements rebuild a version 1 database as this version.
var migrateV1Statements = []string{
	"ALTER TABLE records RENAME TO records_v1",
	"DROP INDEX records_ns",
	schema,
	"INSERT INTO records(rid, id, ns, val) SELECT rowid, id, ns, val FROM records_v1 ORDER BY rowid",
	"DROP TABLE records_v1",
	setSchemaVersion,
}

// migrateV1 upgrades a version 1 database to this version.
func migrateV1(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("migrating: beginning", err)
	}
	defer tx.Rollback() // no-op after Commit
	for _, q := range migrateV1Statements {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return dbErr("migrating", err)
		}
	}
	return dbErr("migrating: committing", tx.Commit())
}
