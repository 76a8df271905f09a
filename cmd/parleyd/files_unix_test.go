//go:build unix

package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"parley.dev/internal/private/privatetest"
	"parley.dev/server"
)

// modes maps each entry of dir (as `stat -c %a D/*` lists them) to its
// permission bits.
func modes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]fs.FileMode{}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			m[e.Name()] = fi.Mode().Perm()
		}
	}
	return m
}

// TestDataDirIsPrivate is the check: parleyd --dev under umask 022,
// on a data directory made 0755 by someone else, leaves every file in it
// 0600 and every directory 0700.
func TestDataDirIsPrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "pd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "leftover.log"), []byte("x"), 0o644)
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0")
	if code, _ := get(t, trusting(t, filepath.Join(dir, server.DevCAFile), 0), p.url+"/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	check := func(when string) {
		got := modes(t, dir)
		for _, name := range []string{server.DatabaseFile, server.DevCAFile, "ca-key.pem", "server.pem", "server-key.pem"} {
			if _, ok := got[name]; !ok {
				t.Errorf("%s: no %s", when, name)
			}
		}
		privatetest.Check(t, dir)
	}
	check("running")
	p.stop(t)
	check("stopped")
}

// TestACMECacheIsPrivate: the ACME cache directory is made 0700 before the
// first certificate, and one left readable is tightened with its files.
func TestACMECacheIsPrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := t.TempDir()
	cache := filepath.Join(dir, acmeDir)
	os.MkdirAll(cache, 0o755)
	os.WriteFile(filepath.Join(cache, "acme_account+key"), []byte("k"), 0o644)
	cfg, err := parseFlags([]string{"--data", dir, "--acme-domain", "relay.example"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsConfig(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if m := modes(t, dir)[acmeDir]; m != 0o700 {
		t.Errorf("acme directory mode %o, want 700", m)
	}
	if m := modes(t, cache)["acme_account+key"]; m != 0o600 {
		t.Errorf("cached key mode %o, want 600", m)
	}
}

// TestTokenKeysArePrivate: both halves of a token key pair are 0600 under
// umask 022.
func TestTokenKeysArePrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	prefix := filepath.Join(t.TempDir(), "tk")
	if err := run(t.Context(), []string{"token-key", "--out", prefix}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{privateSuffix, publicSuffix} {
		if fi, err := os.Stat(prefix + suffix); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 600", suffix, fi.Mode().Perm(), err)
		}
	}
}
