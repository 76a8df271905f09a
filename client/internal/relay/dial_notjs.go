//go:build !js

package relay

import (
	"context"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// browserTLS is false: this package runs TLS itself (crypto/tls), so CA
// files and pins apply.
const browserTLS = false

// dialWS opens the WebSocket with the proof in the Authorization header.
func (c *Client) dialWS(ctx context.Context, u url.URL, authorization string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: c.hc,
		HTTPHeader: http.Header{"Authorization": {authorization}},
	})
}
