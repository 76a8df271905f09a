package server

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"parley.dev/internal/blob"
	"parley.dev/internal/store"
)

// ErrBackupPostgres is returned by Backup for a relay on PostgreSQL, whose
// backups are pg_dump's job (docs/operations.md).
var ErrBackupPostgres = errors.New("server: the store is PostgreSQL: back it up with pg_dump (docs/operations.md)")

// Backup writes to w a tar archive of the relay's embedded data, consistent
// while the relay runs: DatabaseFile and the blob store's metadata as
// SQLite snapshots (each one transaction's view), then the blob files. A
// blob file that disappears between the two (expired or erased) is left
// out; a file with no metadata is removed when the restored relay starts.
// Keys and certificates in DataDir are not included: keep them apart.
func (s *Server) Backup(ctx context.Context, w io.Writer) error {
	if s.StoreDSN != "" && !strings.HasPrefix(s.StoreDSN, "sqlite:") && strings.Contains(s.StoreDSN, "://") {
		return ErrBackupPostgres
	}
	tmp, err := os.MkdirTemp(s.DataDir, ".backup-")
	if err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	tw := tar.NewWriter(w)
	dbs := [][2]string{
		{s.storeDSN(), DatabaseFile},
		{filepath.Join(s.DataDir, BlobsDir, blob.MetaFile), path.Join(BlobsDir, blob.MetaFile)},
	}
	for i, db := range dbs {
		if _, err := os.Stat(strings.TrimPrefix(db[0], "sqlite:")); i > 0 && errors.Is(err, fs.ErrNotExist) {
			continue // no blob store yet
		}
		snap := filepath.Join(tmp, fmt.Sprint(i))
		if err := store.SnapshotSQLite(ctx, strings.TrimPrefix(db[0], "sqlite:"), snap); err != nil {
			return fmt.Errorf("server: backup: %w", err)
		}
		if err := addFile(tw, snap, db[1]); err != nil {
			return err
		}
	}
	if err := addBlobFiles(tw, s.DataDir); err != nil {
		return err
	}
	return tw.Close()
}

// addBlobFiles adds every blob file under DataDir/blobs/data.
func addBlobFiles(tw *tar.Writer, dataDir string) error {
	root := filepath.Join(dataDir, BlobsDir)
	return filepath.WalkDir(filepath.Join(root, "data"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone since it was listed
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		err = addFile(tw, p, filepath.ToSlash(rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

func addFile(tw *tar.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("server: backup %s: %w", name, err)
	}
	return nil
}

// Restore unpacks a Backup archive into dataDir, which must be empty or
// absent, and then drops every one-time prekey from the restored store:
// keys handed out after the backup was taken must not be handed out
// again. It returns how many were dropped. Only the archive's own names
// (DatabaseFile, the blob store's metadata and files) are accepted, as
// regular files; anything else fails the restore.
func Restore(ctx context.Context, r io.Reader, dataDir string) (int64, error) {
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("server: restore: %s is not empty", dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, fmt.Errorf("server: restore: %w", err)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("server: restore: %w", err)
		}
		if err := restoreFile(tr, hdr, dataDir); err != nil {
			return 0, err
		}
	}
	db := filepath.Join(dataDir, DatabaseFile)
	if _, err := os.Stat(db); err != nil {
		return 0, fmt.Errorf("server: restore: the archive holds no %s", DatabaseFile)
	}
	return store.DropOneTimePreKeys(ctx, db)
}

// restoreFile writes one archive entry, refusing any name a Backup does
// not write.
func restoreFile(tr *tar.Reader, hdr *tar.Header, dataDir string) error {
	name := path.Clean(hdr.Name)
	ok := name == DatabaseFile || name == path.Join(BlobsDir, blob.MetaFile) ||
		strings.HasPrefix(name, path.Join(BlobsDir, "data")+"/")
	if !ok || hdr.Typeflag != tar.TypeReg || strings.Contains(name, "..") || path.IsAbs(name) {
		return fmt.Errorf("server: restore: unexpected entry %q in the archive", hdr.Name)
	}
	dst := filepath.Join(dataDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("server: restore: %w", err)
	}
	_, err = io.Copy(f, tr)
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}
