package relay

import (
	"context"
	"net/http"

	"parley.dev/internal/wire"
)

// SetPush leaves the relay a's push token (over a's live connection when
// it has one, else PUT wire.PathPush).
func (c *Client) SetPush(ctx context.Context, a Auth, p *wire.PushRegister) error {
	body, err := wire.Marshal(p)
	if err != nil {
		return err
	}
	_, err = call[*wire.OK](ctx, c, &a, &wire.Request{Op: wire.OpPushRegister, Push: p}, http.MethodPut, wire.PathPush, body)
	return err
}

// ClearPush deletes a's push token at the relay.
func (c *Client) ClearPush(ctx context.Context, a Auth) error {
	_, err := call[*wire.OK](ctx, c, &a, &wire.Request{Op: wire.OpPushClear}, http.MethodDelete, wire.PathPush, nil)
	return err
}
