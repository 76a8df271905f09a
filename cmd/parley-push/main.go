// Command parley-push is the reference push gateway: the small service an
// operator runs between parleyd (--push-gateway, --push-secret) and the
// platforms' notification services, so that the relay never holds FCM or
// APNs credentials.
//
//	parley-push --secret @/etc/parley/push-secret --listen 127.0.0.1:8089
//
// It verifies each request's signature, timestamp and freshness under the
// secret it shares with the relay, reads the body strictly (a platform and
// a token, nothing else) and hands the wake-up to its sender. This build
// has one sender, "log", which logs each wake-up (platform and a short
// hash of the token, never the token) and forwards nothing: FCM and APNs
// cannot be reached from where Parley is built and tested, so no sender
// for them ships untested. A real one implements gateway.Sender
// (internal/push/gateway) and sends a content-free, data-only message.
//
// Plain HTTP is served only on a loopback address (behind a reverse proxy
// on the same host); any other address needs --tls-cert and --tls-key.
// Every flag has a PARLEY_PUSH_* twin in the environment.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"parley.dev/internal/push"
	"parley.dev/internal/push/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "parley-push:", err)
		os.Exit(2)
	}
}

type config struct {
	listen, secret, cert, key, sender string
}

func parse(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("parley-push", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8089", "address to serve on (plain HTTP only on loopback)")
	fs.StringVar(&c.secret, "secret", "", "the secret shared with parleyd's --push-secret, or @FILE (at least 32 bytes)")
	fs.StringVar(&c.cert, "tls-cert", "", "certificate file (PEM) for HTTPS")
	fs.StringVar(&c.key, "tls-key", "", "private key file (PEM) for HTTPS")
	fs.StringVar(&c.sender, "sender", "log", `where wake-ups go: "log" (logs them; this build has no other)`)
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv("PARLEY_PUSH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))); v != "" {
			f.Value.Set(v)
		}
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, c.check()
}

func (c *config) check() error {
	if c.sender != "log" {
		return fmt.Errorf("--sender %q: this build has only \"log\" (FCM and APNs senders implement gateway.Sender)", c.sender)
	}
	if (c.cert == "") != (c.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("--listen: %v", err)
	}
	if ip := net.ParseIP(host); c.cert == "" && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("--listen %s: plain HTTP only on a loopback address; give --tls-cert and --tls-key", c.listen)
	}
	return nil
}

func (c *config) secretBytes() ([]byte, error) {
	s := c.secret
	if name, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--secret: %v", err)
		}
		s = strings.TrimRight(string(b), "\r\n")
	}
	if len(s) < push.MinSecret {
		return nil, fmt.Errorf("--secret must be at least %d bytes, the same as parleyd's --push-secret", push.MinSecret)
	}
	return []byte(s), nil
}

// run serves until ctx ends; ready, if set, hears the bound address.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready func(string)) error {
	c, err := parse(args, getenv, logOut)
	if err != nil {
		return err
	}
	secret, err := c.secretBytes()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	v, err := push.NewVerifier(secret, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           gateway.New(v, gateway.LogSender{Log: log}, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS13},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("parley-push listening", "addr", ln.Addr().String(), "tls", c.cert != "")
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if c.cert != "" {
			errc <- srv.ServeTLS(ln, c.cert, c.key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}
