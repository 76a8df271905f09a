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

	"parley.dev/internal/certfile"
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
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	s, certs, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	// The private listener opens first, so that its /readyz says
	// "starting" while the stores open and migrate.
	errc := make(chan error, 2)
	var metrics *http.Server
	var metricsAddr net.Addr
	if cfg.metricsListen != "" {
		if metrics, metricsAddr, err = serveMetrics(cfg.metricsListen, s, errc); err != nil {
			return err
		}
		if !isLoopback(metricsAddr) {
			log.Warn("metrics are served over plain HTTP beyond loopback; keep --metrics-listen on a private network", "addr", metricsAddr.String())
		}
	}
	if err := s.Start(ctx); err != nil {
		return stop(s, err, metrics)
	}
	admin, err := startAdmin(cfg, s, log, errc)
	if err != nil {
		return stop(s, err, metrics)
	}
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return stop(s, err, metrics, admin)
	}
	go func() { errc <- s.Serve(l) }()
	stopReload := reloadCerts(ctx, certs, log) // certs.go
	defer stopReload()
	greet(stdout, cfg, l.Addr(), metricsAddr)
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain", cfg.drainDelay.String())
		drain(s, cfg.drainDelay)
	case err = <-errc:
	}
	return stop(s, err, metrics, admin)
}

// startAdmin serves the admin console where --admin-listen says; nil if
// it is off.
func startAdmin(cfg *config, s *server.Server, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	a, err := parseAdminListen(cfg.adminListen, cfg.data, cfg.adminClientCA)
	if err != nil || a.off {
		return nil, err
	}
	l, err := a.listen(s.TLSConfig)
	if err != nil {
		return nil, err
	}
	log.Info("admin console listening", "addr", l.Addr().String())
	return serveAdmin(l, s, log, errc), nil
}

// drain marks the relay not ready and waits d, serving meanwhile, so that
// a load balancer polling /readyz stops sending it clients.
func drain(s *server.Server, d time.Duration) {
	s.Drain()
	if d > 0 {
		time.Sleep(d)
	}
}

// stop shuts the relay down, then the private listeners (metrics,
// admin) that are not nil.
func stop(s *server.Server, err error, private ...*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(err, s.Shutdown(ctx))
	for _, hs := range private {
		if hs != nil {
			hs.Shutdown(ctx)
		}
	}
	return err
}

// serveMetrics serves /metrics, /healthz and /readyz on their own
// plain-HTTP listener (for a scraper or an orchestrator's probes on
// loopback or a private network); the relay's public listener never
// serves the metrics.
func serveMetrics(addr string, s *server.Server, errc chan<- error) (*http.Server, net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.MetricsHandler())
	mux.Handle("GET /readyz", s.ReadyHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
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

// newServer makes the relay cfg describes, and with --tls-cert the
// reloader of its certificate files.
func newServer(cfg *config, log *slog.Logger) (*server.Server, *certfile.Reloader, error) {
	tlsConf, certs, err := tlsConfig(cfg, log)
	if err != nil {
		return nil, nil, err
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
		AuditRetention:     cfg.auditRetention,
		CheckpointInterval: cfg.checkpointInterval,
		MaxConns:           cfg.maxConns,
		MaxDeviceConns:     cfg.maxDeviceConns,
		ChallengeRate:      cfg.challengeRate.Rate,
		RegisterRate:       cfg.registerRate.Rate,
		BundleRate:         cfg.bundleRate.Rate,
		DeviceRate:         cfg.deviceRate.Rate,
		RequestRate:        cfg.requestRate.Rate,
		TrustedProxies:     cfg.trustedProxies.prefixes,
		ProxyProtocol:      cfg.proxyProtocol,
		Logger:             log,
	}
	cfg.blobs.apply(s)
	if err := cfg.push.apply(s); err != nil {
		return nil, nil, err
	}
	s.UnlockMaxFailures = cfg.unlockMaxFailures
	s.UnlockRate, s.UnlockCredentialRate = cfg.unlockRate.Rate, cfg.unlockCredentialRate.Rate
	if cfg.tokenKey != "" {
		if s.TokenKey, err = readPublicKey(cfg.tokenKey); err != nil {
			return nil, nil, err
		}
	}
	return s, certs, nil
}

func tlsConfig(cfg *config, log *slog.Logger) (*tls.Config, *certfile.Reloader, error) {
	switch {
	case cfg.dev:
		conf, err := server.DevTLS(cfg.data)
		return conf, nil, err
	case cfg.acmeDomains != "":
		// autocert writes its keys 0600 into a 0700 directory; make the
		// directory now, so that it is private before the first
		// certificate, and tighten one left by an earlier run.
		cache := filepath.Join(cfg.data, acmeDir)
		if err := private.Dir(cache); err != nil {
			return nil, nil, err
		}
		if err := private.Tighten(cache); err != nil {
			return nil, nil, err
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cache),
			HostPolicy: autocert.HostWhitelist(strings.Split(cfg.acmeDomains, ",")...),
			Email:      cfg.acmeEmail,
		}
		return m.TLSConfig(), nil, nil
	}
	certs, err := certfile.New(cfg.tlsCert, cfg.tlsKey, log)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{GetCertificate: certs.GetCertificate}, certs, nil
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
