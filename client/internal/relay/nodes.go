package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
)

// MaxURLs is the most relay URLs one Client takes.
const MaxURLs = 16

// nodes are the relay's base URLs, in order of preference: one URL (a
// single relay, or a load balancer in front of several) or a list of
// nodes of one deployment. Requests go to the current one; when a node
// cannot be reached the next becomes current, round the list, so that a
// dead node costs one failed dial, not one per request. Every node of a
// deployment shares the store, so a challenge from one is accepted by
// any and an envelope resubmitted to another is stored once.
type nodes struct {
	urls []*url.URL
	cur  atomic.Int32
	log  *slog.Logger
}

// parseURLs reads a comma-separated list of relay base URLs.
func parseURLs(s string) ([]*url.URL, error) {
	var out []*url.URL
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		u, err := parseURL(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		if !seen[u.Host] {
			seen[u.Host] = true
			out = append(out, u)
		}
	}
	if len(out) > MaxURLs {
		return nil, fmt.Errorf("%w: %d relay URLs (at most %d)", ErrConfig, len(out), MaxURLs)
	}
	return out, nil
}

// current returns the URL requests go to now, and its index for failed.
func (n *nodes) current() (url.URL, int32) {
	i := n.cur.Load()
	return *n.urls[i], i
}

// failed reports that a request to node i ended with err. If the node
// could not be reached, the next one becomes current (unless another
// request moved on already), and failed reports whether there is another
// node to try.
func (n *nodes) failed(i int32, err error) bool {
	if len(n.urls) < 2 || !errors.Is(err, ErrUnreachable) {
		return false
	}
	next := (i + 1) % int32(len(n.urls))
	if n.cur.CompareAndSwap(i, next) {
		n.log.Info("relay node unreachable; moving to the next", "from", n.urls[i].Host, "to", n.urls[next].Host)
	}
	return true
}

// notSent reports whether a transport error happened before the request
// reached any relay (the TCP connection or the name lookup failed), so
// that sending it to another node cannot make it happen twice.
func notSent(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial")
}
