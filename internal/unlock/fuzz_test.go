package unlock

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// fuzzKey is a fixed relay key, so that fuzzing explores inputs, not keys.
var fuzzKey = func() *Key {
	k, err := ParseKey(append(bytes.Repeat([]byte{0x11}, KeySize-1), 0x01)) // a canonical scalar
	if err != nil {
		panic(err)
	}
	return k
}()

// FuzzExchange drives the OPRF exchange with hostile bytes on both sides:
// a client's blinded element the relay evaluates, and a relay's evaluated
// element the client finishes. Neither panics; the relay answers only
// valid elements with a valid element; and the honest exchange of the
// fuzzed input is a function of the input (two blindings agree).
func FuzzExchange(f *testing.F) {
	_, honest, _ := Blind(CredentialID{}, []byte("seed input"))
	f.Add([]byte("seed input"), honest[:], honest[:])
	f.Add([]byte{0}, make([]byte, ElementSize), bytes.Repeat([]byte{0xff}, ElementSize))
	f.Fuzz(func(t *testing.T, input, blinded, evaluated []byte) {
		var in, out Element
		copy(in[:], blinded)
		copy(out[:], evaluated)
		if ev, err := fuzzKey.Evaluate(in); err == nil {
			if _, err := parseElement(ev); err != nil {
				t.Fatalf("relay answered an invalid element %x", ev)
			}
		} else if !errors.Is(err, ErrElement) {
			t.Fatalf("Evaluate: %v", err)
		}
		a, _, err := Blind(CredentialID{}, input)
		if err != nil {
			if len(input) > 0 && len(input) <= MaxInput {
				t.Fatalf("Blind(%d bytes): %v", len(input), err)
			}
			return
		}
		if o, err := a.Finish(out); err == nil {
			o.Wipe()
		}
		x, y := exchange(t, fuzzKey, CredentialID{}, input), exchange(t, fuzzKey, CredentialID{}, input)
		if !bytes.Equal(x.Secret(), y.Secret()) {
			t.Fatal("the exchange is not a function of its input")
		}
	})
}

// FuzzCounter runs the relay's counter through arbitrary sequences of
// evaluations, proofs and clock jumps. Invariants: failures never exceed
// N; an evaluation is refused exactly when none is left; a proof is
// refused exactly when the key must be destroyed; every allowed step
// changes the challenge, so no challenge is ever good twice; timestamps
// only grow.
func FuzzCounter(f *testing.F) {
	f.Add(uint8(3), []byte{0, 0, 0, 0, 1, 0, 2 | 4<<2, 1})
	f.Add(uint8(10), bytes.Repeat([]byte{0}, 12))
	f.Fuzz(func(t *testing.T, n uint8, ops []byte) {
		p := Policy{MaxFailures: int(n%20) + 1, Grace: time.Minute}
		cred := CredentialID{1}
		var s State
		now := t0
		seen := map[Challenge]bool{s.Challenge(cred): true}
		for _, op := range ops {
			next, ok := step(t, p, s, &now, op)
			if !ok {
				continue
			}
			if int(next.Failures) > p.MaxFailures || next.LastEval.Before(s.LastEval) || next.LastSuccess.Before(s.LastSuccess) {
				t.Fatalf("%+v -> %+v", s, next)
			}
			ch := next.Challenge(cred)
			if seen[ch] {
				t.Fatalf("challenge repeats at %+v", next)
			}
			seen[ch] = true
			s = next
		}
	})
}

// step applies one fuzzed operation, checks the policy's answer and
// reports whether the state moved.
func step(t *testing.T, p Policy, s State, now *time.Time, op byte) (State, bool) {
	arg := time.Duration(op>>2) * 7 * time.Second
	switch op & 3 {
	case 0:
		next, err := p.Evaluate(s, *now)
		if (err != nil) != (p.Remaining(s) == 0) {
			t.Fatalf("Evaluate(%+v) = %v with %d guesses left", s, err, p.Remaining(s))
		}
		return next, err == nil
	case 1:
		next, err := p.Confirm(s, *now)
		if (err != nil) != p.Exhausted(s, *now) || err == nil && next.Failures != 0 {
			t.Fatalf("Confirm(%+v) = %+v, %v; exhausted %v", s, next, err, p.Exhausted(s, *now))
		}
		return next, err == nil
	case 2:
		*now = now.Add(arg)
	default:
		*now = now.Add(-arg)
	}
	return s, false
}

// FuzzParseFile: whatever parses re-encodes to the same bytes.
func FuzzParseFile(f *testing.F) {
	b, err := sampleFile(f).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseFile(b)
		if err != nil {
			if !errors.Is(err, ErrFile) {
				t.Fatalf("error %v is not ErrFile", err)
			}
			return
		}
		again, err := g.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %v", err)
		}
	})
}
