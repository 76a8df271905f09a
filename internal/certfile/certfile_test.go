package certfile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// pair is a self-signed certificate for name and its key, PEM.
type pair struct{ cert, key []byte }

func newPair(t *testing.T, name string) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// write puts cert and key in dir's files, each replaced atomically.
func write(t *testing.T, dir string, cert, key []byte) (string, string) {
	t.Helper()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path string
		b    []byte
	}{{cf, cert}, {kf, key}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return cf, kf
}

// served returns the name on the certificate a fresh handshake with l gets.
func served(t *testing.T, l net.Listener) string {
	t.Helper()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// serve accepts on a TLS listener using r until the test ends.
func serve(t *testing.T, r *Reloader) net.Listener {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return l
}

func TestReloadServesTheNewPair(t *testing.T) {
	dir := t.TempDir()
	a, b := newPair(t, "a.example"), newPair(t, "b.example")
	cf, kf := write(t, dir, a.cert, a.key)
	r, err := New(cf, kf, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := serve(t, r)
	if got := served(t, l); got != "a.example" {
		t.Fatalf("served %q", got)
	}
	write(t, dir, b.cert, b.key)
	if got := served(t, l); got != "a.example" {
		t.Fatalf("served %q before Reload", got)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, l); got != "b.example" {
		t.Fatalf("served %q after Reload, want the new pair", got)
	}
}

func TestBrokenPairKeepsTheOld(t *testing.T) {
	dir := t.TempDir()
	a, b := newPair(t, "a.example"), newPair(t, "b.example")
	cf, kf := write(t, dir, a.cert, a.key)
	r, err := New(cf, kf, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := serve(t, r)
	for name, files := range map[string][2][]byte{
		"a key that does not match": {b.cert, a.key},
		"a truncated certificate":   {b.cert[:len(b.cert)/2], b.key},
		"an empty key":              {b.cert, nil},
	} {
		write(t, dir, files[0], files[1])
		if err := r.Reload(); err == nil {
			t.Errorf("%s: reloaded", name)
		}
		if got := served(t, l); got != "a.example" {
			t.Errorf("%s: served %q, want the old certificate", name, got)
		}
	}
	if _, err := New(filepath.Join(dir, "missing.pem"), kf, nil); err == nil {
		t.Error("New with a missing file: no error")
	}
}

func TestWatchPicksUpChangesAndSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		a, b, c := newPair(t, "a.example"), newPair(t, "b.example"), newPair(t, "c.example")
		cf, kf := write(t, dir, a.cert, a.key)
		r, err := New(cf, kf, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := func() string { return r.Certificate().Leaf.Subject.CommonName }
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		hup := make(chan os.Signal, 1)
		go r.Watch(ctx, time.Second, hup)

		// A renewal writing the certificate first: refused at the first
		// look (the key does not match), taken at the next once the key
		// is written too.
		write(t, dir, b.cert, a.key)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if name() != "a.example" {
			t.Fatalf("half-written renewal: serving %q", name())
		}
		write(t, dir, b.cert, b.key)
		time.Sleep(time.Second)
		synctest.Wait()
		if name() != "b.example" {
			t.Fatalf("after the renewal: serving %q", name())
		}

		// A signal reloads at once, with no change the watcher could see
		// needed.
		if err := os.WriteFile(cf, c.cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kf, c.key, 0o600); err != nil {
			t.Fatal(err)
		}
		hup <- os.Interrupt
		synctest.Wait()
		if name() != "c.example" {
			t.Fatalf("after a signal: serving %q", name())
		}
	})
}
