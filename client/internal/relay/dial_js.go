//go:build js

package relay

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"parley.dev/internal/wire"
)

// browserTLS is true: in a browser, fetch and WebSocket run TLS with the
// browser's own verification, which this package can neither replace nor
// extend, so CA files and pins are refused rather than ignored.
const browserTLS = true

// dialWS opens the WebSocket with the proof in the auth query parameter:
// browsers cannot set headers on a WebSocket upgrade.
func (c *Client) dialWS(ctx context.Context, u url.URL, authorization string) (*websocket.Conn, *http.Response, error) {
	proof := strings.TrimPrefix(authorization, wire.AuthScheme+" ")
	q := u.Query()
	q.Set(wire.AuthQuery, proof)
	u.RawQuery = q.Encode()
	return websocket.Dial(ctx, u.String(), nil)
}
