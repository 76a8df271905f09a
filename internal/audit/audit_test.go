package audit

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// chain builds n linked entries from anchor a and returns them with the
// anchor completed by their head.
func chain(a Anchor, n int) (Anchor, []Entry) {
	var es []Entry
	seq, prev := a.Seq, a.Hash
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		e := Entry{Seq: seq + 1, Time: t0.Add(time.Duration(i) * time.Minute), Kind: Register,
			Actor: "relay", Subject: fmt.Sprintf("user%d", i), Prev: prev}
		if i == 0 && a.Seq > 0 { // a pruned log: its first entry names the anchor
			e = PruneEntry(a.Seq)
			e.Seq, e.Time, e.Prev = seq+1, t0, prev
		}
		e.Hash = e.Sum()
		es = append(es, e)
		seq, prev = e.Seq, e.Hash
	}
	a.HeadSeq, a.HeadHash = seq, prev
	return a, es
}

func TestVerify(t *testing.T) {
	for _, start := range []Anchor{{}, {Seq: 41, Hash: Hash{7}}} {
		a, es := chain(start, 5)
		if err := Verify(a, es); err != nil {
			t.Fatalf("intact chain from %d: %v", start.Seq, err)
		}
	}
	// A log whose front was deleted and its anchor moved, with no prune
	// entry naming the new anchor, fails.
	full, all := chain(Anchor{}, 5)
	cut := Anchor{Seq: all[1].Seq, Hash: all[1].Hash, HeadSeq: full.HeadSeq, HeadHash: full.HeadHash}
	if err := Verify(cut, all[2:]); !errors.Is(err, ErrBroken) {
		t.Errorf("front cut without a prune entry: Verify = %v, want a break", err)
	}
	a, es := chain(Anchor{}, 5)
	if err := Verify(Anchor{}, nil); err != nil {
		t.Fatalf("empty log: %v", err)
	}
	tamper := map[string]func([]Entry) []Entry{
		"edited detail":  func(es []Entry) []Entry { es[2].Detail = "x"; return es },
		"edited subject": func(es []Entry) []Entry { es[0].Subject = "user9"; return es },
		"edited time":    func(es []Entry) []Entry { es[4].Time = es[4].Time.Add(time.Microsecond); return es },
		"deleted":        func(es []Entry) []Entry { return slices.Delete(es, 1, 2) },
		"deleted first":  func(es []Entry) []Entry { return es[1:] },
		"deleted last":   func(es []Entry) []Entry { return es[:4] },
		"reordered":      func(es []Entry) []Entry { es[1], es[2] = es[2], es[1]; return es },
		"renumbered": func(es []Entry) []Entry {
			es = slices.Delete(es, 1, 2)
			for i := 1; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		},
	}
	for name, f := range tamper {
		err := Verify(a, f(slices.Clone(es)))
		var be *BreakError
		if !errors.Is(err, ErrBroken) || !errors.As(err, &be) {
			t.Errorf("%s: Verify = %v, want a break", name, err)
		}
	}
}

func TestHashText(t *testing.T) {
	_, es := chain(Anchor{}, 1)
	b, _ := es[0].Hash.MarshalText()
	var h Hash
	if err := h.UnmarshalText(b); err != nil || h != es[0].Hash {
		t.Fatalf("round trip: %v", err)
	}
	if err := h.UnmarshalText(b[2:]); err == nil {
		t.Fatal("short hash accepted")
	}
}

func TestCheck(t *testing.T) {
	if (Entry{}).Check() == nil {
		t.Fatal("entry without kind accepted")
	}
	if (Entry{Kind: Register, Detail: string(make([]byte, MaxField+1))}).Check() == nil {
		t.Fatal("oversized detail accepted")
	}
}

func FuzzHashText(f *testing.F) {
	f.Add([]byte("00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hash
		if h.UnmarshalText(b) == nil {
			out, _ := h.MarshalText()
			if len(out) != 64 {
				t.Fatal("bad length")
			}
		}
	})
}
