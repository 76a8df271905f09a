//go:build unix

package vault

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Every test of this package runs under the common umask 022, with which
// files a program creates are world-readable unless it says otherwise.
func init() { syscall.Umask(0o022) }

// wantPrivate fails unless dir is 0700 and every file in it 0600.
func wantPrivate(t *testing.T, dir, when string) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != dirMode {
		t.Errorf("%s: %s is %o, want %o", when, dir, m, dirMode)
	}
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		seen[d.Name()] = true
		if m := info.Mode().Perm(); m != fileMode {
			t.Errorf("%s: %s is %o, want %o", when, d.Name(), m, fileMode)
		}
		return nil
	})
	for _, f := range []string{headerFile, attemptsFile, dbFile} {
		if !seen[f] {
			t.Errorf("%s: no %s", when, f)
		}
	}
}

// TestFilesArePrivate: under umask 022 and in a home made 0755, the vault
// makes its directory 0700 and every file 0600 (header, attempt file,
// lock file, database and its WAL), whatever existed before: a vault
// whose modes were widened is tightened again on Open.
func TestFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	v, err := Create(context.Background(), dir, testPIN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "ns", "k", "v")
	if _, err := os.Stat(filepath.Join(dir, dbFile+"-wal")); err != nil {
		t.Fatalf("no WAL while open: %v", err)
	}
	wantPrivate(t, dir, "after Create, open")
	v.Close()
	Open(context.Background(), dir, otherPIN, Options{}) // makes the lock file
	wantPrivate(t, dir, "closed")

	// Someone widens them all; Open tightens them before reading any.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if path == dir {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	})
	v = mustOpen(t, dir, testPIN, Options{})
	mustPut(t, v, "ns", "k2", "v")
	wantPrivate(t, dir, "after Open of a widened vault")
}
