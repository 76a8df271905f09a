// Package private creates and tightens files that only their owner may
// read: the relay's database and its write-ahead log, TLS and token keys,
// the ACME cache. Files get mode 0600 and directories 0700 whatever the
// process's umask, and existing ones with group or world access lose it.
//
// A mode is a second line of defence: the data directory being 0700 is
// what keeps other local users out of every file inside it, including
// files a library creates with its own mode for a moment before they are
// tightened.
package private

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of what this package creates.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// groupOther is every permission bit beyond the owner's.
const groupOther fs.FileMode = 0o077

// Dir creates path (and missing parents) with mode 0700, or tightens an
// existing directory to 0700.
func Dir(path string) error {
	if err := os.MkdirAll(path, DirMode); err != nil {
		return fmt.Errorf("private: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("private: %s is not a directory", path)
	}
	return chmod(path, fi.Mode(), DirMode)
}

// Touch creates path empty with mode 0600 if it does not exist, and sets
// an existing file's mode to 0600, leaving its content alone. It does not
// follow a symbolic link at path.
func Touch(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, FileMode)
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	defer f.Close()
	return setMode(f)
}

// WriteFile writes data to path atomically, with mode 0600: it writes a
// temporary file beside path, syncs it and renames it over path, so that
// a crash leaves the old file or the new one, never a torn or wider one.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	tmp := f.Name()
	err = fill(f, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("private: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// CreateNew creates path, which must not exist, with mode 0600 and
// writes data to it.
func CreateNew(path string, data []byte) error {
	return CreateNewFrom(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// CreateNewFrom creates path, which must not exist (nor be a symbolic
// link), with mode 0600, has write fill it, syncs and closes it. If
// anything fails the file is removed.
func CreateNewFrom(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, FileMode)
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	if err := fill(f, write); err != nil {
		os.Remove(path)
		return fmt.Errorf("private: %w", err)
	}
	return nil
}

// fill gives a new file mode 0600, has write fill it, syncs and closes
// it.
func fill(f *os.File, write func(io.Writer) error) error {
	err := setMode(f)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Tighten removes group and world permissions from root and everything
// under it. Symbolic links are neither followed nor changed.
func Tighten(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != root {
				return nil // removed while walking
			}
			return fmt.Errorf("private: %w", err)
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("private: %w", err)
		}
		return chmod(path, fi.Mode(), fi.Mode().Perm()&^groupOther)
	})
}

// setMode gives an open file exactly mode 0600 (the umask may have taken
// owner bits away, or an existing file may have had more).
func setMode(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	if fi.Mode().Perm() != FileMode {
		if err := f.Chmod(FileMode); err != nil {
			return fmt.Errorf("private: %w", err)
		}
	}
	return nil
}

func chmod(path string, have, want fs.FileMode) error {
	if have.Perm() == want.Perm() {
		return nil
	}
	if err := os.Chmod(path, want.Perm()); err != nil {
		return fmt.Errorf("private: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	defer d.Close()
	d.Sync()
	return nil
}
