package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// adminConn is how `parleyd admin` reaches a running relay's admin
// console: its unix socket, or loopback TCP with a client certificate.
type adminConn struct {
	hc   *http.Client
	base string
	json bool
	out  io.Writer
}

// adminFlags are the connection flags every admin command takes.
func adminFlags(fs *flag.FlagSet) (socket, data, url, cert, key, ca *string, asJSON *bool) {
	socket = fs.String("socket", "", "")
	data = fs.String("data", "parleyd-data", "")
	url = fs.String("url", "", "")
	cert = fs.String("client-cert", "", "")
	key = fs.String("client-key", "", "")
	ca = fs.String("ca", "", "")
	asJSON = fs.Bool("json", false, "")
	return
}

// runAdmin is "parleyd admin COMMAND ...".
func runAdmin(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		io.WriteString(stdout, adminUsage)
		return nil
	}
	name := args[0]
	if (name == "audit" || name == "policy") && len(args) > 1 {
		name, args = name+" "+args[1], args[1:]
	}
	cmd, ok := adminCommands[name]
	if !ok {
		return usagef("admin: unknown command %q (run \"parleyd admin --help\")", name)
	}
	fs := flag.NewFlagSet("parleyd admin "+name, flag.ContinueOnError)
	socket, data, u, cert, key, ca, asJSON := adminFlags(fs)
	extra := cmd.flags(fs)
	if err := parseWithEnv(fs, args[1:]); err != nil {
		if err == flag.ErrHelp {
			io.WriteString(stdout, adminUsage)
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != cmd.nargs {
		return usagef("usage: parleyd admin %s %s", name, cmd.usage)
	}
	c, err := dialAdmin(*socket, *data, *u, *cert, *key, *ca)
	if err != nil {
		return err
	}
	c.json, c.out = *asJSON, stdout
	return cmd.run(ctx, c, fs.Args(), extra)
}

func dialAdmin(socket, data, u, cert, key, ca string) (*adminConn, error) {
	if u == "" {
		if socket == "" {
			socket = filepath.Join(data, adminSocket)
		}
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", socket)
		}}
		return &adminConn{hc: &http.Client{Transport: tr, Timeout: time.Minute}, base: "http://admin"}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "https" || cert == "" || key == "" || ca == "" {
		return nil, usagef("admin: --url must be https://HOST:PORT, with --client-cert, --client-key and --ca")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("admin: client certificate: %w", err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("admin: --ca %s: no certificate in it", ca)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{pair}}
	return &adminConn{hc: &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: time.Minute},
		base: strings.TrimSuffix(u, "/")}, nil
}

// call makes one admin request and decodes its JSON answer into out.
func (c *adminConn) call(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin console unreachable (is parleyd running with its admin listener here?): %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin console: HTTP %d", resp.StatusCode)
	}
	return json.Unmarshal(data, out)
}

// show prints v as JSON (--json), or text as it is.
func (c *adminConn) show(v any, text string) error {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(c.out, text)
	return err
}
