//go:build unix

package private_test

import (
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"

	"parley.dev/internal/private"
	"parley.dev/internal/private/privatetest"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreatedPrivateUnderUmask022(t *testing.T) {
	privatetest.Umask(t, 0o022)
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := private.Dir(dir); err != nil {
		t.Fatal(err)
	}
	write := filepath.Join(dir, "written")
	if err := private.WriteFile(write, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	touched := filepath.Join(dir, "touched")
	if err := private.Touch(touched); err != nil {
		t.Fatal(err)
	}
	created := filepath.Join(dir, "created")
	if err := private.CreateNew(created, []byte("key")); err != nil {
		t.Fatal(err)
	}
	if err := private.CreateNew(created, []byte("other")); err == nil {
		t.Error("CreateNew replaced an existing file")
	}
	for path, want := range map[string]fs.FileMode{
		filepath.Join(root, "a"): 0o700, dir: 0o700, write: 0o600, touched: 0o600, created: 0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	if b, _ := os.ReadFile(write); string(b) != "secret" {
		t.Errorf("WriteFile wrote %q", b)
	}
	// Nothing is left beside the file.
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("directory holds %d entries, want 3", len(ents))
	}
}

func TestExistingAreTightened(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "data")
	sub := filepath.Join(dir, "acme")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	loose := map[string]fs.FileMode{
		filepath.Join(dir, "db"):      0o644,
		filepath.Join(dir, "db-wal"):  0o666,
		filepath.Join(sub, "cert"):    0o640,
		filepath.Join(dir, "ownonly"): 0o400,
	}
	for p, m := range loose {
		if err := os.WriteFile(p, []byte("x"), m); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, m) // past the umask
	}
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, nil, 0o644)
	os.Chmod(outside, 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := private.Dir(dir); err != nil {
		t.Fatal(err)
	}
	if err := private.Tighten(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		dir: 0o700, sub: 0o700,
		filepath.Join(dir, "db"): 0o600, filepath.Join(dir, "db-wal"): 0o600,
		filepath.Join(sub, "cert"): 0o600, filepath.Join(dir, "ownonly"): 0o400,
		outside: 0o644, // a link's target is not the data directory's to change
	}
	for p, m := range want {
		if got := mode(t, p); got != m {
			t.Errorf("%s: mode %o, want %o", p, got, m)
		}
	}
	// Touch tightens an existing file without touching its content.
	if err := private.Touch(filepath.Join(dir, "ownonly")); err != nil {
		t.Fatal(err)
	}
	if got, b := mode(t, filepath.Join(dir, "ownonly")), must(os.ReadFile(filepath.Join(dir, "ownonly"))); got != 0o600 || string(b) != "x" {
		t.Errorf("Touch: mode %o, content %q", got, b)
	}
	if err := private.Touch(filepath.Join(dir, "link")); err == nil {
		t.Error("Touch followed a symbolic link")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestSQLite: a database opened by the name SQLite returns, at a path with
// characters URIs treat specially, is created at that path and keeps its
// WAL and shared-memory file 0600, including the WAL SQLite deletes and
// recreates when a fresh database first switches to WAL mode.
func TestSQLite(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := t.TempDir()
	path := filepath.Join(dir, "a b+c?d#e%41&f=g.db")
	uri, err := private.SQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{`PRAGMA journal_mode = WAL`, `CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if got := mode(t, path+suffix); got != 0o600 {
			t.Errorf("%q: mode %o, want 600", filepath.Base(path+suffix), got)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("%d files in the directory, want the database and its two", len(ents))
	}
	if u, _ := private.SQLite("file:x.db?mode=ro"); u != "file:x.db?mode=ro" {
		t.Errorf("a URI was rewritten to %q", u)
	}
}

// TestCreateNewFromFailureLeavesNothing: a write that fails leaves no
// file, and an existing file is neither overwritten nor removed.
func TestCreateNewFromFailureLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export")
	boom := errors.New("boom")
	err := private.CreateNewFrom(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed write left the file: %v", err)
	}
	os.WriteFile(path, []byte("keep"), 0o600)
	if err := private.CreateNew(path, []byte("new")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Fatalf("the existing file became %q", b)
	}
}
