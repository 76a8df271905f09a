package vault

import (
	"fmt"
	"os"
	"path/filepath"
)

// File modes: the vault's files are private to the user.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// writeFileAtomic replaces dir/name with data so that a crash leaves either
// the old or the new content: write a temporary file, fsync it, rename it
// over the old one, fsync the directory.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return fmt.Errorf("vault: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("vault: writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("vault: syncing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return syncDir(dir)
}
