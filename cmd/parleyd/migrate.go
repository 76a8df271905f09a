package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"parley.dev/server"
)

// runMigrate is "parleyd migrate": it brings the schemas of the relay's
// databases up to date and says what it did: the store (--store, or
// DATA/parley.db) and the blob store (in the same PostgreSQL schema, or
// DATA/blobs). Several nodes may run it, or start, at once: on PostgreSQL
// an advisory lock per schema lets one migrate while the others wait.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd migrate", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	if err := parseSub(fs, args, stdout); err != nil {
		return err
	}
	s := &server.Server{DataDir: *data, StoreDSN: *dsn}
	if strings.HasPrefix(*dsn, "postgres://") || strings.HasPrefix(*dsn, "postgresql://") {
		s.DataDir = "" // nothing of the relay's lives there
	}
	ms, err := s.Migrate(ctx)
	for _, m := range ms {
		if m.From == m.To {
			fmt.Fprintf(stdout, "parleyd: %s schema already at version %d\n", m.Database, m.To)
		} else {
			fmt.Fprintf(stdout, "parleyd: %s schema migrated from version %d to %d\n", m.Database, m.From, m.To)
		}
	}
	return err
}
