package coalesce

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/xts"
)

// walVFS is WrapWAL over the operating system's VFS, with a count of the
// writes that reach the WAL files, registered as "coalesce-wal-test".
var (
	walOnce  sync.Once
	walCount = &probeVFS{VFS: vfs.Find("")}
)

const walVFS = "coalesce-wal-test"

func openWAL(t *testing.T, path string, pragmas string) *sqlite3.Conn {
	t.Helper()
	return openWALQuery(t, path, "", pragmas)
}

// openWALQuery is openWAL with more URI parameters (query: "&k=v...").
func openWALQuery(t *testing.T, path, query, pragmas string) *sqlite3.Conn {
	t.Helper()
	walOnce.Do(func() { vfs.Register(walVFS, WrapWAL(walCount)) })
	c, err := sqlite3.Open("file:" + path + "?vfs=" + walVFS + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Exec("PRAGMA journal_mode=WAL; " + pragmas); err != nil {
		t.Fatal(err)
	}
	return c
}

// probeVFS counts the writes to its WAL files, and fails them while fail
// is set.
type probeVFS struct {
	vfs.VFS
	writes atomic.Int64
	fail   atomic.Bool
}

func (v *probeVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(v.VFS, name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &probeFile{File: f, vfs: v}, flags, nil
}

func (v *probeVFS) count() int { return int(v.writes.Load()) }

type probeFile struct {
	vfs.File
	vfs *probeVFS
}

func (f *probeFile) WriteAt(p []byte, off int64) (int, error) {
	if f.vfs.fail.Load() {
		return 0, errors.New("no space left on device")
	}
	f.vfs.writes.Add(1)
	return f.File.WriteAt(p, off)
}

func scalar(t *testing.T, c *sqlite3.Conn, query string) string {
	t.Helper()
	st, _, err := c.Prepare(query)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("%s: no row (%v)", query, st.Err())
	}
	return st.ColumnText(0)
}

// A commit of many pages reaches the WAL in one write, not two per page,
// also when SQLite pads the WAL to a sector after the commit frame
// (psow=0, as beneath the vault's XTS, which hides POWERSAFE_OVERWRITE).
func TestWALCommitIsOneWrite(t *testing.T) {
	for _, psow := range []string{"1", "0"} {
		t.Run("psow="+psow, func(t *testing.T) {
			c := openWALQuery(t, filepath.Join(t.TempDir(), "db"), "&psow="+psow, "PRAGMA synchronous=FULL")
			if err := c.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				before := walCount.count()
				// 20 rows of 1 KiB: several table pages and their parent.
				if err := c.Exec("INSERT INTO t (v) SELECT randomblob(1024) FROM generate_series(1, 20)"); err != nil {
					t.Fatal(err)
				}
				if n := walCount.count() - before; n != 1 {
					t.Fatalf("a commit made %d writes to the WAL, want 1", n)
				}
			}
		})
	}
}

// A transaction larger than SQLite's page cache writes frames before its
// commit and rewrites some of them; a rolled-back one leaves frames that no
// commit covers. With the vault's settings (one connection, exclusive
// locking, synchronous=FULL) the database stays whole, before and after
// reopening.
func TestWALSpillRewriteAndRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	const pragmas = "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=FULL; PRAGMA cache_size=4"
	w := openWAL(t, path, pragmas)
	if err := w.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB); CREATE INDEX tv ON t (v)"); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(`BEGIN; INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 400);
		UPDATE t SET v = randomblob(700) WHERE k % 3 = 0; COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(`BEGIN; INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 400); ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(`INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 100)`); err != nil {
		t.Fatal(err)
	}
	wantIntact(t, w, "500")
	w.Close()
	wantIntact(t, openWAL(t, path, pragmas), "500")
}

// WrapWAL wraps a database's WAL file and no other.
func TestWALOnlyWALFiles(t *testing.T) {
	v := WrapWAL(baseVFS{})
	for _, c := range []struct {
		flags vfs.OpenFlag
		want  bool
	}{
		{vfs.OPEN_MAIN_DB, false},
		{vfs.OPEN_MAIN_JOURNAL, false},
		{vfs.OPEN_TEMP_DB, false},
		{vfs.OPEN_WAL, true},
	} {
		f, _, err := v.Open("db", c.flags|vfs.OPEN_READWRITE|vfs.OPEN_CREATE)
		if err != nil {
			t.Fatal(err)
		}
		if _, wrapped := f.(*File); wrapped != c.want {
			t.Errorf("flags %#x: wrapped %v, want %v", c.flags, wrapped, c.want)
		}
	}
}

// baseVFS opens in-memory files.
type baseVFS struct{}

func (baseVFS) Open(_ string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	return &base{}, flags, nil
}
func (baseVFS) Delete(string, bool) error                   { return nil }
func (baseVFS) Access(string, vfs.AccessFlag) (bool, error) { return false, nil }
func (baseVFS) FullPathname(name string) (string, error)    { return name, nil }

// A write that fails (a full disk) fails its commit and loses nothing
// else, on the vault's stack (WrapWAL over XTS over Wrap): SQLite writes
// the tail of a commit's last padding frame after the commit's sync, so a
// run can hold bytes of a commit already reported durable. Once writes
// succeed again every commit does, and every row of every other commit is
// there, before and after reopening. (With the run dropped on failure,
// the later commits failed and 50 of the 100 rows were left.)
func TestFailedWriteLosesNothing(t *testing.T) {
	fv := &probeVFS{VFS: vfs.Find("")}
	const name = "coalesce-fail-test"
	vfs.Register(name, WrapWAL(xts.Wrap(Wrap(fv), nil)))
	path := filepath.Join(t.TempDir(), "db")
	open := func() *sqlite3.Conn {
		t.Helper()
		c, err := sqlite3.Open("file:" + path + "?vfs=" + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Exec("PRAGMA hexkey='" + strings.Repeat("ab", 32) + "'; PRAGMA locking_mode=EXCLUSIVE; " +
			"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const insert = "INSERT INTO t (v) SELECT randomblob(300) FROM generate_series(1, 10)"
	c := open()
	if err := c.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := c.Exec(insert); err != nil {
			t.Fatal(err)
		}
	}
	fv.fail.Store(true)
	if err := c.Exec(insert); err == nil {
		t.Fatal("a commit succeeded while every WAL write failed")
	}
	fv.fail.Store(false)
	for i := range 5 {
		if err := c.Exec(insert); err != nil {
			t.Fatalf("commit %d after the disk had room again: %v", i, err)
		}
	}
	wantIntact(t, c, "100")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wantIntact(t, open(), "100")
}

// wantIntact fails unless c's database passes SQLite's integrity check
// and its table t holds rows rows.
func wantIntact(t *testing.T, c *sqlite3.Conn, rows string) {
	t.Helper()
	if got := scalar(t, c, "PRAGMA integrity_check"); got != "ok" {
		t.Fatalf("integrity_check: %s", got)
	}
	if got := scalar(t, c, "SELECT count(*) FROM t"); got != rows {
		t.Fatalf("count: %s, want %s", got, rows)
	}
}
