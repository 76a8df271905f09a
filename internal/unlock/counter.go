package unlock

import (
	"errors"
	"time"
)

// State is the relay's counter for one credential. Times have microsecond
// precision (the store keeps Unix microseconds); the zero time means never.
type State struct {
	// Failures counts evaluations since the last proven success.
	Failures uint32
	// LastEval is the time of the latest evaluation; every evaluation
	// moves it strictly forward.
	LastEval time.Time
	// LastSuccess is the time of the latest proven success; every proof
	// moves it strictly forward.
	LastSuccess time.Time
}

// Challenge is the challenge of this state for credential cred:
//
//	SHA-256(labelChallenge || 0x00 || cred || u32 Failures
//	        || u64 LastEval || u64 LastSuccess)     (times in Unix µs, never = 0)
//
// Every step Policy allows changes the state (a counter or a timestamp that
// only grows), so a challenge is good for one step only.
func (s State) Challenge(cred CredentialID) Challenge { return challenge(cred, s) }

// Defaults of Policy.
const (
	// DefaultMaxFailures is how many wrong guesses in a row destroy the
	// key when the operator sets nothing.
	DefaultMaxFailures = 10
	// MaxMaxFailures bounds what an operator may set.
	MaxMaxFailures = 1000
	// DefaultGrace is how long after the last allowed guess its proof is
	// still accepted before the key is destroyed.
	DefaultGrace = 5 * time.Minute
)

// Errors of the counter.
var (
	// ErrExhausted: the credential used up its guesses; the caller must
	// destroy its key (and answer "locked").
	ErrExhausted = errors.New("unlock: too many wrong guesses in a row; key destroyed")
)

// Policy decides every step of the counter. The zero value takes the
// defaults.
type Policy struct {
	// MaxFailures is N: evaluations without a proven success in between
	// (1..MaxMaxFailures; 0 means DefaultMaxFailures). The N-th may still
	// be proven right within Grace; an (N+1)-th destroys the key.
	MaxFailures int
	// Grace bounds the wait for the proof of the N-th guess (0 means
	// DefaultGrace). After it the key is destroyed (Exhausted).
	Grace time.Duration
}

func (p Policy) max() uint32 {
	if p.MaxFailures <= 0 {
		return DefaultMaxFailures
	}
	return uint32(min(p.MaxFailures, MaxMaxFailures))
}

func (p Policy) grace() time.Duration {
	if p.Grace <= 0 {
		return DefaultGrace
	}
	return p.Grace
}

// Remaining is how many more evaluations s allows before ErrExhausted.
func (p Policy) Remaining(s State) int {
	return int(p.max() - min(s.Failures, p.max()))
}

// Evaluate is the state after one more evaluation at now, which the caller
// must commit before it answers. It fails with ErrExhausted when s has no
// guess left.
func (p Policy) Evaluate(s State, now time.Time) (State, error) {
	if s.Failures >= p.max() {
		return s, ErrExhausted
	}
	s.Failures++
	s.LastEval = after(s.LastEval, now)
	return s, nil
}

// Confirm is the state after a valid proof at now: the counter is reset.
// It fails with ErrExhausted when s used every guess and the grace for the
// last one has passed (Exhausted).
func (p Policy) Confirm(s State, now time.Time) (State, error) {
	if p.Exhausted(s, now) {
		return s, ErrExhausted
	}
	s.Failures = 0
	s.LastSuccess = after(s.LastSuccess, now)
	return s, nil
}

// Exhausted reports whether s used every guess and the grace for the last
// one's proof has passed, so the key must be destroyed now (the relay's
// sweep calls it for every key).
func (p Policy) Exhausted(s State, now time.Time) bool {
	return s.Failures >= p.max() && !now.Before(s.LastEval.Add(p.grace()))
}

// after returns now at microsecond precision, moved past prev if the clock
// did not advance (or went back), so a timestamp in the state only grows.
func after(prev, now time.Time) time.Time {
	now = now.Truncate(time.Microsecond)
	if !now.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return now
}
