package relay

import (
	"context"
	"net/http"

	"parley.dev/internal/wire"
)

// The relay PIN factor's endpoints (docs/protocol.md, "Relay PIN
// factor"): UnlockChallenge, UnlockEvaluate and UnlockConfirm serve a
// vault that is still locked, so they carry no device proof (the frames
// are signed by the vault's unlock credential or prove its verifier); the
// others are device-authenticated.

// frameRequest makes one API call carrying frame in.
func frameRequest[F wire.Frame](ctx context.Context, c *Client, path string, in wire.Frame, a *Auth) (F, error) {
	var zero F
	body, err := wire.Marshal(in)
	if err != nil {
		return zero, err
	}
	return request[F](ctx, c, http.MethodPost, path, body, a)
}

// UnlockChallenge returns credential cred's current challenge and how many
// guesses it has left.
func (c *Client) UnlockChallenge(ctx context.Context, cred [wire.UnlockFieldLen]byte) (*wire.UnlockChallenge, error) {
	return frameRequest[*wire.UnlockChallenge](ctx, c, wire.PathUnlockChallenge, &wire.UnlockHello{Credential: cred}, nil)
}

// UnlockEvaluate asks for one evaluation, which the relay counts as a
// guess before it answers.
func (c *Client) UnlockEvaluate(ctx context.Context, f *wire.UnlockEvaluate) (*wire.UnlockEvaluation, error) {
	return frameRequest[*wire.UnlockEvaluation](ctx, c, wire.PathUnlockEvaluate, f, nil)
}

// UnlockConfirm proves a successful unlock, which resets the counter, and
// returns the next challenge.
func (c *Client) UnlockConfirm(ctx context.Context, f *wire.UnlockConfirm) (*wire.UnlockChallenge, error) {
	return frameRequest[*wire.UnlockChallenge](ctx, c, wire.PathUnlockConfirm, f, nil)
}

// UnlockEnrol asks the relay, as device a, for an OPRF key for a new
// credential and the evaluation of a first blinded element.
func (c *Client) UnlockEnrol(ctx context.Context, a Auth, f *wire.UnlockEnrol) (*wire.UnlockEvaluation, error) {
	return frameRequest[*wire.UnlockEvaluation](ctx, c, wire.PathUnlockEnrol, f, &a)
}

// UnlockActivate leaves the relay the verifier of a's pending credential.
func (c *Client) UnlockActivate(ctx context.Context, a Auth, f *wire.UnlockActivate) error {
	_, err := frameRequest[*wire.OK](ctx, c, wire.PathUnlockActivate, f, &a)
	return err
}

// UnlockRetire deletes a's unlock keys other than keep (all when nil).
func (c *Client) UnlockRetire(ctx context.Context, a Auth, keep *[wire.UnlockFieldLen]byte) error {
	_, err := frameRequest[*wire.OK](ctx, c, wire.PathUnlockRetire, &wire.UnlockRetire{Keep: keep}, &a)
	return err
}
