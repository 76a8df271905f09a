// Package relay is the client's side of the Parley relay API: TLS with
// optional SPKI pins, device-authenticated HTTP requests and the device's
// WebSocket. It moves frames of parley.dev/internal/wire and knows nothing
// of sessions, vaults or messages.
//
// Every request is https (a URL of any other scheme is refused, and
// redirects are never followed), TLS 1.3 only, with the chain and host
// name verified against the system pool or the given CA certificates;
// there is no way to turn verification off. An authenticated request goes
// over the device's open WebSocket when it has one (wire.Request: the
// connection's authentication covers it, no challenge is spent); otherwise
// it first fetches a fresh challenge, then signs it with the device key
// together with the method, path and body (wire.ProofMessage).
//
// Errors: ErrConfig for a bad URL, CA or pin; ErrUntrusted when the relay's
// certificate fails verification or pinning; ErrUnreachable when the relay
// cannot be reached (or answers through a proxy that cannot reach it);
// otherwise the relay's own *wire.Error, which errors.Is matches against a
// wire.Code. A Client is safe for concurrent use.
package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
)

// Errors callers branch on.
var (
	// ErrConfig: the URL, CA file or pins are unusable.
	ErrConfig = errors.New("relay: invalid configuration")
	// ErrUntrusted: the relay's certificate chain, host name or pinned
	// key does not verify.
	ErrUntrusted = errors.New("relay: certificate not trusted")
	// ErrUnreachable: no answer from the relay (network down, relay
	// stopped, timeout, or a proxy in front of it failing).
	ErrUnreachable = errors.New("relay: unreachable")
	// ErrProtocol: the relay answered with something that is not the
	// frame the API promises.
	ErrProtocol = errors.New("relay: unexpected answer")
)

// Relay API paths (docs/protocol.md, "Relay API and frames").
const (
	pathChallenge = "/v1/challenge"
	pathRegister  = "/v1/register"
	pathPreKeys   = "/v1/prekeys"
	pathWS        = "/v1/ws"
)

// Timeouts. A request's context may end it sooner.
const (
	// RequestTimeout bounds one HTTP request, body included.
	RequestTimeout = 30 * time.Second
	// dialTimeout bounds TCP connect plus the TLS handshake.
	dialTimeout = 15 * time.Second
)

// Config says which relay to talk to and how to trust it.
type Config struct {
	// URL is the relay's base URL: https, a host, an optional port, no
	// path, query or credentials; or several, comma-separated, the nodes
	// of one deployment in order of preference (see nodes).
	URL string
	// Roots are PEM certificates to trust instead of the system pool (a
	// development CA); nil means the system pool.
	Roots []byte
	// Pins are optional SPKI pins (see ParsePins): none, or at least two.
	Pins []string
	// Logger receives connection events; nil is silent. It never
	// receives keys, proofs, tokens or payloads.
	Logger *slog.Logger
}

// Auth is the device a request is made as.
type Auth struct {
	Address addr.Address
	Key     *keys.DeviceKey
}

// Client talks to one relay. Make one with New; the zero value is not
// usable. It is safe for concurrent use.
type Client struct {
	nodes nodes
	hc    *http.Client
	log   *slog.Logger

	liveMu sync.Mutex
	live   []*Conn // open connections, which carry requests
}

