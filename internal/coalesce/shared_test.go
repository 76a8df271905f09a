package coalesce

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// sharedVFS is WrapSharedWAL over a counting VFS, registered as
// "coalesce-shared-test".
var (
	sharedOnce  sync.Once
	sharedCount = &probeVFS{VFS: vfs.Find("")}
)

const sharedVFS = "coalesce-shared-test"

// openShared opens a connection of a shared database at path, with the
// relay store's settings; discard says whether it calls DiscardOnRollback.
func openShared(t *testing.T, path, query string, discard bool, pragmas string) *sqlite3.Conn {
	t.Helper()
	sharedOnce.Do(func() { vfs.Register(sharedVFS, WrapSharedWAL(sharedCount)) })
	c, err := sqlite3.Open("file:" + path + "?vfs=" + sharedVFS + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if discard {
		DiscardOnRollback(c)
	}
	if err := c.Exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; " + pragmas); err != nil {
		t.Fatal(err)
	}
	return c
}

// walHeld is how many bytes c's WAL file holds unwritten (0 if it is not
// wrapped).
func walHeld(t *testing.T, c *sqlite3.Conn) int {
	t.Helper()
	p, err := c.FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := p.(*File); ok {
		return f.Held()
	}
	return 0
}

// A commit of many pages reaches the WAL in one write and leaves nothing
// held; a WAL whose file lacks POWERSAFE_OVERWRITE (SQLite would pad it
// after the sync) is not wrapped.
func TestSharedWALCommitIsOneWrite(t *testing.T) {
	for _, psow := range []string{"1", "0"} {
		t.Run("psow="+psow, func(t *testing.T) {
			c := openShared(t, filepath.Join(t.TempDir(), "db"), "&psow="+psow, true, "")
			if err := c.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
				t.Fatal(err)
			}
			before := sharedCount.count()
			if err := c.Exec("INSERT INTO t (v) SELECT randomblob(1024) FROM generate_series(1, 20)"); err != nil {
				t.Fatal(err)
			}
			n := sharedCount.count() - before
			if want1 := psow == "1"; (n == 1) != want1 {
				t.Errorf("a commit made %d writes to the WAL (psow=%s)", n, psow)
			}
			if h := walHeld(t, c); h != 0 {
				t.Errorf("%d bytes held after the commit", h)
			}
		})
	}
}

// A transaction that spilled frames into the WAL and rolled back must not
// write them later: here another connection (as another process would)
// commits into the same part of the WAL meanwhile, then the first writes
// again. Without DiscardOnRollback the rolled-back frames were written
// over the other connection's commit.
func TestSharedWALRollbackDoesNotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	a := openShared(t, path, "", true, "PRAGMA cache_size=4; PRAGMA wal_autocheckpoint=0")
	b := openShared(t, path, "", true, "PRAGMA wal_autocheckpoint=0")
	// Checkpointed, so that rolling back reloads pages from the database
	// file and reads nothing of the WAL (a read would write the run out).
	if err := a.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB); CREATE INDEX tv ON t (v); " +
		"PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	if err := a.Exec(`BEGIN; INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 60)`); err != nil {
		t.Fatal(err)
	}
	if walHeld(t, a) == 0 {
		t.Fatal("the transaction spilled nothing into the WAL: nothing to test")
	}
	if err := a.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if h := walHeld(t, a); h != 0 {
		t.Errorf("%d bytes of the rolled-back transaction still held", h)
	}
	if err := b.Exec(`INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 100)`); err != nil {
		t.Fatal(err)
	}
	if err := a.Exec(`INSERT INTO t (v) SELECT randomblob(700) FROM generate_series(1, 10)`); err != nil {
		t.Fatal(err)
	}
	wantIntact(t, b, "110")
	wantIntact(t, a, "110")
	a.Close()
	b.Close()
	wantIntact(t, openShared(t, path, "", true, ""), "110")
}
