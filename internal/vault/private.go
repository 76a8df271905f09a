package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The vault's files are private to their user whatever the umask: the
// directory 0700 (dirMode), every file 0600 (fileMode). Create and Open
// tighten a directory or files that allow group or other access (a home
// made 0755 by hand, a copy restored by a backup tool, files left by an
// umask of 022), and log that they did; they do not refuse them. The
// directory is tightened first, so no other user can open a file inside
// while the files are tightened. Files the vault writes itself are created
// 0600; SQLite's database is created empty at 0600 before SQLite opens it,
// and SQLite gives its WAL and journal the database's mode (the "modeof"
// URI parameter, db.go). Only the permission bits are checked: a vault
// directory owned by someone else is the operating system's business.
// Where permission bits mean little (Windows has ACLs; js and wasip1 have
// no shared file system) only the creation modes apply
// (private_other.go).

// vaultFiles are the files a vault directory may hold.
var vaultFiles = append([]string{headerFile, attemptsFile, lockFile, dbFile},
	func() (side []string) {
		for _, s := range dbSideFiles {
			side = append(side, dbFile+s)
		}
		return side
	}()...)

// makePrivate tightens dir and the vault's files in it.
func makePrivate(dir string, log *slog.Logger) error {
	if !permissionBits {
		return nil
	}
	if err := tighten(dir, dirMode, log); err != nil {
		return err
	}
	for _, name := range vaultFiles {
		err := tighten(filepath.Join(dir, name), fileMode, log)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// tighten clears the group and other bits of path's mode, and sets want.
func tighten(path string, want fs.FileMode, log *slog.Logger) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if got := st.Mode().Perm(); got&0o077 != 0 || got != want {
		if err := os.Chmod(path, want); err != nil {
			return fmt.Errorf("vault: making %s private: %w", filepath.Base(path), err)
		}
		log.Warn("vault: tightened permissions", "file", filepath.Base(path), "was", fmt.Sprintf("%o", got), "now", fmt.Sprintf("%o", want))
	}
	return nil
}

// createPrivate creates path empty at fileMode; it must not exist.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return f.Close()
}
