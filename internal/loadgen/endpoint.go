package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
)

// Relay API paths (docs/protocol.md, "Endpoints").
const (
	pathChallenge = "/v1/challenge"
	pathRegister  = "/v1/register"
	pathWS        = "/v1/ws"
)

// Timeouts of the raw protocol's setup steps.
const (
	requestTimeout = 30 * time.Second
	welcomeTimeout = 15 * time.Second
)

// Target is the relay a run talks to.
type Target struct {
	// URL is the relay's base URL, "https://host[:port]", or the nodes
	// of one deployment, comma-separated. Devices are spread over the
	// nodes: pair i's sender uses node i mod N and its receiver the next
	// node, so with several nodes every message crosses from one node to
	// another (Nodes).
	URL string
	// Roots are PEM CA certificates to trust instead of the system's (a
	// development relay's ca.pem).
	Roots []byte
	// MetricsURL is the relay's Prometheus endpoint, which parleyd serves
	// only on its --metrics-listen address ("http://HOST:PORT/metrics").
	// Without it the run has no relay figures. With several nodes, list
	// each node's, comma-separated: the figures are their sums.
	MetricsURL string
}

// Nodes returns the node URLs in URL.
func (t Target) Nodes() []string { return strings.Split(t.URL, ",") }

// SenderNode returns the index, among nodes, of the node pair i's sender
// uses.
func SenderNode(i, nodes int) int { return i % nodes }

// ReceiverNode returns the index, among nodes, of the node pair i's
// receiver uses: the one after its sender's, so that with several nodes
// every message crosses nodes.
func ReceiverNode(i, nodes int) int { return (i + 1) % nodes }

// newEndpoints returns an endpoint for each of t's nodes.
func newEndpoints(t Target) ([]*endpoint, error) {
	var es []*endpoint
	for _, u := range t.Nodes() {
		e, err := newEndpoint(Target{URL: u, Roots: t.Roots})
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

// endpoint is a relay reached by the raw protocol: TLS 1.3 against the
// given roots, device proofs, WebSocket dials from chosen source
// addresses. Safe for concurrent use.
type endpoint struct {
	base *url.URL
	tls  *tls.Config
	hc   *http.Client // API requests, and WebSocket dials from the default source

	mu     sync.Mutex
	bySrc  map[netip.Addr]*http.Client // WebSocket dials bound to a source address
	spread bool                        // the relay is on IPv4 loopback: sources may vary
}

func newEndpoint(t Target) (*endpoint, error) {
	u, err := url.Parse(t.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("loadgen: relay URL %q: want https://host[:port]", t.URL)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13}
	if t.Roots != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.Roots) {
			return nil, errors.New("loadgen: no certificate in the CA file")
		}
		conf.RootCAs = pool
	}
	e := &endpoint{base: &url.URL{Scheme: "https", Host: u.Host}, tls: conf, bySrc: make(map[netip.Addr]*http.Client)}
	e.hc = e.newHTTPClient(nil)
	if ip, err := netip.ParseAddr(u.Hostname()); u.Hostname() == "localhost" || err == nil && ip.Is4() && ip.IsLoopback() {
		e.spread = true // (a dialer bound to 127.0.0.x reaches localhost over IPv4)
	}
	return e, nil
}

// newHTTPClient returns a client whose connections start at local (nil:
// wherever the system chooses). Redirects are never followed.
func (e *endpoint) newHTTPClient(local net.Addr) *http.Client {
	d := &net.Dialer{Timeout: requestTimeout, LocalAddr: local}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			TLSClientConfig:     e.tls,
			TLSHandshakeTimeout: requestTimeout,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// clientFrom returns the HTTP client dialing from source address src.
func (e *endpoint) clientFrom(src netip.Addr) *http.Client {
	if !src.IsValid() {
		return e.hc
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	hc := e.bySrc[src]
	if hc == nil {
		hc = e.newHTTPClient(&net.TCPAddr{IP: src.AsSlice()})
		e.bySrc[src] = hc
	}
	return hc
}

// source returns the source address of the i-th spread connection:
// 127.0.0.2 to 127.0.0.254 in turn when the relay is on IPv4 loopback
// (each address has its own ~28k ephemeral ports), else the default.
func (e *endpoint) source(i int) netip.Addr {
	if !e.spread {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%253)})
}

