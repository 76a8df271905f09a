package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"parley.dev/internal/private"
)

// Files DevTLS keeps in its directory.
const (
	// DevCAFile is the development CA's certificate (PEM): what clients of
	// a dev relay trust.
	DevCAFile     = "ca.pem"
	devCAKeyFile  = "ca-key.pem"
	devCertFile   = "server.pem"
	devKeyFile    = "server-key.pem"
	devCAValidity = 10 * 365 * 24 * time.Hour
	devValidity   = 365 * 24 * time.Hour
	// devRenewBefore: a server certificate expiring sooner is replaced.
	devRenewBefore = 30 * 24 * time.Hour
)

// DevHosts are the names every development certificate covers.
var DevHosts = []string{"localhost", "127.0.0.1", "::1"}

// DevTLS returns the TLS configuration of a development relay. The first
// call creates, in dir, a local CA (DevCAFile, with its key beside it) and
// a server certificate it signs for DevHosts plus extra hosts; later calls
// reuse them, issuing a new server certificate only when the hosts change
// or it nears expiry. Clients trust filepath.Join(dir, DevCAFile).
//
// Every file is written with mode 0600 and dir is made 0700, whatever the
// umask. The CA key never leaves dir. Never use a dev CA in
// production: anyone holding its key can impersonate the relay.
func DevTLS(dir string, extraHosts ...string) (*tls.Config, error) {
	if err := private.Dir(dir); err != nil {
		return nil, fmt.Errorf("server: dev TLS: %w", err)
	}
	ca, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return nil, fmt.Errorf("server: dev TLS: %w", err)
	}
	hosts := append(slices.Clone(DevHosts), extraHosts...)
	cert, err := loadOrIssueServerCert(dir, ca, caKey, hosts)
	if err != nil {
		return nil, fmt.Errorf("server: dev TLS: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, DevCAFile), filepath.Join(dir, devCAKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, errors.New("dev CA key is not ECDSA")
		}
		return pair.Leaf, key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Parley development CA " + randomLabel()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(devCAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := createCert(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	// The key is written first: a crash in between leaves no CA without key.
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func loadOrIssueServerCert(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, devCertFile), filepath.Join(dir, devKeyFile)
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && usable(pair.Leaf, ca, hosts) {
		return pair, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(devValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := createCert(tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// usable reports whether leaf is signed by ca, covers hosts and is not
// about to expire.
func usable(leaf, ca *x509.Certificate, hosts []string) bool {
	if leaf == nil || leaf.CheckSignatureFrom(ca) != nil || time.Until(leaf.NotAfter) < devRenewBefore {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func createCert(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

// writePEM writes one PEM block to path atomically with mode 0600. The
// certificates are public, but nothing in the data directory needs to be
// readable by anyone but the relay's user.
func writePEM(path, typ string, der []byte) error {
	return private.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func randomLabel() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// relayTLS derives the listener's configuration from the operator's: TLS
// 1.3 only, HTTP/1.1 (the WebSocket upgrade needs it) instead of h2, and
// no session tickets; other protocols (such as ACME's "acme-tls/1") are
// kept.
//
// Why no tickets: a ticket carries the session's resumption secret sealed
// under a ticket key that crypto/tls keeps in memory for up to a week and
// that every resumption depends on. Clients hold one long WebSocket and
// authenticate each connection with a device signature anyway, so
// resumption would save one handshake per reconnect (well under a
// millisecond of server CPU) at the price of that key, of tickets that a
// client may present more than once in the clear (linking its connections
// across networks for an observer), and of keys to share between relay
// nodes. Every connection makes a full handshake with fresh
// (EC)DHE instead.
func relayTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.MinVersion = tls.VersionTLS13
	c.MaxVersion = 0
	c.SessionTicketsDisabled = true
	// One write, one record (up to 16 KiB): the WebSocket layer coalesces
	// frames itself, and small first records would cost a system call each.
	c.DynamicRecordSizingDisabled = true
	protos := slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == "h2" || p == "http/1.1" })
	c.NextProtos = append([]string{"http/1.1"}, protos...)
	return c
}
