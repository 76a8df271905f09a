package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"parley.dev/server"
)

// runAudit is "parleyd audit verify|export": it works on the store
// directly, so an auditor can check a copy of the database offline.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usagef("usage: parleyd audit verify|export [--data DIR | --store DSN] [--since T]")
	}
	fs := flag.NewFlagSet("parleyd audit "+args[0], flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	since := fs.String("since", "", "")
	if err := parseWithEnv(fs, args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("audit: unexpected argument %q", fs.Arg(0))
	}
	s := &server.Server{DataDir: *data, StoreDSN: *dsn}
	if strings.HasPrefix(*dsn, "postgres://") || strings.HasPrefix(*dsn, "postgresql://") {
		s.DataDir = ""
	}
	if args[0] == "verify" {
		n, err := s.VerifyAuditLog(ctx)
		if err != nil {
			return fmt.Errorf("audit log broken after %d good entries: %w", n, err)
		}
		fmt.Fprintf(stdout, "parleyd: audit log verified, %d entries\n", n)
		return nil
	}
	var t time.Time
	if *since != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, *since); err != nil {
			return usagef("audit export: --since %q is not an RFC 3339 time", *since)
		}
	}
	enc := json.NewEncoder(stdout)
	return s.ExportAuditLog(ctx, t, func(e server.AuditEntry) error { return enc.Encode(e) })
}
