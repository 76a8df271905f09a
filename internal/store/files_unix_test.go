//go:build unix

package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/private/privatetest"
	"parley.dev/internal/store"
)

// TestFilesPrivate: under umask 022 the database, its WAL and its shared
// memory file are created 0600, on a fresh database and on a reopened one,
// and an existing file readable by others is tightened.
func TestFilesPrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	if err := os.WriteFile(path+"-shm", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		s, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustUser(t, s, addr.UserID(fmt.Sprint("u", round)))
		for _, suffix := range []string{"", "-wal", "-shm"} {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("round %d: %s has mode %o, want 600", round, filepath.Base(path+suffix), fi.Mode().Perm())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
