package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/wire"
	"parley.dev/server"
)

// relayProc is parleyd's run() serving in a goroutine.
type relayProc struct {
	url, metricsURL string
	cancel          context.CancelFunc
	done            chan error
}

// startRun runs parleyd with args until the test ends and waits for its
// greeting.
func startRun(t *testing.T, args ...string) *relayProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &relayProc{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.Close()
		p.done <- err
	}()
	// The greeting: the URL, then the metrics address and the dev hint
	// (ending with a curl example) when configured.
	joined := strings.Join(args, " ")
	wantMetrics, wantCurl := strings.Contains(joined, "--metrics-listen"), strings.Contains(joined, "--dev")
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, "relay listening on "); ok {
			p.url, _, _ = strings.Cut(rest, " ")
		}
		if _, rest, ok := strings.Cut(line, "metrics on "); ok {
			p.metricsURL = rest
		}
		if strings.HasPrefix(line, "  curl") {
			wantCurl = false
		}
		if p.url != "" && (!wantMetrics || p.metricsURL != "") && !wantCurl {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if p.url == "" {
		cancel()
		t.Fatalf("parleyd did not start: %v", <-p.done)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *relayProc) stop(t *testing.T) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("parleyd returned %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Error("parleyd did not stop")
	}
}

func trusting(t *testing.T, caFile string, maxVersion uint16) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion},
	}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevRelayRunsAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pd") // created by parleyd
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0")
	caFile := filepath.Join(dir, server.DevCAFile)
	client := trusting(t, caFile, 0)
	if code, body := get(t, client, p.url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if _, err := trusting(t, caFile, tls.VersionTLS12).Get(p.url + "/healthz"); err == nil {
		t.Error("TLS 1.2 client accepted")
	}
	// The checks: curl --cacert D/ca.pem https://.../metrics gets
	// 404; curl -sI .../healthz shows the security headers and HSTS.
	if code, body := get(t, client, p.url+"/metrics"); code != 404 || strings.Contains(body, "parley_") {
		t.Errorf("metrics on the public listener: %d %q", code, body)
	}
	resp, err := client.Head(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, v := range map[string]string{
		"Strict-Transport-Security": "max-age=63072000",
		"X-Content-Type-Options":    "nosniff",
		"Cache-Control":             "no-store",
		"Referrer-Policy":           "no-referrer",
		"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("HEAD /healthz: %s = %q, want %q", k, got, v)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, server.DatabaseFile)); err != nil {
		t.Errorf("no database: %v", err)
	}
	ca1, _ := os.ReadFile(caFile)
	p.stop(t)

	// A restart reuses the CA: the same client still connects.
	p = startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0")
	ca2, _ := os.ReadFile(caFile)
	if !bytes.Equal(ca1, ca2) {
		t.Error("the dev CA changed across restarts")
	}
	if code, _ := get(t, trusting(t, caFile, 0), p.url+"/healthz"); code != 200 {
		t.Errorf("healthz after restart: %d", code)
	}
}

func TestMetricsListen(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	if p.metricsURL == "" {
		t.Fatal("no metrics address printed")
	}
	if code, body := get(t, http.DefaultClient, p.metricsURL); code != 200 || !strings.Contains(body, "# TYPE parley_envelopes_queued_total counter") {
		t.Errorf("metrics listener: %d %q", code, body)
	}
	if code, _ := get(t, trusting(t, filepath.Join(dir, server.DevCAFile), 0), p.url+"/metrics"); code != 404 {
		t.Errorf("/metrics on the main listener: %d, want 404", code)
	}
}

func TestEnvironmentTwins(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PARLEY_DEV", "true")
	t.Setenv("PARLEY_DATA", dir)
	t.Setenv("PARLEY_LISTEN", "not an address") // the flag below overrides it
	t.Setenv("PARLEY_MAILBOX_CAP", "7")
	t.Setenv("PARLEY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
	t.Setenv("PARLEY_PROXY_PROTOCOL", "true")
	t.Setenv("PARLEY_MAX_DEVICE_CONNS", "2")
	t.Setenv("PARLEY_BLOB_TTL", "48h")
	cfg, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--max-conns", "9", "--max-blob-size", "1000"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var s server.Server
	cfg.blobs.apply(&s)
	if s.BlobTTL != 48*time.Hour || s.MaxBlobSize != 1000 || s.BlobQuota != server.DefaultBlobQuota || s.BlobUploadRate != server.DefaultBlobUploadRate {
		t.Errorf("blob settings: ttl %v, max %d, quota %d, upload rate %v", s.BlobTTL, s.MaxBlobSize, s.BlobQuota, s.BlobUploadRate)
	}
	if !cfg.dev || cfg.data != dir || cfg.listen != "127.0.0.1:0" || cfg.mailboxCap != 7 ||
		cfg.trustedProxies.String() != "10.0.0.0/8,192.0.2.7/32" || !cfg.proxyProtocol || cfg.maxDeviceConns != 2 || cfg.maxConns != 9 {
		t.Errorf("config %+v", cfg)
	}
	t.Setenv("PARLEY_MAILBOX_TTL", "forever")
	if _, err := parseFlags(nil, io.Discard, io.Discard); !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "PARLEY_MAILBOX_TTL") {
		t.Errorf("bad environment value: %v", err)
	}
	// Every flag has a twin.
	newFlagSet(new(config)).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(usage, "--"+f.Name) {
			t.Errorf("flag --%s is not in the usage text", f.Name)
		}
		if envName(f.Name) != "PARLEY_"+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")) {
			t.Errorf("twin of --%s is %s", f.Name, envName(f.Name))
		}
	})
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--data", dir}, // no TLS
		{"--dev", "--tls-cert", "c", "--tls-key", "k"}, // two TLS sources
		{"--tls-cert", "c"},                            // half a pair
		{"--dev", "--registration", "closed"},          // unknown mode
		{"--dev", "--registration", "token"},           // no token key
		{"--dev", "--bogus"},                           // unknown flag
		{"--dev", "extra"},                             // stray argument
		{"--dev", "--challenge-rate", "fast"},          // bad rate
		{"--dev", "--proxy-protocol"},                  // headers from whom?
		{"--dev", "--trusted-proxies", "10.0.0.0/33"},  // not a network
		{"--dev", "--checkpoint-interval", "0s"},       // never deleting
		{"--dev", "--blob-ttl", "-1h"},                 // expired at once
		{"--dev", "--max-blob-size", "0"},              // no attachments at all
		{"--dev", "--push-gateway", "https://gw/"},     // unsigned wake-ups
		{"--dev", "--push-secret", "s"},                // a secret for nobody
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, io.Discard); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "PARLEY_") {
		t.Errorf("--help: %v %q", err, out.String())
	}
}

