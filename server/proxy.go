package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"parley.dev/internal/proxyproto"
)

// Behind a load balancer every connection comes from the balancer, so
// the client's own address, which the per-network limits key on, must
// come from the balancer: from a PROXY protocol v2 header before the TLS
// handshake (a TCP balancer, Server.ProxyProtocol), or from
// X-Forwarded-For (a balancer that terminates TLS and opens its own to
// the relay). Either is believed only from Server.TrustedProxies.

// trusted reports whether a is one of the trusted proxies' networks.
func (r *relay) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// listener wraps l to read PROXY headers from trusted peers, if the
// relay expects them.
func (r *relay) listener(l net.Listener) net.Listener {
	if !r.proxyProtocol {
		return l
	}
	return &proxyproto.Listener{Listener: l, Trusted: r.trusted, Timeout: readHeaderTimeout}
}

// clientAddr is the address of the client a request comes from: its
// connection's peer (after any PROXY header) or, when that peer is a
// trusted proxy, the nearest address in X-Forwarded-For that is not. The
// header is read from the right, the end the trusted proxies appended to;
// what lies left of the first untrusted address was written by the
// client and is ignored. If every address is trusted, the leftmost is the
// client; an unparsable entry stops the walk at the last trusted hop.
func (r *relay) clientAddr(req *http.Request) string {
	peer, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil || !r.trusted(peer.Addr()) {
		return req.RemoteAddr
	}
	hops := req.Header.Values("X-Forwarded-For")
	if len(hops) == 0 {
		return req.RemoteAddr
	}
	hops = strings.Split(strings.Join(hops, ","), ",")
	client := peer.Addr()
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !r.trusted(a) {
			break
		}
	}
	return netip.AddrPortFrom(client, 0).String()
}

// parseHop reads one X-Forwarded-For entry: an address, with a port or
// not (some balancers add one).
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// ParsePrefixes reads a comma-separated list of networks, each a CIDR
// prefix or a single address, as --trusted-proxies takes it.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 { // addresses are compared unmapped
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			ps = append(ps, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("server: network %q: want a CIDR prefix or an address", f)
		}
		ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return ps, nil
}
