package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
)

func TestTLS12AndLowerRefused(t *testing.T) {
	r := startRelay(t)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12} {
		conf := r.ClientTLS()
		conf.MinVersion, conf.MaxVersion = v, v
		c, err := tls.Dial("tcp", r.Addr, conf)
		if err == nil {
			c.Close()
			t.Errorf("TLS version %#x accepted", v)
		}
	}
	c, err := tls.Dial("tcp", r.Addr, r.ClientTLS())
	if err != nil {
		t.Fatalf("TLS 1.3: %v", err)
	}
	defer c.Close()
	if st := c.ConnectionState(); st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("negotiated version %#x, protocol %q", st.Version, st.NegotiatedProtocol)
	}
}

// wantHeaders are the headers on every response of the public listener.
var wantHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000",
	"X-Content-Type-Options":    "nosniff",
	"Cache-Control":             "no-store",
	"Referrer-Policy":           "no-referrer",
	"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
}

func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range wantHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// TestSecurityHeadersOnEveryResponse: successes, errors of every kind,
// authenticated requests and the WebSocket upgrade (accepted or refused)
// all carry HSTS and the security headers.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	client := r.Client()
	for _, req := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"HEAD", "/healthz"}, {"GET", "/metrics"}, {"GET", "/nope"},
		{"GET", "/v1/prekeys"}, {"PUT", "/v1/challenge"}, {"POST", "/v1/challenge"}, {"GET", "/v1/ws"},
	} {
		hr, _ := http.NewRequest(req.method, r.URL+req.path, nil)
		resp, err := client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		checkHeaders(t, fmt.Sprintf("%s %s (%d)", req.method, req.path, resp.StatusCode), resp.Header)
	}
	resp, err := alice.Do("GET", "/v1/prekeys", nil)
	if err != nil || resp.Status != 200 {
		t.Fatalf("authenticated request: %v, status %d", err, resp.Status)
	}
	checkHeaders(t, "authenticated request", resp.Header)
	auth, err := alice.Authorization("GET", "/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testclient.Timeout)
	defer cancel()
	c, up, err := alice.DialRaw(ctx, auth, "")
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	checkHeaders(t, "WebSocket upgrade", up.Header)
}

// TestMetricsOffThePublicListener: the TLS listener answers not-found on
// /metrics (as on any unknown path); MetricsHandler, mounted elsewhere,
// serves them with the security headers but without HSTS (plain HTTP).
func TestMetricsOffThePublicListener(t *testing.T) {
	r := startRelay(t)
	resp, err := r.Client().Get(r.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || strings.Contains(string(body), "parley_") {
		t.Errorf("/metrics on the public listener: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(r.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "parley_connections 0") {
		t.Errorf("metrics listener: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("metrics listener headers: %v", resp.Header)
	}
}

// TestNoSessionTickets: a client that keeps sessions never resumes one, so
// each connection makes a full handshake. The same client does resume
// with a server that issues tickets, so the check can fail.
func TestNoSessionTickets(t *testing.T) {
	r := startRelay(t)
	resumed := func(addr string, conf *tls.Config, wait time.Duration) bool {
		t.Helper()
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		var did bool
		for range 3 {
			c, err := tls.Dial("tcp", addr, conf)
			if err != nil {
				t.Fatal(err)
			}
			// TLS 1.3 tickets arrive after the handshake: read until the
			// server closes or a deadline passes.
			c.SetReadDeadline(time.Now().Add(wait))
			c.Read(make([]byte, 1))
			did = did || c.ConnectionState().DidResume
			c.Close()
		}
		return did
	}
	if resumed(r.Addr, r.ClientTLS(), 300*time.Millisecond) {
		t.Error("the relay resumed a TLS session from a ticket")
	}
	// Control: a TLS 1.3 server with Go's defaults issues tickets.
	dir := t.TempDir()
	conf, err := server.DevTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake() // sends the tickets
				time.Sleep(50 * time.Millisecond)
				c.Close()
			}()
		}
	}()
	pem, err := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	if err != nil {
		t.Fatal(err)
	}
	caConf := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS13}
	caConf.RootCAs.AppendCertsFromPEM(pem)
	if !resumed(l.Addr().String(), caConf, 5*time.Second) { // it closes after 50 ms
		t.Error("control: a ticket-issuing server was never resumed; the check above proves nothing")
	}
}

func TestUnknownPathAndMethodAreFrames(t *testing.T) {
	r := startRelay(t)
	d := newDevice(t, r, "alice")
	for _, tc := range []struct {
		method, path string
		status       int
		code         wire.Code
	}{
		{"GET", "/v2/anything", 404, wire.CodeNotFound},
		{"GET", "/v1/register", 405, wire.CodeBadMethod},
		{"PUT", "/v1/challenge", 405, wire.CodeBadMethod},
	} {
		resp, err := d.Raw(tc.method, tc.path, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != tc.status || resp.Code() != tc.code || resp.Header.Get("Content-Type") != wire.ContentType {
			t.Errorf("%s %s: %d %v %q", tc.method, tc.path, resp.Status, resp.Code(), resp.Header.Get("Content-Type"))
		}
	}
}

func TestDevTLSReusedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	if _, err := server.DevTLS(dir); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	cert1, _ := os.ReadFile(filepath.Join(dir, "server.pem"))
	if _, err := server.DevTLS(dir); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	cert2, _ := os.ReadFile(filepath.Join(dir, "server.pem"))
	if !bytes.Equal(ca1, ca2) || !bytes.Equal(cert1, cert2) {
		t.Error("a second DevTLS call replaced the CA or the certificate")
	}
	conf, err := server.DevTLS(dir, "relay.test")
	if err != nil {
		t.Fatal(err)
	}
	ca3, _ := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	leaf := conf.Certificates[0].Leaf
	if !bytes.Equal(ca1, ca3) || leaf.VerifyHostname("relay.test") != nil || leaf.VerifyHostname("::1") != nil {
		t.Error("an extra host did not reissue the certificate under the same CA")
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file mode: %v %v", fi.Mode(), err)
	}
}

func TestMetricsExposition(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	mustStore(t, bws, alice.Addr, msgID(1), []byte("x"))
	bob.Raw("GET", "/v1/prekeys", nil, "") // one unauthorized
	text := metricsText(t, r.Client(), r.MetricsURL)
	for _, want := range []string{
		"# TYPE parley_connections gauge\nparley_connections 1\n",
		"parley_envelopes_queued_total 1\n",
		"parley_registrations_total 2\n",
		`parley_rejected_total{reason="unauthorized"} 1` + "\n",
		`parley_store_seconds_bucket{op="submit",le="+Inf"} 1` + "\n",
		"# TYPE parley_store_seconds histogram\n",
		"parley_envelopes_delivered_total 0\n",
		"parley_envelopes_expired_total 0\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func metricsText(t testing.TB, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %q", resp.StatusCode, ct)
	}
	return string(b)
}
