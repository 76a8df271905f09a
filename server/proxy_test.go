package server_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"parley.dev/internal/proxyproto"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// behindProxy starts a relay that trusts 127.0.0.1 as its load balancer
// and gives each client network 2 challenges a minute.
func behindProxy(t *testing.T, proxyProtocol bool) *servertest.Relay {
	return startRelay(t, func(s *server.Server) {
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
		s.ProxyProtocol = proxyProtocol
		s.ChallengeRate = server.Rate{Burst: 2, Per: time.Minute}
	})
}

// headerTransport adds a header to every request.
type headerTransport struct {
	http.RoundTripper
	key, value string
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(h.key, h.value)
	return h.RoundTripper.RoundTrip(req)
}

// client returns a device of r whose connections come from the loopback
// address src, start with PROXY header hdr (if any), and whose requests
// carry X-Forwarded-For xff (if any). Connections are not reused.
func client(t *testing.T, r *servertest.Relay, src string, hdr *proxyproto.Header, xff string) *testclient.Device {
	t.Helper()
	d := newDevice(t, r, "alice")
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	var tr http.RoundTripper = &http.Transport{
		TLSClientConfig:   r.ClientTLS(),
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil || hdr == nil {
				return c, err
			}
			b, err := hdr.AppendBinary(nil)
			if err == nil {
				_, err = c.Write(b)
			}
			if err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	if xff != "" {
		tr = headerTransport{tr, "X-Forwarded-For", xff}
	}
	d.HTTP = &http.Client{Transport: tr, Timeout: testclient.Timeout}
	return d
}

// challenges asks for n challenges and returns how many were granted and
// whether the others were refused as rate-limited.
func challenges(t *testing.T, d *testclient.Device, n int) int {
	t.Helper()
	granted := 0
	for range n {
		resp, err := d.Raw("POST", "/v1/challenge", nil, "")
		if err != nil {
			t.Fatalf("challenge: %v", err)
		}
		switch resp.Code() {
		case wire.CodeOK:
			granted++
		case wire.CodeRateLimited:
		default:
			t.Fatalf("challenge: %d %v", resp.Status, resp.Code())
		}
	}
	return granted
}

func proxied(src string) *proxyproto.Header {
	return &proxyproto.Header{Source: netip.MustParseAddrPort(src), Dest: netip.MustParseAddrPort("192.0.2.1:443")}
}

// TestAttack15ForwardedForFromUntrustedIgnored: a client that is not a
// trusted proxy cannot dodge its network's limit by naming other
// addresses in X-Forwarded-For.
func TestAttack15ForwardedForFromUntrustedIgnored(t *testing.T) {
	r := behindProxy(t, false)
	got := 0
	for i := range 4 {
		got += challenges(t, client(t, r, "127.0.0.2", nil, "203.0.113."+string(rune('1'+i))), 1)
	}
	if got != 2 {
		t.Errorf("untrusted client with 4 forwarded addresses got %d challenges, want its network's 2", got)
	}
}

// TestForwardedForFromTrustedProxy: behind a trusted proxy each client
// address has its own limit; what a client writes into the header itself
// (left of the address the proxy appended) changes nothing.
func TestForwardedForFromTrustedProxy(t *testing.T) {
	r := behindProxy(t, false)
	if got := challenges(t, client(t, r, "127.0.0.1", nil, "203.0.113.5"), 3); got != 2 {
		t.Errorf("client 203.0.113.5 got %d challenges, want 2", got)
	}
	if got := challenges(t, client(t, r, "127.0.0.1", nil, "203.0.113.6"), 1); got != 1 {
		t.Errorf("client 203.0.113.6 was refused: the clients share a limit")
	}
	// 203.0.113.5 claims to be 198.51.100.1; the proxy appended its real
	// address last.
	if got := challenges(t, client(t, r, "127.0.0.1", nil, "198.51.100.1, 203.0.113.5"), 1); got != 0 {
		t.Errorf("a spoofed leftmost address escaped the limit")
	}
	// Through two trusted hops (10.0.0.9 forwarded to 127.0.0.1), with a
	// port as some balancers write it.
	if got := challenges(t, client(t, r, "127.0.0.1", nil, "203.0.113.7:5555, 10.0.0.9"), 3); got != 2 {
		t.Errorf("client behind two proxies got %d, want 2", got)
	}
	// Nothing forwarded: the proxy itself is the client.
	if got := challenges(t, client(t, r, "127.0.0.1", nil, ""), 3); got != 2 {
		t.Errorf("the proxy's own requests got %d, want 2", got)
	}
}

// TestProxyProtocol: with ProxyProtocol the client's address comes from
// the PROXY header of a trusted peer's connection, which must carry one;
// a header from anyone else is not read (the TLS handshake fails on it)
// and X-Forwarded-For counts only when the PROXY header names a trusted
// address.
func TestProxyProtocol(t *testing.T) {
	r := behindProxy(t, true)
	if got := challenges(t, client(t, r, "127.0.0.1", proxied("198.51.100.1:4000"), ""), 3); got != 2 {
		t.Errorf("client 198.51.100.1 got %d challenges, want 2", got)
	}
	if got := challenges(t, client(t, r, "127.0.0.1", proxied("198.51.100.2:4000"), ""), 1); got != 1 {
		t.Error("client 198.51.100.2 shares 198.51.100.1's limit")
	}
	// A client passed through the balancer cannot add a header to rename
	// itself again: X-Forwarded-For from an untrusted source is ignored.
	if got := challenges(t, client(t, r, "127.0.0.1", proxied("198.51.100.1:4001"), "203.0.113.50"), 1); got != 0 {
		t.Error("X-Forwarded-For from a proxied, untrusted client was believed")
	}
	// An internal L7 proxy (10.0.0.9, trusted) behind the balancer.
	if got := challenges(t, client(t, r, "127.0.0.1", proxied("10.0.0.9:4000"), "203.0.113.51"), 3); got != 2 {
		t.Errorf("client behind two proxies got %d, want 2", got)
	}
	// A trusted peer without a header gets no service.
	if _, err := client(t, r, "127.0.0.1", nil, "").Raw("POST", "/v1/challenge", nil, ""); err == nil {
		t.Error("a trusted peer's connection without a PROXY header was served")
	}
	// Anyone else is a direct client: served without a header, and a
	// header it sends is not read, so the handshake fails.
	if got := challenges(t, client(t, r, "127.0.0.2", nil, ""), 1); got != 1 {
		t.Error("a direct client was refused")
	}
	if _, err := client(t, r, "127.0.0.2", proxied("198.51.100.9:1"), "").Raw("POST", "/v1/challenge", nil, ""); err == nil {
		t.Error("a PROXY header from an untrusted peer was believed")
	}
}
