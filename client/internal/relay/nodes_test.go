package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"parley.dev/internal/wire"
)

// deadURL is an https URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "https://" + l.Addr().String()
	l.Close()
	return u
}

// countingRelay is a fake relay answering OK to /v1/x, counting calls.
func countingRelay(t *testing.T, n *atomic.Int32) (url string, roots []byte) {
	srv := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := wire.Marshal(&wire.OK{})
		w.Write(b)
	})
	return srv.URL, rootsOf(srv)
}

func okRequest(c *Client) error {
	_, err := request[*wire.OK](context.Background(), c, http.MethodGet, "/v1/x", nil, nil)
	return err
}

// TestFailoverToTheNextNode: a node that refuses connections is skipped
// within the same call, and later calls go straight to the next node.
func TestFailoverToTheNextNode(t *testing.T) {
	var hits atomic.Int32
	live, roots := countingRelay(t, &hits)
	c, err := New(Config{URL: deadURL(t) + ", " + live, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := okRequest(c); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, node := c.nodes.current(); node != 1 || hits.Load() != 3 {
		t.Fatalf("current node %d, %d hits on the live one; want 1, 3", node, hits.Load())
	}
}

// TestPreferredNodeFirst: while the first node answers, the others get
// nothing.
func TestPreferredNodeFirst(t *testing.T) {
	var a, b atomic.Int32
	urlA, rootsA := countingRelay(t, &a)
	urlB, rootsB := countingRelay(t, &b)
	c, err := New(Config{URL: urlA + "," + urlB, Roots: append(rootsA, rootsB...)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := okRequest(c); err != nil {
			t.Fatal(err)
		}
	}
	if a.Load() != 3 || b.Load() != 0 {
		t.Fatalf("hits: first %d, second %d; want 3, 0", a.Load(), b.Load())
	}
}

// TestSentRequestNotRepeated: a request that reached a node which then
// died without answering is not sent to another node (it may have taken
// effect), but the next request goes there.
func TestSentRequestNotRepeated(t *testing.T) {
	var died, b atomic.Int32
	dying := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		died.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	urlB, rootsB := countingRelay(t, &b)
	c, err := New(Config{URL: dying.URL + "," + urlB, Roots: append(rootsOf(dying), rootsB...)})
	if err != nil {
		t.Fatal(err)
	}
	if err := okRequest(c); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("request to the dying node: %v, want ErrUnreachable", err)
	}
	if died.Load() < 1 || b.Load() != 0 {
		t.Fatalf("the request was repeated: dying node %d, next node %d", died.Load(), b.Load())
	}
	if err := okRequest(c); err != nil || b.Load() != 1 {
		t.Fatalf("the next request: %v, %d hits on the next node", err, b.Load())
	}
}

// TestAllNodesDown: every node dead is ErrUnreachable after one try each.
func TestAllNodesDown(t *testing.T) {
	c, err := New(Config{URL: deadURL(t) + "," + deadURL(t) + "," + deadURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := okRequest(c); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestParseURLs(t *testing.T) {
	us, err := parseURLs("https://a.example, https://b.example:8443,https://a.example/")
	if err != nil || len(us) != 2 || us[1].Host != "b.example:8443" {
		t.Fatalf("parseURLs = %v, %v; want a and b, the duplicate dropped", us, err)
	}
	many := make([]string, MaxURLs+1)
	for i := range many {
		many[i] = fmt.Sprintf("https://n%d.example", i)
	}
	for _, bad := range []string{"", "https://a.example,", "https://a.example,http://b.example", strings.Join(many, ",")} {
		if _, err := parseURLs(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("parseURLs(%.40q) = %v, want ErrConfig", bad, err)
		}
	}
}
