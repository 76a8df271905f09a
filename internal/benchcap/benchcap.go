// Package benchcap lets an expensive benchmark decline a large fixed run
// count. `go test -run '^$' -bench . -benchtime 2000x ./internal/...` times
// the crypto core next to its primitives; at 2000 runs a benchmark whose
// every run derives an Argon2id key or drains 10,000 envelopes would take
// the better part of an hour. ProcessCPU lets such benchmarks report CPU
// time per operation, which a shared machine disturbs far less than
// wall-clock time. It is imported only by tests.
package benchcap

import (
	"flag"
	"strconv"
	"strings"
	"testing"
)

// Runs skips b when -benchtime asks for more than max fixed runs, saying
// how to run it instead. With a duration (the default) it does nothing.
func Runs(b *testing.B, max int) {
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
