package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/unlock"
	"parley.dev/internal/wire"
)

// The relay PIN factor (issue 8; internal/unlock, docs/protocol.md "Relay
// PIN factor"). Challenge, evaluate and confirm come from devices whose
// vault is locked, so they carry no device proof: an evaluation is signed
// by the vault's unlock credential and a confirmation proves knowledge of
// the verifier. Both are bound to the credential's current challenge, a
// hash of its counter, which each of them changes: a captured request
// counts at most once, on every node, with no replay cache. They are
// rate-limited per client network and, once the credential is known, per
// credential (unknown credentials cannot fill that limiter).
// Enrolment, activation and retirement are device-authenticated.

// maxUnlockBody fits the largest unlock frame (UnlockEvaluate: 162 bytes).
const maxUnlockBody = 256

// Bounds of Server.UnlockMaxFailures.
const (
	DefaultUnlockMaxFailures = unlock.DefaultMaxFailures
	MaxUnlockMaxFailures     = unlock.MaxMaxFailures
)

// Default limits of unlock requests (challenge, evaluate and confirm each
// count; one unlock makes three).
var (
	DefaultUnlockRate           = Rate{Burst: 120, Per: time.Minute}
	DefaultUnlockCredentialRate = Rate{Burst: 60, Per: time.Minute}
)

var (
	errUnlockUnknown = wire.Errorf(wire.CodeUnlockUnknown, "no such unlock credential")
	errUnlockLocked  = wire.Errorf(wire.CodeUnlockLocked, "key destroyed after too many wrong PINs; this vault can never be opened")
	errUnlockStale   = wire.Errorf(wire.CodeUnlockStale, "not the current challenge; fetch it again")
	errUnlockRate    = wire.Errorf(wire.CodeRateLimited, "too many unlock requests")
	errUnlockForged  = wire.Errorf(wire.CodeUnauthorized, "unlock request does not verify")
)

func (r *relay) unlockRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.PathUnlockChallenge, r.handleUnlockChallenge)
	mux.HandleFunc("POST "+wire.PathUnlockEvaluate, r.handleUnlockEvaluate)
	mux.HandleFunc("POST "+wire.PathUnlockConfirm, r.handleUnlockConfirm)
	mux.Handle("POST "+wire.PathUnlockEnrol, r.authed(r.handleUnlockEnrol, maxUnlockBody))
	mux.Handle("POST "+wire.PathUnlockActivate, r.authed(r.handleUnlockActivate, maxUnlockBody))
	mux.Handle("POST "+wire.PathUnlockRetire, r.authed(r.handleUnlockRetire, maxUnlockBody))
}

// unlockFrame reads an unauthenticated unlock request of type F, after
// the per-network rate limit.
func unlockFrame[F wire.Frame](r *relay, w http.ResponseWriter, req *http.Request) (F, *wire.Error) {
	var zero F
	if !r.unlockL.allow(clientKey(req.RemoteAddr)) {
		return zero, errUnlockRate
	}
	body, werr := readBody(w, req, maxUnlockBody)
	if werr != nil {
		return zero, werr
	}
	f, err := wire.ParseAs[F](body)
	if err != nil {
		return zero, asWireError(err)
	}
	return f, nil
}

// unlockKey loads the usable key of cred: pending and unknown keys are
// unlock-unknown, destroyed ones unlock-locked. A key whose last guess was
// wrong and whose grace is over is destroyed here.
func (r *relay) unlockKey(ctx context.Context, cred [wire.UnlockFieldLen]byte) (store.UnlockKey, unlock.State, *wire.Error) {
	k, err := r.store.UnlockKey(ctx, store.UnlockCredential(cred))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return k, unlock.State{}, errUnlockUnknown
	case err != nil:
		return k, unlock.State{}, r.internal("unlock key lookup", err)
	case k.Pending():
		return k, unlock.State{}, errUnlockUnknown
	case !r.unlockCredL.allow(string(cred[:])):
		return k, unlock.State{}, errUnlockRate
	case k.Destroyed():
		return k, unlock.State{}, errUnlockLocked
	}
	s := unlock.State(k.State)
	if r.unlock.Exhausted(s, r.now()) {
		return k, s, r.destroyUnlock(ctx, k)
	}
	return k, s, nil
}

