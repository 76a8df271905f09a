package coalesce

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// walVFS is WrapWAL over the operating system's VFS, with a count of the
// writes that reach the WAL files, registered as "coalesce-wal-test".
var (
	walOnce  sync.Once
	walCount = &countingVFS{VFS: vfs.Find("")}
)

const walVFS = "coalesce-wal-test"

func openWAL(t *testing.T, path string, pragmas string) *sqlite3.Conn {
	t.Helper()
	walOnce.Do(func() { vfs.Register(walVFS, WrapWAL(walCount)) })
	c, err := sqlite3.Open("file:" + path + "?vfs=" + walVFS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Exec("PRAGMA journal_mode=WAL; " + pragmas); err != nil {
		t.Fatal(err)
	}
	return c
}

// countingVFS counts the writes to its WAL files.
type countingVFS struct {
	vfs.VFS
	mu     sync.Mutex
	writes int
}

func (c *countingVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(c.VFS, name, flags)
	if err != nil || flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &countingFile{File: f, vfs: c}, flags, nil
}

func (c *countingVFS) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

type countingFile struct {
	vfs.File
	vfs *countingVFS
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.vfs.mu.Lock()
	f.vfs.writes++
	f.vfs.mu.Unlock()
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

// A commit of many pages reaches the WAL in one write, not two per page.
func TestWALCommitIsOneWrite(t *testing.T) {
	c := openWAL(t, filepath.Join(t.TempDir(), "db"), "PRAGMA synchronous=FULL")
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
}

// A reading connection sees every commit of the one writing connection at
// once, also when SQLite does not sync the WAL at commit
// (synchronous=NORMAL): the run ends at the commit frame. (Not enough for
// several writers or every padding case: see the package doc.)
func TestWALReaderSeesEachCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	w := openWAL(t, path, "PRAGMA synchronous=NORMAL")
	if err := w.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
		t.Fatal(err)
	}
	r := openWAL(t, path, "")
	for i := 1; i <= 50; i++ {
		if err := w.Exec("INSERT INTO t (v) VALUES (randomblob(3000))"); err != nil {
			t.Fatal(err)
		}
		if got := scalar(t, r, "SELECT count(*) || ':' || sum(length(v)) FROM t"); got != fmt.Sprintf("%d:%d", i, 3000*i) {
			t.Fatalf("after commit %d the reader saw %s", i, got)
		}
	}
}

// A transaction larger than SQLite's page cache writes frames before its
// commit and rewrites some of them; a rolled-back one leaves frames that no
// commit covers. The database stays whole, for the writer, for another
// connection, and after every connection has closed.
func TestWALSpillRewriteAndRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	w := openWAL(t, path, "PRAGMA synchronous=FULL; PRAGMA cache_size=4")
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
	r := openWAL(t, path, "")
	for _, c := range []*sqlite3.Conn{w, r} {
		if got := scalar(t, c, "PRAGMA integrity_check"); got != "ok" {
			t.Fatalf("integrity_check: %s", got)
		}
		if got := scalar(t, c, "SELECT count(*) FROM t"); got != "400" {
			t.Fatalf("count: %s, want 400", got)
		}
	}
	w.Close()
	r.Close()
	again := openWAL(t, path, "")
	if got := scalar(t, again, "SELECT count(*) FROM t"); got != "400" {
		t.Fatalf("count after reopening: %s, want 400", got)
	}
}

// On a WAL file of WrapWAL, the page after a commit frame's header ends
// the run; other frames do not.
func TestWALRunEndsAtCommitFrame(t *testing.T) {
	b := &base{}
	f := &File{File: b, commits: true}
	header := func(commit byte) []byte {
		h := make([]byte, frameHeaderLen)
		h[commitSizeAt+3] = commit
		return h
	}
	page := make([]byte, 512)
	const frame = frameHeaderLen + 512
	writes := []struct {
		p    []byte
		off  int64
		want int // writes reached the base after this one
	}{
		{make([]byte, 32), 0, 0}, // the WAL header
		{header(0), 32, 0},
		{page, 32 + frameHeaderLen, 0},
		{header(9), 32 + frame, 0}, // a commit frame's header
		{page, 32 + frame + frameHeaderLen, 1},
		{header(0), 32 + 2*frame, 1},
		{page, 32 + 2*frame + frameHeaderLen, 1},
	}
	for i, w := range writes {
		if _, err := f.WriteAt(w.p, w.off); err != nil {
			t.Fatal(err)
		}
		if b.writes != w.want {
			t.Fatalf("after write %d: %d writes reached the file, want %d", i, b.writes, w.want)
		}
	}
	if len(b.SliceFile) != 32+2*frame {
		t.Fatalf("the commit wrote %d bytes, want %d", len(b.SliceFile), 32+2*frame)
	}
}
