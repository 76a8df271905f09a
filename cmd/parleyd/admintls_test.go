package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/server"
)

// writeCert writes a certificate for name, signed by parent (self-signed
// if nil), and its key, as PEM files under dir.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey ed25519.PrivateKey) (*x509.Certificate, ed25519.PrivateKey) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(nil, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestAdminTCP: over loopback TCP the console answers a client whose
// certificate chains to --admin-client-ca, and no one else.
func TestAdminTCP(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "adminca", nil, nil)
	writeCert(t, dir, "operator", ca, caKey)
	writeCert(t, dir, "stranger", nil, nil)
	data := filepath.Join(dir, "data")
	p := startRun(t, "--dev", "--data", data, "--listen", "127.0.0.1:0",
		"--admin-listen", "tcp://127.0.0.1:0", "--admin-client-ca", filepath.Join(dir, "adminca.pem"))
	if !strings.HasPrefix(p.adminAt, "https://127.0.0.1:") {
		t.Fatalf("admin console at %q", p.adminAt)
	}
	admin := func(who string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"admin", "--url", p.adminAt, "--cert", filepath.Join(dir, who+".pem"),
			"--key", filepath.Join(dir, who+".key"), "--ca", filepath.Join(data, server.DevCAFile), "audit", "verify"}, &out, io.Discard)
		return out.String(), err
	}
	if out, err := admin("operator"); err != nil || !strings.Contains(out, "verified") {
		t.Errorf("operator: %q %v", out, err)
	}
	if _, err := admin("stranger"); err == nil {
		t.Error("a client certificate from another CA was accepted")
	}
	if _, err := os.Stat(filepath.Join(data, adminSocketName)); err == nil {
		t.Error("a socket too, with --admin-listen tcp://")
	}
}
