package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

var postgresDialect = dialect{
	name:   "postgres",
	rebind: func(q string) string { return q },
	// A durable batch commits with synchronous_commit=on (forced on the
	// writer's connection); a relaxed one turns it off for its own
	// transaction only: the commit returns before the WAL is flushed, and
	// a crash can lose only the latest such commits.
	syncStmt: func(durable bool) (string, bool) {
		if durable {
			return "", false
		}
		return "SET LOCAL synchronous_commit TO OFF", true
	},
	// Relay nodes starting together take turns migrating.
	migrateLock: "SELECT pg_advisory_xact_lock(7238915263540020555)",
}

// openPostgres opens a writer connection and a read-only pool on the
// database named by a postgres:// URL (its search_path selects the schema).
func openPostgres(ctx context.Context, dsn string, opt Options) (Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres URL: %v", ErrInvalid, err)
	}
	wcfg, rcfg := cfg.Copy(), cfg.Copy()
	wcfg.RuntimeParams["synchronous_commit"] = "on"
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	wdb := stdlib.OpenDB(*wcfg)
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	if err := migrate(ctx, wdb, postgresDialect); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb := stdlib.OpenDB(*rcfg)
	rdb.SetMaxOpenConns(opt.ReadConns)
	rdb.SetMaxIdleConns(opt.ReadConns)
	return newSQLStore(ctx, wdb, rdb, postgresDialect, opt)
}
