package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"parley.dev/internal/private"
	"parley.dev/server"
)

// acmeDir is the ACME cache's directory inside the data directory.
const acmeDir = "acme"

// shutdownTimeout bounds the graceful stop; connections still open after
// it are cut.
const shutdownTimeout = 30 * time.Second

// serve runs the relay until ctx ends.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	s, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		s.Shutdown(context.Background())
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(l) }()
	var metrics *http.Server
	var metricsAddr net.Addr
	if cfg.metricsListen != "" {
		if metrics, metricsAddr, err = serveMetrics(cfg.metricsListen, s, errc); err != nil {
			s.Shutdown(context.Background())
			return err
		}
		if !isLoopback(metricsAddr) {
			log.Warn("metrics are served over plain HTTP beyond loopback; keep --metrics-listen on a private network", "addr", metricsAddr.String())
		}
	}
	greet(stdout, cfg, l.Addr(), metricsAddr)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
	}
	return stop(s, metrics, err)
}

func stop(s *server.Server, metrics *http.Server, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if metrics != nil {
		metrics.Shutdown(ctx)
	}
	return errors.Join(err, s.Shutdown(ctx))
}

// serveMetrics serves /metrics on its own plain-HTTP listener (for a
// scraper on loopback or a private network); the relay's public listener
// never serves them.
func serveMetrics(addr string, s *server.Server, errc chan<- error) (*http.Server, net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics: %w", err)
		}
	}()
	return hs, l.Addr(), nil
}

// isLoopback reports whether a listener's address accepts only local
// connections.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func newServer(cfg *config, log *slog.Logger) (*server.Server, error) {
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &server.Server{
		DataDir:            cfg.data,
		StoreDSN:           cfg.store,
		NoMigrate:          !cfg.migrate,
		StoreWriters:       cfg.storeWriters,
		NATSURL:            cfg.nats,
		NATSPrefix:         cfg.natsPrefix,
		TLSConfig:          tlsConf,
		Registration:       server.RegistrationMode(cfg.registration),
		MaxEnvelope:        cfg.maxEnvelope,
		MailboxCap:         cfg.mailboxCap,
		MailboxTTL:         cfg.mailboxTTL,
		CheckpointInterval: cfg.checkpointInterval,
		MaxConns:           cfg.maxConns,
		MaxDeviceConns:     cfg.maxDeviceConns,
		ChallengeRate:      cfg.challengeRate.Rate,
		RegisterRate:       cfg.registerRate.Rate,
		BundleRate:         cfg.bundleRate.Rate,
		DeviceRate:         cfg.deviceRate.Rate,
		TrustedProxies:     cfg.trustedProxies.prefixes,
		ProxyProtocol:      cfg.proxyProtocol,
		Logger:             log,
	}
	cfg.blobs.apply(s)
	if err := cfg.push.apply(s); err != nil {
		return nil, err
	}
	s.UnlockMaxFailures = cfg.unlockMaxFailures
	s.UnlockRate, s.UnlockCredentialRate = cfg.unlockRate.Rate, cfg.unlockCredentialRate.Rate
	if cfg.tokenKey != "" {
		if s.TokenKey, err = readPublicKey(cfg.tokenKey); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func tlsConfig(cfg *config) (*tls.Config, error) {
	switch {
	case cfg.dev:
		return server.DevTLS(cfg.data)
	case cfg.acmeDomains != "":
		// autocert writes its keys 0600 into a 0700 directory; make the
		// directory now, so that it is private before the first
		// certificate, and tighten one left by an earlier run.
		cache := filepath.Join(cfg.data, acmeDir)
		if err := private.Dir(cache); err != nil {
			return nil, err
		}
		if err := private.Tighten(cache); err != nil {
			return nil, err
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cache),
			HostPolicy: autocert.HostWhitelist(strings.Split(cfg.acmeDomains, ",")...),
			Email:      cfg.acmeEmail,
		}
		return m.TLSConfig(), nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// greet tells the operator where the relay is and how a client connects.
func greet(w io.Writer, cfg *config, addr, metricsAddr net.Addr) {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	url := "https://" + net.JoinHostPort(host, port)
	fmt.Fprintf(w, "parleyd: relay listening on %s (%v)\n", url, cfg)
	if metricsAddr != nil {
		fmt.Fprintf(w, "parleyd: metrics on http://%s/metrics\n", metricsAddr)
	}
	if cfg.dev {
		ca := filepath.Join(cfg.data, server.DevCAFile)
		fmt.Fprintf(w, "parleyd: clients must trust the development CA %s, for example:\n", ca)
		fmt.Fprintf(w, "  curl --cacert %s %s/healthz\n", ca, url)
	}
}

// readPublicKey reads an Ed25519 public key from a PEM file.
func readPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, pemPublic)
	if err != nil {
		return nil, err
	}
	key, err := parsePublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
