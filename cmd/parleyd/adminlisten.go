package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"parley.dev/server"
)

// adminSocket is the admin console's default unix socket in --data.
const adminSocket = "admin.sock"

// adminAddr is where --admin-listen puts the admin console: a unix socket
// path, a loopback TCP address (with client certificates), or nowhere.
type adminAddr struct {
	off      bool
	socket   string // unix socket path
	tcp      string // host:port on loopback
	clientCA string // PEM file of the CAs of admin client certificates (tcp)
}

// parseAdminListen reads --admin-listen: "" (the default socket in
// data), "off", "unix:PATH" or a path, or "tcp://127.0.0.1:PORT".
func parseAdminListen(v, data, clientCA string) (adminAddr, error) {
	switch {
	case v == "off":
		return adminAddr{off: true}, nil
	case v == "":
		return adminAddr{socket: filepath.Join(data, adminSocket)}, nil
	case strings.HasPrefix(v, "tcp://"):
		hostport := strings.TrimPrefix(v, "tcp://")
		host, _, err := net.SplitHostPort(hostport)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			return adminAddr{}, usagef("--admin-listen %q: a TCP admin console listens on a loopback address only (tcp://127.0.0.1:PORT)", v)
		}
		if clientCA == "" {
			return adminAddr{}, usagef("--admin-listen %q needs --admin-client-ca: on TCP the console requires client certificates", v)
		}
		return adminAddr{tcp: hostport, clientCA: clientCA}, nil
	}
	return adminAddr{socket: strings.TrimPrefix(v, "unix:")}, nil
}

// listen opens the admin listener; relayTLS serves its certificate on TCP.
func (a adminAddr) listen(relayTLS *tls.Config) (net.Listener, error) {
	if a.socket != "" {
		return listenAdminSocket(a.socket)
	}
	pem, err := os.ReadFile(a.clientCA)
	if err != nil {
		return nil, fmt.Errorf("--admin-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--admin-client-ca %s: no certificate in it", a.clientCA)
	}
	conf := relayTLS.Clone()
	conf.MinVersion = tls.VersionTLS13
	conf.ClientAuth, conf.ClientCAs = tls.RequireAndVerifyClientCert, pool
	conf.NextProtos = []string{"http/1.1"}
	l, err := net.Listen("tcp", a.tcp)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return tls.NewListener(l, conf), nil
}

// listenAdminSocket listens on a unix socket only its owner may use
// (0600), in a directory only the relay's user may write to, replacing a
// stale socket file but not a live one or any other file.
func listenAdminSocket(path string) (net.Listener, error) {
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("admin: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin: %s is in use (another parleyd on this data directory?)", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return l, nil
}

// serveAdmin serves the admin console on l until Shutdown.
func serveAdmin(l net.Listener, s *server.Server, log *slog.Logger, errc chan<- error) *http.Server {
	hs := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)} // refused handshakes, at debug
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin: %w", err)
		}
	}()
	return hs
}

// checkSocketDir refuses a directory others may write to, or that the
// relay's user does not own: whoever may write there could put their own
// socket in the console's place, or take the name first.
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("admin socket directory: %w", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("admin socket directory %s: want a directory only its owner may write to (mode %v)", dir, fi.Mode().Perm())
	}
	return checkOwner(dir, fi)
}
