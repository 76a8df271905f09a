package store

import (
	"flag"
	"strconv"
	"strings"
	"testing"
)

// capRuns skips b when -benchtime asks for more than max runs of it, as
// `go test -run '^$' -bench . -benchtime 2000x ./internal/...` does to
// time the crypto core next to its primitives: a benchmark whose every run
// drains 10,000 envelopes would take the better part of an hour. Run it
// with a duration (the default) or with at most max runs instead.
func capRuns(b *testing.B, max int) {
	b.Helper()
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return
	}
	s := f.Value.String()
	n, err := strconv.Atoi(strings.TrimSuffix(s, "x"))
	if strings.HasSuffix(s, "x") && err == nil && n > max {
		b.Skipf("each run takes a large fraction of a second: rerun with -benchtime %dx or less, or a duration", max)
	}
}