// New checks cfg and returns a Client. It does not contact the relay.
func New(cfg Config) (*Client, error) {
	urls, err := parseURLs(cfg.URL)
	if err != nil {
		return nil, err
	}
	pins, err := ParsePins(cfg.Pins)
	if err != nil {
		return nil, err
	}
	if browserTLS && (len(pins) > 0 || cfg.Roots != nil) {
		return nil, fmt.Errorf("%w: in a browser, TLS is verified by the browser; CA files and pins cannot be applied", ErrConfig)
	}
	conf, err := TLSConfig(cfg.Roots, pins)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		TLSClientConfig:     conf,
		TLSHandshakeTimeout: dialTimeout,
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{
		Transport: tr,
		// A redirect could lead anywhere, even to plaintext: never follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{nodes: nodes{urls: urls, log: log}, hc: hc, log: log}, nil
}

// WrapTransport replaces c's HTTP transport with wrap(transport). It is
// for tests that have a relay's answers fail; call it before c is used
// concurrently.
func (c *Client) WrapTransport(wrap func(http.RoundTripper) http.RoundTripper) {
	c.hc.Transport = wrap(c.hc.Transport)
}

// parseURL accepts only https URLs naming a host and nothing else.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: relay URL %q does not parse", ErrConfig, s)
	case u.Scheme != "https":
		return nil, fmt.Errorf("%w: relay URL %q is not https (there is no plaintext mode)", ErrConfig, s)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("%w: relay URL %q must be https://host[:port]", ErrConfig, s)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("%w: relay URL %q must not have a path", ErrConfig, s)
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

// CloseIdle closes idle HTTP connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// Register registers a new device of m.User, proved by the new device's
// key, and returns its address.
func (c *Client) Register(ctx context.Context, key *keys.DeviceKey, m *wire.Register) (addr.Address, error) {
	body, err := wire.Marshal(m)
	if err != nil {
		return addr.Address{}, err
	}
	auth := &Auth{Address: addr.Address{User: m.User}, Key: key}
	r, err := request[*wire.Registered](ctx, c, http.MethodPost, pathRegister, body, auth)
	if err != nil {
		return addr.Address{}, err
	}
	if r.Address.User != m.User || r.Address.Device == 0 {
		return addr.Address{}, fmt.Errorf("%w: registered as %s", ErrProtocol, r.Address)
	}
	return r.Address, nil
}

// Devices returns user's identity and current devices, as the relay
// claims them: the caller verifies each certificate.
func (c *Client) Devices(ctx context.Context, a Auth, user addr.UserID) (*wire.DeviceList, error) {
	l, err := call[*wire.DeviceList](ctx, c, &a, &wire.Request{Op: wire.OpDevices, User: user},
		http.MethodGet, "/v1/users/"+string(user)+"/devices", nil)
	if err == nil && l.User != user {
		return nil, fmt.Errorf("%w: device list of %q for %q", ErrProtocol, l.User, user)
	}
	return l, err
}

// TakeBundle takes a prekey bundle of device dev (consuming its one-time
// prekeys at the relay). The caller verifies it.
func (c *Client) TakeBundle(ctx context.Context, a Auth, dev addr.Address) (*wire.Bundle, error) {
	path := "/v1/users/" + string(dev.User) + "/devices/" + strconv.FormatUint(uint64(dev.Device), 10) + "/bundle"
	b, err := call[*wire.Bundle](ctx, c, &a, &wire.Request{Op: wire.OpBundle, Target: dev}, http.MethodPost, path, nil)
	if err == nil && b.Address != dev {
		return nil, fmt.Errorf("%w: bundle of %s for %s", ErrProtocol, b.Address, dev)
	}
	return b, err
}

// UploadPreKeys uploads the device's own prekeys and returns the counts
// the relay now holds.
func (c *Client) UploadPreKeys(ctx context.Context, a Auth, up *wire.PreKeyUpload) (*wire.PreKeyStatus, error) {
	body, err := wire.Marshal(up)
	if err != nil {
		return nil, err
	}
	return call[*wire.PreKeyStatus](ctx, c, &a, &wire.Request{Op: wire.OpPreKeyUpload, Upload: up}, http.MethodPut, pathPreKeys, body)
}

// PreKeyStatus returns how many one-time prekeys the relay holds for the
// device.
func (c *Client) PreKeyStatus(ctx context.Context, a Auth) (*wire.PreKeyStatus, error) {
	return call[*wire.PreKeyStatus](ctx, c, &a, &wire.Request{Op: wire.OpPreKeyStatus}, http.MethodGet, pathPreKeys, nil)
}

// Revoke revokes dev, a device of the caller's own user.
func (c *Client) Revoke(ctx context.Context, a Auth, dev addr.Address) error {
	path := "/v1/users/" + string(dev.User) + "/devices/" + strconv.FormatUint(uint64(dev.Device), 10)
	_, err := call[*wire.OK](ctx, c, &a, &wire.Request{Op: wire.OpRevoke, Target: dev}, http.MethodDelete, path, nil)
	return err
}

// DeleteAccount erases user, the caller's own, at the relay: the account
// and every device of it. It is HTTP only: the relay closes the user's
// connections as it answers.
func (c *Client) DeleteAccount(ctx context.Context, a Auth, user addr.UserID) error {
	_, err := request[*wire.OK](ctx, c, http.MethodDelete, "/v1/users/"+string(user), nil, &a)
	return err
}

// Policy fetches the relay's newest signed tenant policy (unverified: the
// caller verifies it). No policy is an error matching wire.CodeNoPolicy.
func (c *Client) Policy(ctx context.Context) ([]byte, error) {
	f, err := request[*wire.Policy](ctx, c, http.MethodGet, wire.PathPolicy, nil, nil)
	if err != nil {
		return nil, err
	}
	return f.Doc, nil
}

// challenge fetches a fresh single-use challenge.
func (c *Client) challenge(ctx context.Context) ([wire.ChallengeLen]byte, error) {
	ch, err := request[*wire.Challenge](ctx, c, http.MethodPost, pathChallenge, nil, nil)
	if err != nil {
		return [wire.ChallengeLen]byte{}, err
	}
	return ch.Nonce, nil
}

// authorization returns the Authorization header value proving that a
// made this request.
func (c *Client) authorization(ctx context.Context, a *Auth, method, path string, body []byte) (string, error) {
	nonce, err := c.challenge(ctx)
	if err != nil {
		return "", err
	}
	msg, err := wire.ProofMessage(nonce, a.Address, method, path, body)
	if err != nil {
		return "", err
	}
	p := &wire.Proof{Address: a.Address, Challenge: nonce}
	copy(p.Signature[:], a.Key.Sign(msg))
	return p.Authorization()
}

// request makes one API call and parses its answer as an F. A call that
// could not reach the current node goes to the next, if there is one,
// when it cannot have reached any relay (notSent); otherwise the error
// stands and the next call goes to the next node.
func request[F wire.Frame](ctx context.Context, c *Client, method, path string, body []byte, a *Auth) (F, error) {
	for tries := 1; ; tries++ {
		f, err, retry := requestOnce[F](ctx, c, method, path, body, a)
		if err == nil || !retry || tries >= len(c.nodes.urls) || ctx.Err() != nil {
			return f, err
		}
	}
}

// requestOnce makes the call to the current node. retry says whether it
// may go to another.
func requestOnce[F wire.Frame](ctx context.Context, c *Client, method, path string, body []byte, a *Auth) (_ F, _ error, retry bool) {
	var zero F
	req, node, err := c.newRequest(ctx, method, path, body, a)
	if err != nil {
		return zero, err, false
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	resp, err := c.hc.Do(req.WithContext(ctx))
	if err != nil {
		cerr := classify(ctx, err)
		return zero, cerr, c.nodes.failed(node, cerr) && notSent(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame+1))
	if err != nil {
		cerr := classify(ctx, err)
		c.nodes.failed(node, cerr)
		return zero, cerr, false
	}
	if resp.StatusCode != http.StatusOK {
		werr := errorAnswer(resp.StatusCode, data)
		c.nodes.failed(node, werr) // a gateway's 502: the node behind it is down
		return zero, werr, false
	}
	f, err := wire.ParseAs[F](data)
	if err != nil {
		return zero, fmt.Errorf("%w: %s %s: %v", ErrProtocol, method, path, err), false
	}
	return f, nil, false
}

// newRequest builds a request to the current node (whose index it
// returns), with a's proof if a is set: its challenge comes first, so
// that a node found dead while fetching it is not the one asked.
func (c *Client) newRequest(ctx context.Context, method, path string, body []byte, a *Auth) (*http.Request, int32, error) {
	var h string
	if a != nil {
		var err error
		if h, err = c.authorization(ctx, a, method, path, body); err != nil {
			return nil, 0, err
		}
	}
	u, node := c.nodes.current()
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", wire.ContentType)
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	return req, node, nil
}

// errorAnswer turns a non-200 answer into the relay's *wire.Error, or
// ErrUnreachable for a gateway error without one (a proxy whose relay is
// down).
func errorAnswer(status int, data []byte) error {
	f, err := wire.Parse(data)
	if e, ok := f.(*wire.Error); ok && err == nil {
		return e
	}
	if status >= 500 {
		return fmt.Errorf("%w: HTTP %d", ErrUnreachable, status)
	}
	return fmt.Errorf("%w: HTTP %d without an error frame", ErrProtocol, status)
}

// classify maps a transport error to ErrUntrusted, ErrUnreachable or the
// context's own error.
func classify(ctx context.Context, err error) error {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	switch {
	case errors.Is(err, ErrUntrusted):
		return err
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &ierr):
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: timed out", ErrUnreachable)
		}
		return ctx.Err()
	}
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}
