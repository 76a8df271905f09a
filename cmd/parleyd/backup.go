package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"parley.dev/server"
)

// runBackup is "parleyd backup": an online, consistent snapshot of the
// embedded store and blob store in one tar file (server.Backup). On
// PostgreSQL it says to use pg_dump.
func runBackup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd backup", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	out := fs.String("out", "", "")
	if err := parseSub(fs, args, stdout); err != nil {
		return err
	}
	if *out == "" {
		return usagef("backup: --out FILE is required")
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = (&server.Server{DataDir: *data, StoreDSN: *dsn}).Backup(ctx, f)
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		os.Remove(*out)
		if errors.Is(err, server.ErrBackupPostgres) {
			return fmt.Errorf("%w\n  pg_dump --format=custom --file parley.dump 'postgres://...'", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "parleyd: backup written to %s\n", *out)
	return nil
}

// runRestore is "parleyd restore": it unpacks a backup into an empty data
// directory and drops the one-time prekeys (server.Restore).
func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd restore", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	from := fs.String("from", "", "")
	if err := parseSub(fs, args, stdout); err != nil {
		return err
	}
	if *from == "" {
		return usagef("restore: --from FILE is required")
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	n, err := server.Restore(ctx, f, *data)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parleyd: restored into %s; %d one-time prekeys dropped (devices upload fresh ones)\n", *data, n)
	return nil
}