func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "tk")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token-key", "--out", prefix}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v %v", fi, err)
	}
	if err := run(context.Background(), []string{"token-key", "--out", prefix}, io.Discard, io.Discard); err == nil {
		t.Error("token-key overwrote an existing key")
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "--key", prefix + ".key", "--ttl", "2h", "alice"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tok, err := wire.ParseTokenText(out.String())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := readPublicKey(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := tok.SignedMessage()
	if tok.User != "alice" || !ed25519.Verify(pub, msg, tok.Signature[:]) {
		t.Errorf("token %+v does not verify under the public key", tok)
	}
	if d := time.Until(tok.Expires); d < time.Hour || d > 2*time.Hour {
		t.Errorf("token expires in %v, want about 2h", d)
	}
	for _, args := range [][]string{{"token", "alice"}, {"token", "--key", prefix + ".key", "Alice"}, {"token", "--key", prefix + ".key", "--ttl", "-1h", "alice"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// The relay starts in token mode with the public key.
	startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--registration", "token", "--token-key", prefix+".pub")
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := server.DevTLS(dir); err != nil { // any CA-signed pair will do
		t.Fatal(err)
	}
	p := startRun(t, "--data", t.TempDir(), "--listen", "127.0.0.1:0",
		"--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server-key.pem"))
	if code, _ := get(t, trusting(t, filepath.Join(dir, server.DevCAFile), 0), p.url+"/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
}
