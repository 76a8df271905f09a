package server

import (
	"fmt"
	"strings"
	"testing"

	"parley.dev/internal/wire"
)

// TestRejectedCountsEveryCode: every error code wire defines is counted
// under its own name, whatever its number (the blob codes are above 64,
// where a fixed-size array once stopped counting), and a code unknown to
// this relay under "other".
func TestRejectedCountsEveryCode(t *testing.T) {
	m := newMetrics()
	codes := wire.ErrorCodes()
	if codes[len(codes)-1] < wire.CodeNoBlob {
		t.Fatalf("ErrorCodes ends at %d: the test would not reach the high codes", codes[len(codes)-1])
	}
	for i, c := range codes {
		for range i + 1 {
			m.reject(c)
		}
	}
	m.reject(wire.Code(999))
	var b strings.Builder
	m.write(&b)
	for i, c := range codes {
		want := fmt.Sprintf("parley_rejected_total{reason=%q} %d\n", c.String(), i+1)
		if !strings.Contains(b.String(), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if !strings.Contains(b.String(), "parley_rejected_total{reason=\"other\"} 1\n") {
		t.Error("an unknown code is not counted as other")
	}
}
