package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/unlock"
	"parley.dev/internal/wire"
)

// relayFactor is the relay PIN factor (internal/unlock) as a vault.Factor.
// Each Secret is one guess the relay counts before it answers, or, while
// the factor is being enrolled, the enrolment. It keeps the output of its
// last evaluation so that a successful unlock can be proven (confirm),
// which resets the relay's counter. It is safe for concurrent use.
type relayFactor struct {
	entry unlock.Entry
	rc    *relay.Client
	hooks *testHooks

	mu    sync.Mutex
	enrol *relay.Auth    // set until the enrolment is done
	out   *unlock.Output // of the last evaluation, until proven or forgotten
	next  [wire.UnlockFieldLen]byte
	left  int // guesses left after the last evaluation; -1 before any
}

// maxStaleRetries bounds the retries of a request that met another
// process's request on the same credential (unlock-stale).
const maxStaleRetries = 3

func newRelayFactor(e unlock.Entry, rc *relay.Client, hooks *testHooks) *relayFactor {
	return &relayFactor{entry: e, rc: rc, hooks: hooks, left: -1}
}

func (f *relayFactor) id() unlock.CredentialID { return f.entry.Credential.ID() }

func (f *relayFactor) Name() string { return f.id().FactorName() }

// Secret asks the relay to evaluate the vault's factor input, or enrols.
func (f *relayFactor) Secret(ctx context.Context, input []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetLocked()
	if f.enrol != nil {
		return f.enrolSecret(ctx, input)
	}
	return f.evaluate(ctx, input)
}

// evaluate is one counted guess: challenge, signed evaluation, finish.
func (f *relayFactor) evaluate(ctx context.Context, input []byte) ([]byte, error) {
	id := f.id()
	for try := 0; ; try++ {
		ch, err := f.rc.UnlockChallenge(ctx, id)
		if err != nil {
			return nil, err
		}
		a, blinded, err := unlock.Blind(id, input)
		if err != nil {
			return nil, err
		}
		req := &wire.UnlockEvaluate{Credential: id, Challenge: ch.Challenge, Blinded: blinded,
			Signature: f.entry.Credential.SignEvaluate(ch.Challenge, blinded)}
		ev, err := f.rc.UnlockEvaluate(ctx, req)
		if errors.Is(err, wire.CodeUnlockStale) && try < maxStaleRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		out, err := a.Finish(ev.Evaluated)
		if err != nil {
			return nil, fmt.Errorf("%w: evaluation: %v", relay.ErrProtocol, err)
		}
		f.out, f.next, f.left = out, ev.Challenge, int(ev.Left)
		return out.Secret(), nil
	}
}

// enrolSecret has the relay make this credential's key, evaluate the
// input under it and keep the verifier.
func (f *relayFactor) enrolSecret(ctx context.Context, input []byte) ([]byte, error) {
	id := f.id()
	a, blinded, err := unlock.Blind(id, input)
	if err != nil {
		return nil, err
	}
	ev, err := f.rc.UnlockEnrol(ctx, *f.enrol, &wire.UnlockEnrol{Credential: id, Blinded: blinded})
	if err != nil {
		return nil, err
	}
	out, err := a.Finish(ev.Evaluated)
	if err != nil {
		return nil, fmt.Errorf("%w: enrolment: %v", relay.ErrProtocol, err)
	}
	defer out.Wipe()
	act := &wire.UnlockActivate{Credential: id}
	v := out.Verifier()
	copy(act.Verifier[:], v)
	clear(v)
	if err := f.rc.UnlockActivate(ctx, *f.enrol, act); err != nil {
		return nil, err
	}
	if err := f.hooks.crash(crashEnrolled); err != nil {
		return nil, err
	}
	f.enrol, f.left = nil, int(ev.Left)
	return out.Secret(), nil
}

// confirm proves that the last evaluation unlocked the vault, which resets
// the relay's counter. Another process's request in between only costs a
// fresh challenge.
func (f *relayFactor) confirm(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.out == nil {
		return nil
	}
	id, ch := f.id(), f.next
	for try := 0; ; try++ {
		_, err := f.rc.UnlockConfirm(ctx, &wire.UnlockConfirm{Credential: id, Challenge: ch, Proof: f.out.Proof(ch)})
		if errors.Is(err, wire.CodeUnlockStale) && try < maxStaleRetries {
			c, err := f.rc.UnlockChallenge(ctx, id)
			if err != nil {
				return err
			}
			ch = c.Challenge
			continue
		}
		if err == nil {
			f.left = -1
			f.forgetLocked()
		}
		return err
	}
}

// guessesLeft is the relay's count after the last evaluation, or -1.
func (f *relayFactor) guessesLeft() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.left
}

// forget drops the last output (a wrong PIN, or a credential retired).
func (f *relayFactor) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetLocked()
}

func (f *relayFactor) forgetLocked() {
	f.out.Wipe()
	f.out = nil
}
