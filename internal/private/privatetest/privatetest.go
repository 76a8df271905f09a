//go:build unix

// Package privatetest helps tests check that files are private: it sets
// the umask an operator's shell would, and checks the modes of a
// directory tree.
package privatetest

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// Umask sets the process's umask for the rest of t. The umask is
// process-wide: tests that use it must not run in parallel with others.
func Umask(t testing.TB, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// Check fails t unless dir and every directory under it are 0700 and
// every file 0600, as `stat -c %a` shows them, and returns how many
// entries it checked (dir included). Entries removed while it walks (a
// WAL SQLite deletes at close) are skipped.
func Check(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				t.Errorf("%s: %v", path, err)
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
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
	return n
}
