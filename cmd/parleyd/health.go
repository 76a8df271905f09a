package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultHealthTimeout bounds one probe.
const defaultHealthTimeout = 5 * time.Second

// runHealth is "parleyd health": it probes a running relay's /readyz (or
// another URL) and fails unless the answer is 200. A container's base
// image has no curl; its HEALTHCHECK runs this.
//
// Without --url it asks https://127.0.0.1:PORT/readyz, PORT taken from
// --listen (or PARLEY_LISTEN, as the relay read it). Without --ca the
// relay's certificate is not verified, which is allowed only for a
// loopback host: the probe sends nothing but a GET and trusts only the
// status it reads.
func runHealth(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd health", flag.ContinueOnError)
	rawURL := fs.String("url", "", "")
	listen := fs.String("listen", ":8443", "")
	caFile := fs.String("ca", "", "")
	timeout := fs.Duration("timeout", defaultHealthTimeout, "")
	if err := parseSub(fs, args, stdout); err != nil {
		return err
	}
	u, err := healthURL(*rawURL, *listen)
	if err != nil {
		return err
	}
	client, err := healthClient(u, *caFile, *timeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return probe(ctx, client, u, stdout)
}

// healthURL is --url, or the relay's /readyz on loopback at --listen's
// port.
func healthURL(raw, listen string) (*url.URL, error) {
	if raw == "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, usagef("health: --listen %q: %v", listen, err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		raw = "https://" + net.JoinHostPort(host, port) + "/readyz"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, usagef("health: --url %q: want https://HOST:PORT/PATH or http://...", raw)
	}
	return u, nil
}

// healthClient verifies the relay's certificate against --ca, or, on a
// loopback host only, not at all.
func healthClient(u *url.URL, caFile string, timeout time.Duration) (*http.Client, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS13}
	switch {
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("health: no certificate in %s", caFile)
		}
	case u.Scheme == "https" && !isLoopbackHost(u.Hostname()):
		return nil, usagef("health: %s is not loopback: give --ca to verify its certificate", u.Host)
	default:
		// A loopback probe of our own relay: see runHealth.
		conf.InsecureSkipVerify = true
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: conf}}, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// probe GETs u and succeeds on 200.
func probe(ctx context.Context, c *http.Client, u *url.URL, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s: %s %s", u, resp.Status, answer)
	}
	fmt.Fprintf(stdout, "parleyd: %s: %s\n", u, answer)
	return nil
}
