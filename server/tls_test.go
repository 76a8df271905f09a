package server_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/internal/wire"
	"parley.dev/server"
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

func TestHSTSOnEveryResponse(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	client := r.Client()
	for _, path := range []string{"/healthz", "/metrics", "/nope", "/v1/prekeys"} {
		resp, err := client.Get(r.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
			t.Errorf("%s (%d): Strict-Transport-Security = %q", path, resp.StatusCode, h)
		}
	}
	resp, err := alice.Do("GET", "/v1/prekeys", nil)
	if err != nil || resp.Status != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("authenticated request: %v, status %d, HSTS %q", err, resp.Status, resp.Header.Get("Strict-Transport-Security"))
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
	text := metricsText(t, r.Client(), r.URL+"/metrics")
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

func TestSeparateMetrics(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.SeparateMetrics = true })
	resp, err := r.Client().Get(r.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/metrics on the main listener with SeparateMetrics: %d", resp.StatusCode)
	}
	rec := &recorder{header: http.Header{}}
	r.Server.MetricsHandler().ServeHTTP(rec, httptestRequest(t))
	if !strings.Contains(rec.body.String(), "parley_connections 0") {
		t.Errorf("MetricsHandler wrote %q", rec.body.String())
	}
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(int)             {}

func httptestRequest(t testing.TB) *http.Request {
	req, err := http.NewRequest("GET", "/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
