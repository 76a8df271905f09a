package coalesce

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// base is an in-memory file that counts the writes that reach it and can
// be made to fail them.
type base struct {
	vfsutil.SliceFile
	writes, syncs int
	fail          error
	synced        []byte // the contents at the last Sync
}

func (b *base) WriteAt(p []byte, off int64) (int, error) {
	if b.fail != nil {
		return 0, b.fail
	}
	b.writes++
	return b.SliceFile.WriteAt(p, off)
}

// SectorSize is 512 bytes, XTS's unit of encryption (over the operating
// system's VFS, XTS reports 4096, the larger of the two).
func (b *base) SectorSize() int { return 512 }

func (b *base) Sync(vfs.SyncFlag) error {
	b.syncs++
	b.synced = bytes.Clone(b.SliceFile)
	return nil
}

func TestAdjacentWritesAreOne(t *testing.T) {
	b := &base{}
	f := &File{File: b}
	sector := bytes.Repeat([]byte{7}, 512)
	for i := range 64 { // 32 KiB in 512-byte sectors, as XTS writes a commit
		if _, err := f.WriteAt(sector, int64(i*512)); err != nil {
			t.Fatal(err)
		}
	}
	if b.writes != 0 {
		t.Fatalf("%d writes reached the file before Sync", b.writes)
	}
	if err := f.Sync(0); err != nil {
		t.Fatal(err)
	}
	if b.writes != 1 || len(b.synced) != 64*512 {
		t.Fatalf("Sync made %d writes and synced %d bytes; want 1 and %d", b.writes, len(b.synced), 64*512)
	}
}

func TestSyncCoversEveryWrite(t *testing.T) {
	b := &base{}
	f := &File{File: b}
	f.WriteAt([]byte("abc"), 0)
	f.WriteAt([]byte("xyz"), 4096) // breaks the run: "abc" is written
	if err := f.Sync(0); err != nil {
		t.Fatal(err)
	}
	if string(b.synced[:3]) != "abc" || string(b.synced[4096:]) != "xyz" {
		t.Fatalf("synced %q", b.synced)
	}
}

func TestRunLimit(t *testing.T) {
	b := &base{}
	f := &File{File: b}
	chunk := make([]byte, 64<<10)
	for i := range 2 * MaxRun / len(chunk) {
		f.WriteAt(chunk, int64(i*len(chunk)))
		if len(f.run) > MaxRun {
			t.Fatalf("%d bytes pending; MaxRun is %d", len(f.run), MaxRun)
		}
	}
	if b.writes != 1 {
		t.Fatalf("%d writes before Sync; want 1 (the first full run)", b.writes)
	}
}

// A run that reaches MaxRun is cut at a sector boundary, also when the
// writes are not sector-sized (WAL frames: a 24-byte header, then a page),
// and the bytes past the cut stay in the run.
func TestFullRunIsCutAtASector(t *testing.T) {
	b := &aligned{t: t}
	f := &File{File: b}
	const frame = 24 + 4096
	off := int64(32) // after the WAL header
	var want []byte
	want = append(want, make([]byte, off)...)
	for i := range 3 * MaxRun / frame {
		for _, n := range []int{24, 4096} {
			p := bytes.Repeat([]byte{byte(i), byte(n)}, n/2)
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			want = append(want, p...)
			off += int64(n)
		}
	}
	if b.writes < 2 {
		t.Fatalf("%d writes before Sync, want at least 2", b.writes)
	}
	if err := f.Sync(0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.synced, want) {
		t.Fatalf("the file holds %d bytes unlike the %d written", len(b.synced), len(want))
	}
}

// aligned is a base that fails its test when a write other than the first
// starts off a sector boundary.
type aligned struct {
	base
	t *testing.T
}

func (a *aligned) WriteAt(p []byte, off int64) (int, error) {
	if a.writes > 0 && off%512 != 0 {
		a.t.Errorf("write %d of %d bytes starts at %d, inside a sector", a.writes, len(p), off)
	}
	return a.base.WriteAt(p, off)
}

