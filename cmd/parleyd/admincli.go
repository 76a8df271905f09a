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
	"os"
	"path/filepath"
	"strings"
	"time"

	"parley.dev/server"
)

// adminTimeout bounds one admin console request.
const adminTimeout = time.Minute

// maxAdminResponse bounds what the CLI reads of an answer.
const maxAdminResponse = 16 << 20

// adminConn is the CLI's connection to a relay's admin console.
type adminConn struct {
	base  string // "http://admin" over a socket, or https://127.0.0.1:PORT
	c     *http.Client
	json  bool   // print the API's JSON rather than a table
	where string // the socket's path, for a hint when it does not answer
}

// adminConnect makes the connection the global admin flags describe:
// --url with mutual TLS, else --socket, else DATA/admin.sock.
func adminConnect(args []string) (*adminConn, []string, error) {
	fs := flag.NewFlagSet("parleyd admin", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	sock := fs.String("socket", "", "")
	url := fs.String("url", "", "")
	cert, key, ca := fs.String("cert", "", ""), fs.String("key", "", ""), fs.String("ca", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := parseWithEnv(fs, args); err != nil {
		return nil, nil, err
	}
	a := &adminConn{json: *asJSON}
	if *url == "" {
		path := *sock
		if path == "" {
			path = filepath.Join(*data, adminSocketName)
		}
		a.base, a.where = "http://admin", path
		a.c = &http.Client{Timeout: adminTimeout, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", path)
			}}}
		return a, fs.Args(), nil
	}
	conf, err := adminClientTLS(*cert, *key, *ca)
	if err != nil {
		return nil, nil, err
	}
	a.base = strings.TrimSuffix(*url, "/")
	a.c = &http.Client{Timeout: adminTimeout, Transport: &http.Transport{TLSClientConfig: conf}}
	return a, fs.Args(), nil
}

// adminClientTLS is the TLS of --url: a client certificate, and the CA
// that verifies the relay's.
func adminClientTLS(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || key == "" || ca == "" {
		return nil, usagef("admin --url needs --cert, --key and --ca")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	pemData, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s: no PEM certificate", ca)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

// call sends one request; a non-2xx answer is an error carrying the
// console's message. body is JSON-encoded unless it is already []byte.
func (a *adminConn) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := a.c.Do(req)
	if err != nil && a.where != "" {
		return nil, fmt.Errorf("admin console: %w (is the relay running, with its admin socket at %s? see --data, --socket)", err, a.where)
	}
	if err != nil {
		return nil, fmt.Errorf("admin console: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e server.AdminError
		if json.Unmarshal(out, &e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return nil, fmt.Errorf("admin: %s", e.Error)
	}
	return out, nil
}

// interspersed parses fs's flags wherever they stand among args and
// returns the other arguments.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
