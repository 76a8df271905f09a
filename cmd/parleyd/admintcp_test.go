package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/server"
)

// writeCert makes a certificate for cn, signed by parent (self-signed if
// nil), and writes it and its key as PEM files dir/name.pem and
// dir/name-key.pem.
func writeCert(t *testing.T, dir, name string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestAdminOverTCP: a loopback TCP admin console serves only clients
// with a certificate from --admin-client-ca.
func TestAdminOverTCP(t *testing.T) {
	tmp := t.TempDir()
	caCert, caKey := writeCert(t, tmp, "adminca", true, nil, nil)
	writeCert(t, tmp, "operator", false, caCert, caKey)
	writeCert(t, tmp, "stranger", false, nil, nil) // not from the admin CA
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := l.Addr().String()
	l.Close()
	dir := filepath.Join(tmp, "pd")
	startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0",
		"--admin-listen", "tcp://"+adminAddr, "--admin-client-ca", filepath.Join(tmp, "adminca.pem"))
	if _, err := os.Stat(filepath.Join(dir, adminSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a TCP admin console also made the socket: %v", err)
	}
	call := func(who string) (string, error) {
		out, err := admin(t, dir, []string{"users"}, "--url", "https://"+adminAddr, "--client-cert", filepath.Join(tmp, who+".pem"),
			"--client-key", filepath.Join(tmp, who+"-key.pem"), "--ca", filepath.Join(dir, server.DevCAFile))
		return out, err
	}
	if out, err := call("operator"); err != nil || !strings.HasPrefix(out, "USER") {
		t.Fatalf("operator: %v\n%s", err, out)
	}
	if _, err := call("stranger"); err == nil {
		t.Error("a client certificate from another CA was let in")
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	pool.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", adminAddr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13})
	if err == nil {
		_, err = io.WriteString(conn, "GET /admin/v1/users HTTP/1.1\r\nHost: x\r\n\r\n")
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	if err == nil {
		t.Error("a client without a certificate was answered")
	}
}

// TestAdminListenRefuses: the console never listens beyond loopback, and
// never on TCP without client certificates.
func TestAdminListenRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"--admin-listen", "tcp://0.0.0.0:9444", "--admin-client-ca", "ca.pem"},
		{"--admin-listen", "tcp://192.0.2.1:9444", "--admin-client-ca", "ca.pem"},
		{"--admin-listen", "tcp://127.0.0.1:9444"},
		{"--admin-client-ca", "ca.pem"},
	} {
		_, err := parseFlags(append([]string{"--dev", "--data", t.TempDir()}, args...), io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	_ = context.Background
}
