package main

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"parley.dev/server"
)

// copyPair puts dir's dev server certificate and key at cert and key.
func copyPair(t *testing.T, dir, cert, key string) {
	t.Helper()
	for from, to := range map[string]string{"server.pem": cert, "server-key.pem": key} {
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(to+".tmp", to); err != nil {
			t.Fatal(err)
		}
	}
}

// reaches reports whether a fresh client trusting caDir's CA completes a
// handshake and gets /healthz.
func reaches(t *testing.T, caDir, url string) bool {
	t.Helper()
	c := trusting(t, filepath.Join(caDir, server.DevCAFile), 0)
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// eventually waits up to 10 s for ok.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestTLSFilesReload: a replaced pair is served at the next handshake
// (seen by the watcher, or at once on SIGHUP); a broken pair is refused
// and the relay goes on serving the old one.
func TestTLSFilesReload(t *testing.T) {
	old := certPoll
	certPoll = 50 * time.Millisecond
	t.Cleanup(func() { certPoll = old })
	ca1, ca2, ca3 := t.TempDir(), t.TempDir(), t.TempDir() // three unrelated CAs
	for _, d := range []string{ca1, ca2, ca3} {
		if _, err := server.DevTLS(d); err != nil {
			t.Fatal(err)
		}
	}
	files := t.TempDir()
	cert, key := filepath.Join(files, "cert.pem"), filepath.Join(files, "key.pem")
	copyPair(t, ca1, cert, key)
	p := startRun(t, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if !reaches(t, ca1, p.url) {
		t.Fatal("the first pair is not served")
	}

	// Changed on disk: picked up by the watcher.
	copyPair(t, ca2, cert, key)
	eventually(t, "the replaced pair", func() bool { return reaches(t, ca2, p.url) })

	// A broken pair (ca3's certificate with ca2's key), then SIGHUP:
	// refused, the relay keeps serving ca2's pair without a gap.
	b, _ := os.ReadFile(filepath.Join(ca3, "server.pem"))
	if err := os.WriteFile(cert, b, 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for range 10 {
		if !reaches(t, ca2, p.url) {
			t.Fatal("a broken pair interrupted service")
		}
		time.Sleep(certPoll)
	}

	// The matching key arrives, and SIGHUP (or the watcher) takes the pair.
	copyPair(t, ca3, cert, key)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the mended pair", func() bool { return reaches(t, ca3, p.url) })
}

// TestSIGHUPDoesNotStopDev: SIGHUP in the other TLS modes is logged and
// ignored.
func TestSIGHUPDoesNotStopDev(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	if !reaches(t, dir, p.url) {
		t.Fatal("the relay stopped serving after SIGHUP")
	}
}
