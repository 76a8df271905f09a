package main

import (
	"flag"
	"net"
	"net/netip"
	"strings"

	"parley.dev/server"
)

// adminOff is the --admin-listen value that turns the admin console off.
const adminOff = "off"

// adminTCP starts an --admin-listen value for loopback TCP with mutual TLS.
const adminTCP = "tcp://"

// adminSocketName is the admin console's default unix socket, in --data.
const adminSocketName = "admin.sock"

// adminFlags are the admin console's settings: --admin-listen,
// --admin-client-ca and --admin-token-key.
type adminFlags struct {
	listen   string // "" (DATA/admin.sock), a socket path, tcp://127.0.0.1:PORT or "off"
	clientCA string // PEM CA certificates that admin clients' certificates chain to (tcp)
	tokenKey string // private token key, for "parleyd admin token"
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.listen, "admin-listen", "", "")
	fs.StringVar(&a.clientCA, "admin-client-ca", "", "")
	fs.StringVar(&a.tokenKey, "admin-token-key", "", "")
}

func (a *adminFlags) check(acme bool) error {
	if !strings.HasPrefix(a.listen, adminTCP) {
		if a.clientCA != "" {
			return usagef("--admin-client-ca is for --admin-listen tcp://127.0.0.1:PORT")
		}
		return nil
	}
	if _, err := adminTCPAddr(a.listen); err != nil {
		return err
	}
	switch {
	case a.clientCA == "":
		return usagef("--admin-listen %s needs --admin-client-ca: admin clients must present a certificate", a.listen)
	case acme:
		return usagef("--admin-listen tcp:// needs a certificate for 127.0.0.1 (--dev or --tls-cert), not --acme-domain; use the admin socket")
	}
	return nil
}

// adminTCPAddr parses tcp://IP:PORT, refusing an address beyond loopback.
func adminTCPAddr(v string) (string, error) {
	hostPort := strings.TrimPrefix(v, adminTCP)
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", usagef("--admin-listen %q: %v", v, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return "", usagef("--admin-listen %q: the admin console listens on a loopback IP address only", v)
	}
	return hostPort, nil
}

// apply gives the relay the token signing key, if any.
func (a *adminFlags) apply(s *server.Server) error {
	if a.tokenKey == "" {
		return nil
	}
	key, err := readPrivateKey(a.tokenKey)
	if err != nil {
		return err
	}
	s.TokenSigningKey = key
	return nil
}