// A write that fails when the run is finally made fails the Sync that
// made it, without a sync, and the run stays pending: the next Sync
// writes it (SQLite may count some of its bytes as written already).
func TestFailedRunFailsSyncAndStays(t *testing.T) {
	b := &base{}
	f := &File{File: b}
	f.WriteAt([]byte("kept"), 0)
	b.fail = errors.New("disk full")
	if err := f.Sync(0); !errors.Is(err, b.fail) {
		t.Fatalf("Sync: %v, want %v", err, b.fail)
	}
	if b.syncs != 0 {
		t.Fatal("the file was synced after its run failed")
	}
	f.WriteAt([]byte("!"), 4) // the run goes on
	b.fail = nil
	if err := f.Sync(0); err != nil || string(b.synced) != "kept!" {
		t.Fatalf("Sync after the failure: %v, synced %q; want kept!", err, b.synced)
	}
}

func TestSizeCountsTheRun(t *testing.T) {
	f := &File{File: &base{}}
	f.WriteAt([]byte("12345"), 100)
	if n, err := f.Size(); err != nil || n != 105 {
		t.Fatalf("Size = %d, %v; want 105", n, err)
	}
}

// TestAgainstPlainFile runs random operations on a coalescing file and on
// a plain one: every read and the final contents must agree.
func TestAgainstPlainFile(t *testing.T) {
	for seed := range uint64(200) {
		ops := make([]byte, 400)
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		compareOps(t, ops)
	}
}

func FuzzAgainstPlainFile(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, ops []byte) { compareOps(t, ops) })
}

// compareOps reads ops three bytes at a time: an operation, an offset
// (in 512-byte steps, or adjacent to the last write) and a length. One
// kind of write is 29 times longer (up to 270 KiB), so that runs reach
// MaxRun; every write's bytes differ from the last one's.
func compareOps(t *testing.T, ops []byte) {
	t.Helper()
	plain, b := &vfsutil.SliceFile{}, &base{}
	f := &File{File: b}
	var next int64 // the end of the last write
	for i := 0; i+2 < len(ops); i += 3 {
		off := int64(ops[i+1]) * 512
		if ops[i+1]%2 == 0 {
			off = next
		}
		n := int(ops[i+2])*37 + 1
		op := ops[i] % 7
		if op == 6 {
			op, n = 0, n*29
		}
		switch op {
		case 0, 1, 2:
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(i + j*7)
			}
			plain.WriteAt(p, off)
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			next = off + int64(n)
		case 3:
			want, got := make([]byte, n), make([]byte, n)
			wn, werr := plain.ReadAt(want, off)
			gn, gerr := f.ReadAt(got, off)
			if wn != gn || !bytes.Equal(want, got) || (werr == io.EOF) != (gerr == io.EOF) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v; the plain file read %d, %v", n, off, gn, gerr, wn, werr)
			}
		case 4:
			size := off
			plain.Truncate(size)
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
		case 5:
			ws, _ := plain.Size()
			gs, _ := f.Size()
			if ws != gs {
				t.Fatalf("Size = %d; the plain file's is %d", gs, ws)
			}
		}
	}
	if err := f.Sync(0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.synced, *plain) {
		t.Fatalf("after Sync the file holds %d bytes unlike the plain file's %d", len(b.synced), len(*plain))
	}
}

// Close leaves no copy of what the file held in its buffer.
func TestCloseZeroesTheBuffer(t *testing.T) {
	b := &base{}
	f := &File{File: b}
	f.WriteAt(bytes.Repeat([]byte{7}, 4096), 0)
	buf := f.run[:cap(f.run)]
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.SliceFile[:4096], bytes.Repeat([]byte{7}, 4096)) {
		t.Fatal("Close did not write the run")
	}
	if i := bytes.IndexByte(buf, 7); i >= 0 {
		t.Fatalf("the buffer still holds written bytes at %d after Close", i)
	}
}
