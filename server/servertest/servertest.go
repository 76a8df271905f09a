// Package servertest starts a complete Parley relay in-process, on a
// loopback port with a development CA, for tests of anything that talks
// to a relay (the client SDK, the CLI, examples).
//
//	relay := servertest.Start(t)
//	client := &http.Client{Transport: &http.Transport{TLSClientConfig: relay.ClientTLS()}}
//	resp, err := client.Get(relay.URL + "/healthz")
//
// The relay shuts down when the test ends.
package servertest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/policy"
	"parley.dev/internal/store/storetest"
	"parley.dev/server"
)

// Relay is a running in-process relay.
type Relay struct {
	// URL is the relay's base URL, "https://127.0.0.1:PORT".
	URL string
	// Addr is the listener's address, "127.0.0.1:PORT".
	Addr string
	// Dir is the data directory (a test temp dir, unless configured).
	Dir string
	// CAFile is the development CA certificate clients must trust.
	CAFile string
	// CA holds the same CA as a pool.
	CA *x509.CertPool
	// MetricsURL serves the relay's metrics over plain HTTP on loopback,
	// "http://127.0.0.1:PORT/metrics", as parleyd's --metrics-listen does:
	// the relay's own URL answers not-found there.
	MetricsURL string
	// Server is the running server.
	Server *server.Server

	configure []func(*server.Server)
	stopOnce  sync.Once
	done      chan error
	metrics   *http.Server
}

// Start starts a relay in a fresh temporary data directory. Each configure
// function may set fields of the Server before it starts (a clock, rates,
// registration mode; DataDir too, to reuse one). The relay is shut down by
// t.Cleanup.
func Start(t testing.TB, configure ...func(*server.Server)) *Relay {
	t.Helper()
	r := &Relay{Dir: t.TempDir(), configure: configure}
	r.start(t, listenRestartable)
	return r
}

func (r *Relay) start(t testing.TB, listen func() (net.Listener, error)) {
	t.Helper()
	s := &server.Server{DataDir: r.Dir}
	for _, f := range r.configure {
		f(s)
	}
	r.Dir = s.DataDir
	if s.TLSConfig == nil {
		conf, err := server.DevTLS(r.Dir)
		if err != nil {
			t.Fatalf("servertest: %v", err)
		}
		s.TLSConfig = conf
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("servertest: %v", err)
	}
	l, err := listen()
	if err != nil {
		s.Shutdown(context.Background())
		t.Fatalf("servertest: %v", err)
	}
	r.Server, r.Addr, r.URL = s, l.Addr().String(), "https://"+l.Addr().String()
	r.CAFile = filepath.Join(r.Dir, server.DevCAFile)
	r.CA = loadPool(t, r.CAFile)
	r.done = make(chan error, 1)
	r.stopOnce = sync.Once{}
	go func() { r.done <- s.Serve(l) }()
	t.Cleanup(func() { r.Stop(t) })
	r.serveMetrics(t)
}

// serveMetrics serves the metrics on a loopback listener of their own.
func (r *Relay) serveMetrics(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: metrics: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Server.MetricsHandler())
	r.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.MetricsURL = "http://" + l.Addr().String() + "/metrics"
	go r.metrics.Serve(l)
}

func loadPool(t testing.TB, caFile string) *x509.CertPool {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("servertest: no certificate in %s", caFile)
	}
	return pool
}

// ShutdownTimeout bounds Stop's graceful shutdown.
const ShutdownTimeout = 10 * time.Second

// Stop shuts the relay down gracefully. It is safe to call more than once.
func (r *Relay) Stop(t testing.TB) {
	t.Helper()
	r.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		r.metrics.Close()
		if err := r.Server.Shutdown(ctx); err != nil {
			t.Errorf("servertest: shutdown: %v", err)
		}
		// Serve may not have begun before Shutdown; it then reports
		// ErrServerClosed, which is no failure.
		if err := <-r.done; err != nil && !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("servertest: serve: %v", err)
		}
	})
}

// Restart stops the relay and starts a new Server on the same data
// directory and address, as a process restart would.
func (r *Relay) Restart(t testing.TB) {
	t.Helper()
	r.Stop(t)
	dir := r.Dir
	r.configure = append(r.configure, func(s *server.Server) { s.DataDir = dir })
	addr := r.Addr
	r.start(t, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// ClientTLS returns a client TLS configuration that trusts the relay.
func (r *Relay) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: r.CA, MinVersion: tls.VersionTLS13}
}

// Client returns an HTTP client that trusts the relay.
func (r *Relay) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: r.ClientTLS()}, Timeout: 30 * time.Second}
}

// CAPin returns the SPKI pin of the relay's CA certificate,
// "sha256/<base64>", as clients' Pins take it.
func (r *Relay) CAPin(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("servertest: no certificate in %s", r.CAFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256/" + base64.StdEncoding.EncodeToString(sum[:])
}

// PublishPolicy signs p with key and publishes it on the relay, as
// parleyd policy sign and publish do. The relay cannot tell a forged
// policy: the devices' PolicyKey does.
func (r *Relay) PublishPolicy(t testing.TB, key ed25519.PrivateKey, p *policy.Policy) {
	t.Helper()
	doc, err := policy.Sign(p, key)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	if _, err := (&server.Server{DataDir: r.Dir}).PublishPolicy(context.Background(), doc); err != nil {
		t.Fatalf("servertest: %v", err)
	}
}

// Clock is a settable clock for Server.Now, safe for concurrent use: the
// store's test clock, so one clock drives a relay and its store alike.
type Clock = storetest.Clock

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return storetest.NewClock(t) }
