package loadgen_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"parley.dev/internal/loadgen"
)

func TestStampRoundTrip(t *testing.T) {
	for _, st := range []loadgen.Stamp{
		{},
		{Pair: 7, Seq: 123456, Sched: 1500 * time.Millisecond},
		{Pair: math.MaxUint32, Seq: math.MaxUint64, Sched: math.MaxInt64},
	} {
		b := st.AppendText(nil)
		if len(b) != loadgen.StampLen {
			t.Fatalf("%+v: %d bytes, want %d", st, len(b), loadgen.StampLen)
		}
		got, err := loadgen.ParseStamp(append(b, "trailing payload"...))
		if err != nil || got != st {
			t.Errorf("%+v: parsed %+v, %v", st, got, err)
		}
	}
	for _, bad := range []string{"", "pb1:", "xx1:00000000000000000000000000000000000000000", "pb1:0000000z0000000000000000000000000000000000"} {
		if _, err := loadgen.ParseStamp([]byte(bad)); err == nil {
			t.Errorf("ParseStamp(%q) accepted", bad)
		}
	}
}

// FuzzParseStamp: payloads come from the relay. Whatever parses
// re-encodes to the same bytes, and nothing panics.
func FuzzParseStamp(f *testing.F) {
	f.Add(loadgen.Stamp{Pair: 3, Seq: 9, Sched: time.Second}.AppendText(nil))
	f.Add([]byte("pb1:ffffffffffffffffffffffffffffffffffffffff"))
	f.Fuzz(func(t *testing.T, p []byte) {
		st, err := loadgen.ParseStamp(p)
		if err != nil {
			return
		}
		if b := st.AppendText(nil); !bytes.EqualFold(b, p[:loadgen.StampLen]) {
			t.Errorf("%q parsed as %+v, which encodes as %q", p, st, b)
		}
	})
}
