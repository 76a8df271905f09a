package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"parley.dev/internal/private"
	"parley.dev/server"
)

// adminDialTimeout bounds the probe of an existing socket at startup.
const adminDialTimeout = time.Second

// serveAdmin opens the admin console's listener (--admin-listen) and
// serves s's admin API on it. It returns nil, "" with --admin-listen off.
func serveAdmin(cfg *config, s *server.Server, errc chan<- error) (*http.Server, string, error) {
	l, where, err := adminListener(cfg, s.TLSConfig)
	if err != nil || l == nil {
		return nil, "", err
	}
	hs := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin: %w", err)
		}
	}()
	return hs, where, nil
}

// adminListener is the listener --admin-listen names, and its description.
func adminListener(cfg *config, relayTLS *tls.Config) (net.Listener, string, error) {
	v := cfg.admin.listen
	switch {
	case v == adminOff:
		return nil, "", nil
	case strings.HasPrefix(v, adminTCP):
		l, err := adminTLSListener(v, cfg.admin.clientCA, relayTLS)
		if err != nil {
			return nil, "", err
		}
		return l, "https://" + l.Addr().String(), nil
	case v == "":
		if err := private.Dir(cfg.data); err != nil {
			return nil, "", err
		}
		v = filepath.Join(cfg.data, adminSocketName)
	}
	l, err := adminSocket(v)
	return l, "unix:" + v, err
}

// adminSocket listens on a unix socket at path, mode 0600, in a directory
// only its owner may write to. A socket left by a relay that is gone is
// removed; one that answers is another relay's, and refused.
func adminSocket(path string) (net.Listener, error) {
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("admin socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, adminDialTimeout); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s: another relay is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// The directory admits only its owner, so the moment between bind and
	// chmod exposes nothing.
	if err := os.Chmod(path, private.FileMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return l, nil
}

// checkSocketDir refuses a directory others may write to (they could
// replace the socket) or that the relay's user does not own.
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

// adminTLSListener listens on loopback TCP with TLS 1.3, the relay's
// certificate and client certificates required and verified against the
// CA file.
func adminTLSListener(v, caFile string, relayTLS *tls.Config) (net.Listener, error) {
	hostPort, err := adminTCPAddr(v)
	if err != nil {
		return nil, err
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--admin-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("--admin-client-ca %s: no PEM certificate", caFile)
	}
	conf := relayTLS.Clone()
	conf.MinVersion, conf.NextProtos = tls.VersionTLS13, nil
	conf.ClientAuth, conf.ClientCAs = tls.RequireAndVerifyClientCert, pool
	l, err := net.Listen("tcp", hostPort)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return tls.NewListener(l, conf), nil
}
