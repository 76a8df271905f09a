package blob_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"parley.dev/internal/blob"
	"parley.dev/internal/blob/blobtest"
	"parley.dev/internal/pgtest"
)

func TestDisk(t *testing.T) {
	root := t.TempDir()
	blobtest.Run(t, blobtest.Backend{
		Open: func(t *testing.T, key string, opt blob.Options) blob.Store {
			s, err := blob.OpenDisk(t.Context(), filepath.Join(root, key), opt)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Residue: func(t *testing.T, key string, id blob.ID) bool {
			h := hex.EncodeToString(id[:])
			_, err := os.Stat(filepath.Join(root, key, "data", h[:2], h))
			return err == nil
		},
	})
}

func TestDiskRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.OpenDisk(t.Context(), dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	id := blob.NewID()
	h := hex.EncodeToString(id[:])
	orphan := filepath.Join(dir, "data", h[:2], h)
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	os.WriteFile(orphan, []byte("left by a crash"), 0o600)
	s, err = blob.OpenDisk(t.Context(), dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(orphan); err == nil {
		t.Fatal("a file without metadata survived OpenDisk")
	}
}

func TestPostgres(t *testing.T) {
	admin, base := pgtest.Admin(t)
	var mu sync.Mutex
	var schemas []string
	t.Cleanup(func() {
		for _, s := range schemas {
			admin.Exec(`DROP SCHEMA IF EXISTS ` + s + ` CASCADE`)
		}
	})
	blobtest.Run(t, blobtest.Backend{
		Open: func(t *testing.T, key string, opt blob.Options) blob.Store {
			if _, err := admin.Exec(`CREATE SCHEMA IF NOT EXISTS ` + key); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			schemas = append(schemas, key)
			mu.Unlock()
			s, err := blob.OpenPostgres(t.Context(), pgtest.WithSearchPath(t, base, key), opt)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Residue: func(t *testing.T, key string, id blob.ID) bool {
			var n int
			if err := admin.QueryRow(`SELECT count(*) FROM `+key+`.blob_chunks WHERE blob_id = $1`, id[:]).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n > 0
		},
	})
}
