package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/server"
)

// runAudit is "parleyd audit verify|export": it reads the relay's audit
// log from its store (running or not, or an auditor's copy), checking the
// hash chain or writing entries as JSON lines.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usagef("audit: want \"audit verify\" or \"audit export [--since TIME]\"")
	}
	fs := flag.NewFlagSet("parleyd audit "+args[0], flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	since := fs.String("since", "", "")
	if err := parseSub(fs, args[1:], stdout); err != nil {
		return err
	}
	s := &server.Server{DataDir: *data, StoreDSN: *dsn}
	if args[0] == "verify" {
		n, err := s.VerifyAudit(ctx)
		if errors.Is(err, audit.ErrBroken) {
			return fmt.Errorf("audit log does NOT verify after %d good entries: %w", n, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "parleyd: audit log verifies: %d entries, chain intact\n", n)
		return nil
	}
	var t time.Time
	if *since != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, *since); err != nil {
			return usagef("audit export: --since %q: want RFC 3339, e.g. 2026-12-01T00:00:00Z", *since)
		}
	}
	_, err := s.ExportAudit(ctx, t, stdout)
	return err
}
