package unlock

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func TestPolicyDefaults(t *testing.T) {
	var p Policy
	if p.Remaining(State{}) != DefaultMaxFailures {
		t.Fatalf("zero policy allows %d guesses, want %d", p.Remaining(State{}), DefaultMaxFailures)
	}
	if (Policy{MaxFailures: 1 << 30}).Remaining(State{}) != MaxMaxFailures {
		t.Fatal("MaxFailures is not capped")
	}
}

// TestNFailuresThenExhausted: N evaluations in a row are allowed, the
// N+1-th is refused, and so is a late proof of the N-th.
func TestNFailuresThenExhausted(t *testing.T) {
	p := Policy{MaxFailures: 3, Grace: time.Minute}
	var s State
	now := t0
	for i := range 3 {
		var err error
		if s, err = p.Evaluate(s, now); err != nil {
			t.Fatalf("evaluation %d: %v", i+1, err)
		}
		if got, want := p.Remaining(s), 2-i; got != want {
			t.Fatalf("after %d: remaining %d, want %d", i+1, got, want)
		}
	}
	if _, err := p.Evaluate(s, now); !errors.Is(err, ErrExhausted) {
		t.Fatalf("evaluation 4: %v, want ErrExhausted", err)
	}
	last := s.LastEval
	if p.Exhausted(s, last.Add(time.Minute-time.Microsecond)) {
		t.Fatal("exhausted within the grace")
	}
	if _, err := p.Confirm(s, last.Add(30*time.Second)); err != nil {
		t.Fatalf("proof of the last guess within the grace: %v", err)
	}
	if !p.Exhausted(s, last.Add(time.Minute)) {
		t.Fatal("not exhausted after the grace")
	}
	if _, err := p.Confirm(s, last.Add(time.Minute)); !errors.Is(err, ErrExhausted) {
		t.Fatalf("late proof: %v, want ErrExhausted", err)
	}
}

func TestConfirmResets(t *testing.T) {
	p := Policy{}
	var s State
	for range 9 {
		s, _ = p.Evaluate(s, t0)
	}
	s, err := p.Confirm(s, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures != 0 || p.Remaining(s) != DefaultMaxFailures {
		t.Fatalf("after a proof: %+v", s)
	}
}

// TestChallengesNeverRepeat: every step changes the challenge, even when
// the clock stands still or goes back.
func TestChallengesNeverRepeat(t *testing.T) {
	p := Policy{MaxFailures: 5}
	cred := newCred(t, 1).ID()
	seen := map[Challenge]bool{}
	var s State
	now := t0
	for i := range 200 {
		ch := s.Challenge(cred)
		if seen[ch] {
			t.Fatalf("step %d: challenge repeats (state %+v)", i, s)
		}
		seen[ch] = true
		if i%7 == 3 {
			now = now.Add(-time.Second) // the clock goes back
		}
		var err error
		if i%3 == 2 || p.Remaining(s) == 0 {
			s, err = p.Confirm(s, now)
		} else {
			s, err = p.Evaluate(s, now)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if s.Challenge(cred) == s.Challenge(newCred(t, 2).ID()) {
		t.Fatal("two credentials share a challenge")
	}
}
