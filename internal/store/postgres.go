package store

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net"
	"strings"

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
	// Relay nodes starting together take turns migrating: an advisory
	// lock (class 0x5061726c, "Parl") on the schema the search_path
	// selects, so deployments in other schemas of one database do not
	// wait for each other. It is released at COMMIT.
	migrateLock: "SELECT pg_advisory_xact_lock(1348563564, hashtext(current_schema()))",
	bulk:        postgresBulk,
	batchReads:  true,
	ddl:         func(q string) string { return strings.ReplaceAll(q, ") WITHOUT ROWID", ")") },
	tableExists: `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`,
}

// openPostgres opens Options.Writers writer connections and a read-only pool on the
// database named by a postgres:// URL (its search_path selects the schema).
func openPostgres(ctx context.Context, dsn string, opt Options) (Store, error) {
	cfg, err := pgConfig(dsn)
	if err != nil {
		return nil, err
	}
	if unverifiedRemote(cfg) {
		opt.Logger.Warn("the PostgreSQL server is on another machine and its certificate is not verified: "+
			"add sslmode=verify-full and sslrootcert to the store URL (docs/operations.md)", "host", cfg.Host)
	}
	wcfg, rcfg := cfg.Copy(), cfg.Copy()
	wcfg.RuntimeParams["synchronous_commit"] = "on"
	// The mailbox tables are queues: between vacuums most of their row
	// versions are dead (every envelope is deleted once acked, every
	// submit rewrites its mailbox's counters), while the live rows are
	// few. On such estimates PostgreSQL plans the writers' batch
	// statements (lock, insert-and-save, ack delete) as sequential scans,
	// which then visit every dead version: half of the database's CPU in a
	// submit-deliver-ack cycle. Each of those statements has an index path
	// (the keys it names), so the writers tell the planner to take it.
	wcfg.RuntimeParams["enable_seqscan"] = "off"
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	// Migrations copy whole tables, where a sequential scan is right: they
	// run on a connection of their own with the planner's defaults.
	mcfg := cfg.Copy()
	mcfg.RuntimeParams["synchronous_commit"] = "on"
	mdb := stdlib.OpenDB(*mcfg)
	mdb.SetMaxOpenConns(1)
	err = prepareSchema(ctx, mdb, postgresDialect, opt)
	mdb.Close()
	if err != nil {
		return nil, err
	}
	wdbs := make([]*sql.DB, opt.Writers)
	for i := range wdbs {
		wdbs[i] = stdlib.OpenDB(*wcfg)
		wdbs[i].SetMaxOpenConns(1)
		wdbs[i].SetMaxIdleConns(1)
	}
	rdb := stdlib.OpenDB(*rcfg)
	rdb.SetMaxOpenConns(opt.ReadConns)
	rdb.SetMaxIdleConns(opt.ReadConns)
	return newSQLStore(ctx, wdbs, rdb, postgresDialect, opt)
}

// pgConfig parses a postgres:// URL.
func pgConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres URL: %v", ErrInvalid, err)
	}
	return cfg, nil
}

// unverifiedRemote reports whether cfg reaches a PostgreSQL server on
// another machine, or one of its fallbacks does, without verifying the
// server's certificate: plain TCP, or TLS that checks nothing (sslmode
// disable, allow, prefer (pgx's default) or require). A machine in the
// path could then read and change what the relay stores.
func unverifiedRemote(cfg *pgx.ConnConfig) bool {
	if !isLocalHost(cfg.Host) && unverifiedTLS(cfg.TLSConfig) {
		return true
	}
	for _, f := range cfg.Fallbacks {
		if !isLocalHost(f.Host) && unverifiedTLS(f.TLSConfig) {
			return true
		}
	}
	return false
}

// unverifiedTLS reports whether c (nil: no TLS) leaves the server
// unauthenticated. sslmode=verify-ca skips Go's check and verifies the
// chain itself (VerifyPeerCertificate).
func unverifiedTLS(c *tls.Config) bool {
	return c == nil || (c.InsecureSkipVerify && c.VerifyPeerCertificate == nil)
}

// isLocalHost reports whether host is a Unix socket directory or this
// machine's loopback.
func isLocalHost(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