// destroyUnlock destroys k's OPRF key and verifier and answers "locked".
func (r *relay) destroyUnlock(ctx context.Context, k store.UnlockKey) *wire.Error {
	if err := r.store.DestroyUnlock(ctx, k.Credential); err != nil {
		return r.internal("destroy unlock key", err)
	}
	r.log.Warn("unlock: key destroyed after too many wrong PINs", "device", k.Device.String(),
		"credential", unlock.CredentialID(k.Credential).String())
	r.auditEvent(ctx, audit.UnlockLockout, "relay", k.Device.String(), "")
	return errUnlockLocked
}

func (r *relay) unlockMax() uint32 { return uint32(r.unlock.Remaining(unlock.State{})) }

func (r *relay) handleUnlockChallenge(w http.ResponseWriter, req *http.Request) {
	f, werr := unlockFrame[*wire.UnlockHello](r, w, req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	_, s, werr := r.unlockKey(req.Context(), f.Credential)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	r.writeFrame(w, &wire.UnlockChallenge{Challenge: s.Challenge(f.Credential),
		Left: uint32(r.unlock.Remaining(s)), Max: r.unlockMax()})
}

// handleUnlockEvaluate counts one guess, commits the count, and only then
// answers with the evaluation.
func (r *relay) handleUnlockEvaluate(w http.ResponseWriter, req *http.Request) {
	ev, werr := r.evaluateGuess(w, req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	r.writeFrame(w, ev)
}

func (r *relay) evaluateGuess(w http.ResponseWriter, req *http.Request) (*wire.UnlockEvaluation, *wire.Error) {
	f, werr := unlockFrame[*wire.UnlockEvaluate](r, w, req)
	if werr != nil {
		return nil, werr
	}
	ctx := req.Context()
	k, s, werr := r.unlockKey(ctx, f.Credential)
	if werr != nil {
		return nil, werr
	}
	if f.Challenge != s.Challenge(f.Credential) {
		return nil, errUnlockStale
	}
	if !unlock.VerifyEvaluate(f.Credential, f.Challenge, f.Blinded, f.Signature[:]) {
		return nil, errUnlockForged
	}
	next, err := r.unlock.Evaluate(s, r.now())
	if errors.Is(err, unlock.ErrExhausted) {
		return nil, r.destroyUnlock(ctx, k)
	}
	key, err := unlock.ParseKey(k.OPRFKey)
	if err != nil {
		return nil, r.internal("stored OPRF key", err)
	}
	evaluated, err := key.Evaluate(f.Blinded)
	if err != nil {
		return nil, wire.Errorf(wire.CodeMalformed, "blinded element is not a valid group element")
	}
	// The count is durable before the evaluation leaves the relay.
	swapped, err := r.store.SetUnlockState(ctx, k.Credential, store.UnlockState(s), store.UnlockState(next))
	if err != nil {
		return nil, r.internal("count unlock guess", err)
	}
	if !swapped {
		return nil, errUnlockStale
	}
	r.log.Info("unlock: guess counted", "device", k.Device.String(), "failures", next.Failures)
	return &wire.UnlockEvaluation{Evaluated: evaluated, Challenge: next.Challenge(f.Credential),
		Left: uint32(r.unlock.Remaining(next)), Max: r.unlockMax()}, nil
}

// handleUnlockConfirm resets the counter for a valid proof. A wrong proof
// changes nothing.
func (r *relay) handleUnlockConfirm(w http.ResponseWriter, req *http.Request) {
	f, werr := unlockFrame[*wire.UnlockConfirm](r, w, req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	ctx := req.Context()
	k, s, werr := r.unlockKey(ctx, f.Credential)
	switch {
	case werr != nil:
	case f.Challenge != s.Challenge(f.Credential):
		werr = errUnlockStale
	case !unlock.CheckProof(k.Verifier, f.Credential, f.Challenge, f.Proof):
		werr = errUnlockForged
	}
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	next, err := r.unlock.Confirm(s, r.now())
	if errors.Is(err, unlock.ErrExhausted) {
		r.writeError(w, r.destroyUnlock(ctx, k))
		return
	}
	swapped, err := r.store.SetUnlockState(ctx, k.Credential, store.UnlockState(s), store.UnlockState(next))
	switch {
	case err != nil:
		r.writeError(w, r.internal("reset unlock counter", err))
	case !swapped:
		r.writeError(w, errUnlockStale)
	default:
		r.log.Info("unlock: success proven", "device", k.Device.String(), "guesses", s.Failures)
		r.writeFrame(w, &wire.UnlockChallenge{Challenge: next.Challenge(f.Credential), Left: r.unlockMax(), Max: r.unlockMax()})
	}
}

// handleUnlockEnrol makes an OPRF key for a new credential of the device
// and evaluates the device's first blinded element under it. The key stays
// pending (unusable) until the device leaves its verifier.
func (r *relay) handleUnlockEnrol(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	f, err := wire.ParseAs[*wire.UnlockEnrol](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	if keys.CheckEd25519(f.Credential[:]) != nil {
		r.writeError(w, wire.Errorf(wire.CodeBadKey, "unlock credential is not a valid Ed25519 key"))
		return
	}
	key, err := unlock.GenerateKey()
	if err != nil {
		r.writeError(w, r.internal("generate OPRF key", err))
		return
	}
	evaluated, err := key.Evaluate(f.Blinded)
	if err != nil {
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "blinded element is not a valid group element"))
		return
	}
	err = r.store.EnrolUnlock(req.Context(), store.UnlockKey{Credential: f.Credential, Device: dev.Address, OPRFKey: key.Bytes()})
	switch {
	case errors.Is(err, store.ErrLimit):
		r.writeError(w, wire.Errorf(wire.CodeLimit, "too many unlock keys; retire old ones"))
	case errors.Is(err, store.ErrExists):
		r.writeError(w, wire.Errorf(wire.CodeForbidden, "unlock credential already enrolled"))
	case err != nil:
		r.writeError(w, r.internal("enrol unlock key", err))
	default:
		r.log.Info("unlock: key enrolled", "device", dev.Address.String())
		r.writeFrame(w, &wire.UnlockEvaluation{Evaluated: evaluated, Challenge: unlock.State{}.Challenge(f.Credential),
			Left: r.unlockMax(), Max: r.unlockMax()})
	}
}

// handleUnlockActivate stores the verifier of the device's pending key.
func (r *relay) handleUnlockActivate(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	f, err := wire.ParseAs[*wire.UnlockActivate](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	err = r.store.ActivateUnlock(req.Context(), dev.Address, f.Credential, f.Verifier[:])
	switch {
	case errors.Is(err, store.ErrNotFound):
		r.writeError(w, errUnlockUnknown)
	case err != nil:
		r.writeError(w, r.internal("activate unlock key", err))
	default:
		r.writeFrame(w, &wire.OK{})
	}
}

// handleUnlockRetire deletes the device's unlock keys but the one it
// keeps (a vault whose factors changed; a vault without the factor).
func (r *relay) handleUnlockRetire(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	f, err := wire.ParseAs[*wire.UnlockRetire](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	n, err := r.store.RetireUnlocks(req.Context(), dev.Address, (*store.UnlockCredential)(f.Keep))
	if err != nil {
		r.writeError(w, r.internal("retire unlock keys", err))
		return
	}
	if n > 0 {
		r.log.Info("unlock: keys retired", "device", dev.Address.String(), "count", n)
	}
	r.writeFrame(w, &wire.OK{})
}

// sweepUnlock destroys the keys whose last allowed guess went unproven
// past the grace, and forgets idle rate-limit buckets.
func (r *relay) sweepUnlock() {
	r.unlockL.prune()
	r.unlockCredL.prune()
	before := r.now().Add(-r.unlock.Grace)
	for range maxSweepRounds {
		n, err := r.store.DestroyExhaustedUnlocks(r.ctx, r.unlockMax(), before, store.MaxBatch)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("unlock sweep", "err", err)
			}
			return
		}
		if n > 0 {
			r.log.Warn("unlock: keys destroyed after too many wrong PINs", "count", n)
		}
		if n < store.MaxBatch {
			return
		}
	}
}
