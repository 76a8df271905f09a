package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"parley.dev/internal/store"
	"parley.dev/server"
)

// runMigrate is "parleyd migrate": it brings the schema of the relay's
// database (--store, or DATA/parley.db) up to date and says what it did.
// Several nodes may run it, or start, at once: on PostgreSQL an advisory
// lock lets one migrate while the others wait.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd migrate", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	if err := parseWithEnv(fs, args); err != nil {
		if err == flag.ErrHelp {
			io.WriteString(stdout, usage)
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("migrate: unexpected argument %q", fs.Arg(0))
	}
	if *dsn == "" {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		*dsn = filepath.Join(*data, server.DatabaseFile)
	}
	from, to, err := store.Migrate(ctx, *dsn)
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(stdout, "parleyd: schema already at version %d\n", to)
	} else {
		fmt.Fprintf(stdout, "parleyd: schema migrated from version %d to %d\n", from, to)
	}
	return nil
}