func (e *endpoint) close() {
	e.hc.CloseIdleConnections()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, hc := range e.bySrc {
		hc.CloseIdleConnections()
	}
}

func (e *endpoint) url(path string) string {
	u := *e.base
	u.Path = path
	return u.String()
}

// do makes one API request and parses its answer as an F.
func do[F wire.Frame](ctx context.Context, e *endpoint, method, path string, body []byte, auth string) (F, error) {
	var zero F
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url(path), bytes.NewReader(body))
	if err != nil {
		return zero, err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", wire.ContentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame))
	if err != nil {
		return zero, err
	}
	if resp.StatusCode != http.StatusOK {
		return zero, answerError(resp.StatusCode, data)
	}
	return wire.ParseAs[F](data)
}

// answerError is the relay's Error frame in a refused answer.
func answerError(status int, data []byte) error {
	if e, err := wire.ParseAs[*wire.Error](data); err == nil {
		return e
	}
	return fmt.Errorf("loadgen: HTTP %d without an error frame", status)
}

// authorization fetches a challenge and returns the Authorization value
// proving that key's device at a makes this request.
func (e *endpoint) authorization(ctx context.Context, a addr.Address, key *keys.DeviceKey, method, path string, body []byte) (string, error) {
	ch, err := do[*wire.Challenge](ctx, e, http.MethodPost, pathChallenge, nil, "")
	if err != nil {
		return "", fmt.Errorf("challenge: %w", err)
	}
	msg, err := wire.ProofMessage(ch.Nonce, a, method, path, body)
	if err != nil {
		return "", err
	}
	p := &wire.Proof{Address: a, Challenge: ch.Nonce}
	copy(p.Signature[:], key.Sign(msg))
	return p.Authorization()
}

// device is one raw virtual device: fresh keys, registered as its own
// user.
type device struct {
	addr addr.Address
	key  *keys.DeviceKey
}

// register creates a user with a fresh identity and registers one device
// of it, through the relay's open registration.
func (e *endpoint) register(ctx context.Context, user addr.UserID) (*device, error) {
	id, err := keys.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	key, err := keys.GenerateDeviceKey()
	if err != nil {
		return nil, err
	}
	cert, err := id.SignDeviceCert(user, key.Public())
	if err != nil {
		return nil, err
	}
	body, err := wire.Marshal(&wire.Register{User: user, Identity: id.Public().Bytes(),
		DeviceKey: key.Public().Bytes(), DeviceCert: cert})
	if err != nil {
		return nil, err
	}
	auth, err := e.authorization(ctx, addr.Address{User: user}, key, http.MethodPost, pathRegister, body)
	if err != nil {
		return nil, err
	}
	r, err := do[*wire.Registered](ctx, e, http.MethodPost, pathRegister, body, auth)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", user, err)
	}
	return &device{addr: r.Address, key: key}, nil
}

// dial opens d's WebSocket from source address src (zero: the default)
// and reads the relay's Welcome.
func (e *endpoint) dial(ctx context.Context, d *device, src netip.Addr) (*websocket.Conn, *wire.Welcome, error) {
	auth, err := e.authorization(ctx, d.addr, d.key, http.MethodGet, pathWS, nil)
	if err != nil {
		return nil, nil, err
	}
	u := *e.base
	u.Scheme, u.Path = "wss", pathWS
	u.RawQuery = wire.QuietAcksQuery + "=1" // acks as the SDK sends them
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      e.clientFrom(src),
		HTTPHeader:      http.Header{"Authorization": {auth}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame))
			return nil, nil, answerError(resp.StatusCode, data)
		}
		return nil, nil, err
	}
	ws.SetReadLimit(wire.MaxFrame)
	wctx, cancel := context.WithTimeout(ctx, welcomeTimeout)
	defer cancel()
	_, b, err := ws.Read(wctx)
	if err == nil {
		var w *wire.Welcome
		if w, err = wire.ParseAs[*wire.Welcome](b); err == nil {
			return ws, w, nil
		}
	}
	ws.CloseNow()
	return nil, nil, fmt.Errorf("welcome: %w", err)
}
