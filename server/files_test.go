//go:build unix

package server_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"parley.dev/server"
)

// withUmask sets the process's umask for the test, as an operator's shell
// would. The umask is process-wide; this package's tests do not run in
// parallel.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// checkPrivate fails unless dir is 0700 and everything in it is 0600 (a
// directory 0700), as `stat -c %a D/*` shows them.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking (a closing WAL)
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if n < 2 {
		t.Errorf("%s holds %d entries: nothing was checked", dir, n)
	}
}

// TestFilesArePrivate: under umask 022, in a data directory created 0755
// holding a world-readable file, the relay's database, WAL, shared-memory
// file and dev CA files are 0600 and the directory 0700, while it runs
// and after it stops.
func TestFilesArePrivate(t *testing.T) {
	withUmask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, server.DatabaseFile+"-wal")
	if err := os.WriteFile(stray, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, func(s *server.Server) { s.DataDir = dir })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	mustStore(t, bob.Dial(t), alice.Addr, msgID(1), []byte("hello"))
	aws := alice.Dial(t)
	ack(t, aws, drain(t, aws)[0].Seq)
	for _, name := range []string{server.DatabaseFile, server.DatabaseFile + "-wal", server.DatabaseFile + "-shm", server.DevCAFile, "ca-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("expected %s: %v", name, err)
		}
	}
	checkPrivate(t, dir)
	r.Stop(t)
	checkPrivate(t, dir)
}

// TestDevTLSFilesArePrivate: DevTLS alone (as parleyd --dev runs it before
// the relay starts) writes nothing readable by others.
func TestDevTLSFilesArePrivate(t *testing.T) {
	withUmask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "dev")
	if _, err := server.DevTLS(dir); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dir)
	os.Chmod(dir, 0o755)
	if _, err := server.DevTLS(dir, "relay.test"); err != nil { // reissues the certificate
		t.Fatal(err)
	}
	checkPrivate(t, dir)
}
