// Package coalesce wraps an SQLite VFS so that runs of adjacent writes
// reach the operating system as one write.
//
// The vault's encrypting VFS (ncruces's xts) writes one 512-byte sector
// per call, so a 4 KiB page cost eight pwrite(2) calls and a commit of a
// thousand records tens of thousands: in a burst of sends, about a quarter
// of the SDK's CPU went to those system calls. A coalescing file keeps the
// bytes of consecutive writes in memory and writes them in one call when
// the run breaks (a write elsewhere, or the run reaches MaxRun bytes) and
// before anything that must see the file as written: Sync, Truncate, a
// read the run does not answer, an unlock, Close.
//
// Durability is unchanged: SQLite makes a transaction durable by syncing
// the file, and Sync first writes every pending byte. A write that fails
// when it is finally made fails the Sync (or the read, Truncate, Unlock or
// Close) that made it, which SQLite handles as the failure of that commit
// or checkpoint, and the run stays pending: it may also hold bytes of an
// earlier commit that SQLite counts as written (the tail of a padding frame
// it writes after the commit's sync), so the next operation that writes
// the run out tries again, and nothing is lost once writes succeed (a disk
// that was full). Writing a failed commit's bytes later is harmless: SQLite
// writes over them or ignores them. Only Close, which must release the
// buffer, drops a run it could not write.
//
// Wrap is only for a database that one connection owns (the vault: one
// connection, exclusive locking). Tried on the relay's store (one writer,
// a pool of readers, WAL), it let a reader look for the frames of a commit
// before they were written, and the read came back short (BENCHMARKS.md,
// stop 21): a commit with synchronous=NORMAL, which the store makes for
// what may be lost in a crash, publishes its frames in the WAL index
// without a sync, and so before the run that held them had been written.
//
// WrapWAL coalesces the writes to WAL files only, where SQLite appends
// each frame as two writes (a 24-byte header, then the page), and leaves
// the database file's writes as they are. It is for the same case as Wrap:
// one connection, exclusive locking, synchronous=FULL, so that SQLite syncs
// the WAL at every commit and no other connection looks at it; the vault
// puts it above its XTS layer. It is not safe for a database several
// connections share with synchronous=NORMAL commits: a commit published in
// the WAL index before its held frames are written can be read short, a
// rolled-back spill left in a run can later be written over another
// connection's committed frames, and a rewritten commit header can stay
// held without a sync (stop 21 met the first; a review in stop 23
// reproduced the others against an earlier WrapWAL that ended a run at
// each commit frame).
//
// WrapSharedWAL is WrapWAL for such a database (the relay's store), under
// conditions that close those three holes: every commit is
// synchronous=FULL, so that its Sync writes the run before SQLite
// publishes the commit, and, the database file reporting
// POWERSAFE_OVERWRITE, SQLite writes nothing of the commit after that
// Sync (it would write the tail of a padding frame); a rollback drops the
// run instead of writing it later (DiscardOnRollback), and so does Close.
// Between transactions a shared file holds nothing
// (TestSharedWALRollbackDoesNotOverwrite reproduces the second hole).
//
// A coalescing file holds what its base holds. The vault uses both: Wrap
// beneath its encrypting VFS, where the bytes kept are ciphertext, and
// WrapWAL above it, where the buffer holds plaintext WAL frames (as
// SQLite's page cache holds the same pages) until the file closes, which
// zeroes it.
package coalesce

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// MaxRun is the most bytes a file keeps unwritten: a file holds one
// buffer of this size from its first write on, reused by every run.
const MaxRun = 256 << 10

// Wrap returns a VFS whose files coalesce adjacent writes into base's.
func Wrap(base vfs.VFS) vfs.VFS { return &coalescingVFS{VFS: base} }

// WrapWAL returns a VFS whose WAL files, and only those, coalesce
// adjacent writes into base's. One connection only, synchronous=FULL.
func WrapWAL(base vfs.VFS) vfs.VFS { return &coalescingVFS{VFS: base, walOnly: true} }

// WrapSharedWAL returns a VFS whose WAL files coalesce adjacent writes for
// a database that several connections and processes share (the relay's
// store: one writer, a pool of readers, an operator's tools). No other
// connection may see a held byte, so it is safe only while:
//   - every transaction that writes the WAL either commits with
//     synchronous=FULL, whose Sync writes everything held before SQLite
//     publishes the commit in the WAL index (SQLite rewrites checksums and
//     pads before that Sync, never after it, once the file reports
//     POWERSAFE_OVERWRITE: a WAL file that does not is not wrapped), or
//   - rolls back, after which the bytes it held are dropped, never written:
//     another connection may have appended its own frames where they were
//     meant to go. Each connection must call PrepareShared, which sets
//     both, and Close drops what a connection closed in mid-transaction
//     held.
//
// Between transactions a file therefore holds nothing.
func WrapSharedWAL(base vfs.VFS) vfs.VFS {
	return &coalescingVFS{VFS: base, walOnly: true, shared: true}
}

// PrepareShared readies a connection to a database whose WAL
// WrapSharedWAL wraps: its commits are synchronous=FULL (SQLite's default
// in WAL mode is NORMAL, whose commits publish frames that the file may
// still hold), and its rollbacks drop what its WAL file held
// (DiscardOnRollback). Call it on every connection as it opens, before any
// transaction; the connection must not lower synchronous afterwards, nor
// set a rollback hook of its own (it would replace this one). Only the
// main database is covered: an attached one must not be on such a VFS.
func PrepareShared(c *sqlite3.Conn) error {
	DiscardOnRollback(c)
	return c.Exec("PRAGMA synchronous = FULL")
}

// DiscardOnRollback makes every rollback of c's transactions drop what its
// WAL file (of WrapSharedWAL) holds unwritten: the frames of a transaction
// that spilled pages before it rolled back.
func DiscardOnRollback(c *sqlite3.Conn) {
	c.RollbackHook(func() {
		p, err := c.FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
		if f, ok := p.(*File); err == nil && ok && f.shared {
			f.run = f.run[:0]
		}
	})
}

type coalescingVFS struct {
	vfs.VFS
	walOnly bool // wrap WAL files only
	shared  bool // WrapSharedWAL
}

func (c *coalescingVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpen(c.VFS, name, flags)
	if c.shared && err == nil && flags&vfs.OPEN_WAL != 0 {
		return f, flags, nil // no database file to check: see OpenFilename
	}
	return c.wrap(f, flags, err)
}

func (c *coalescingVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(c.VFS, name, flags)
	if c.shared && err == nil && flags&vfs.OPEN_WAL != 0 && !powersafe(name) {
		return f, flags, nil // SQLite would pad the WAL after the sync
	}
	return c.wrap(f, flags, err)
}

// powersafe reports whether the database file of a WAL named name reports
// POWERSAFE_OVERWRITE, which is what makes SQLite not pad the WAL to a
// sector after a commit's sync (it writes the padding's tail after it).
func powersafe(name *vfs.Filename) bool {
	db := name.DatabaseFile()
	return db != nil && db.DeviceCharacteristics()&vfs.IOCAP_POWERSAFE_OVERWRITE != 0
}

func (c *coalescingVFS) wrap(f vfs.File, flags vfs.OpenFlag, err error) (vfs.File, vfs.OpenFlag, error) {
	if err != nil || c.walOnly && flags&vfs.OPEN_WAL == 0 {
		return f, flags, err
	}
	return &File{File: f, shared: c.shared}, flags, nil
}

// File is a file of a coalescing VFS. Like every SQLite file it is used
// by one connection at a time.
type File struct {
	vfs.File
	run    []byte // bytes written at off and not yet passed to File
	off    int64
	shared bool // of WrapSharedWAL: what Close finds held is dropped
}

// Held is how many bytes f holds unwritten.
func (f *File) Held() int { return len(f.run) }

// WriteAt extends the pending run when p continues it or lies within it;
// otherwise it writes the run out and starts a new one with p. A run that
// p would take past MaxRun first writes out its part up to the last sector
// boundary (flushAligned).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	end := f.off + int64(len(f.run))
	if len(f.run) > 0 && off >= f.off && off+int64(len(p)) <= end {
		copy(f.run[off-f.off:], p)
		return len(p), nil
	}
	if len(f.run) > 0 && off == end && len(p) < MaxRun {
		if len(f.run)+len(p) > MaxRun {
			if err := f.flushAligned(); err != nil {
				return 0, err
			}
		}
		if len(f.run)+len(p) <= MaxRun {
			f.run = append(f.run, p...)
			return len(p), nil
		}
	}
	if err := f.flush(); err != nil {
		return 0, err
	}
	if len(p) >= MaxRun {
		return f.File.WriteAt(p, off)
	}
	if f.run == nil {
		f.run = make([]byte, 0, MaxRun)
	}
	f.run, f.off = append(f.run[:0], p...), off
	return len(p), nil
}

// flushAligned writes out the run up to its last boundary of the base
// file's sectors and keeps the rest, so that a long run (a large commit's
// WAL frames, which are not sector-sized) is not cut inside a sector: XTS
// beneath would read and rewrite that sector once for each part. If the
// write fails the whole run stays pending, as with flush.
func (f *File) flushAligned() error {
	sector := int64(max(f.File.SectorSize(), 1))
	k := (f.off+int64(len(f.run)))/sector*sector - f.off
	if k <= 0 {
		return nil
	}
	if _, err := f.File.WriteAt(f.run[:k], f.off); err != nil {
		return err
	}
	f.run = f.run[:copy(f.run, f.run[k:])]
	f.off += k
	return nil
}

// ReadAt answers from the pending run when it holds all of p; otherwise
// it writes the run out first.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if len(f.run) > 0 && off >= f.off && off+int64(len(p)) <= f.off+int64(len(f.run)) {
		return copy(p, f.run[off-f.off:]), nil
	}
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

// flush passes the pending run to the base file. If that fails the run
// stays pending, to be written by the next flush (see the package doc).
func (f *File) flush() error {
	if len(f.run) == 0 {
		return nil
	}
	if _, err := f.File.WriteAt(f.run, f.off); err != nil {
		return err
	}
	f.run = f.run[:0]
	return nil
}

// Sync writes the pending run and syncs the base file.
func (f *File) Sync(flags vfs.SyncFlag) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Sync(flags)
}

// Size counts the pending run as written.
func (f *File) Size() (int64, error) {
	n, err := f.File.Size()
	if err == nil && len(f.run) > 0 {
		n = max(n, f.off+int64(len(f.run)))
	}
	return n, err
}

// Truncate writes the pending run, then truncates.
func (f *File) Truncate(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// Unlock writes the pending run before another process may look.
func (f *File) Unlock(l vfs.LockLevel) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Unlock(l)
}

// Close writes the pending run (drops it, for WrapSharedWAL: it belongs to
// a transaction that did not commit), zeroes the buffer (above the vault's XTS
// it holds plaintext pages) and closes the base file.
func (f *File) Close() error {
	var err error
	if !f.shared {
		err = f.flush()
	}
	clear(f.run[:cap(f.run)])
	f.run = nil
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// DeviceCharacteristics are the base file's, without batch atomic
// writes, which this wrapper does not pass on.
func (f *File) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return f.File.DeviceCharacteristics() &^ vfs.IOCAP_BATCH_ATOMIC
}

// The optional methods of the base file, passed on.

func (f *File) Unwrap() vfs.File                   { return f.File }
func (f *File) SharedMemory() vfs.SharedMemory     { return vfsutil.WrapSharedMemory(f.File) }
func (f *File) LockState() vfs.LockLevel           { return vfsutil.WrapLockState(f.File) }
func (f *File) PersistWAL() bool                   { return vfsutil.WrapPersistWAL(f.File) }
func (f *File) SetPersistWAL(keep bool)            { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *File) PowersafeOverwrite() bool           { return vfsutil.WrapPowersafeOverwrite(f.File) }
func (f *File) SetPowersafeOverwrite(psow bool)    { vfsutil.WrapSetPowersafeOverwrite(f.File, psow) }
func (f *File) ChunkSize(size int)                 { vfsutil.WrapChunkSize(f.File, size) }
func (f *File) SizeHint(size int64) error          { return vfsutil.WrapSizeHint(f.File, size) }
func (f *File) HasMoved() (bool, error)            { return vfsutil.WrapHasMoved(f.File) }
func (f *File) CheckpointStart()                   { vfsutil.WrapCheckpointStart(f.File) }
func (f *File) CheckpointDone()                    { vfsutil.WrapCheckpointDone(f.File) }
func (f *File) BusyHandler(handler func() bool)    { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *File) Pragma(n, v string) (string, error) { return vfsutil.WrapPragma(f.File, n, v) }

// Overwrite, SyncSuper and CommitPhaseTwo act on the file as written.

func (f *File) Overwrite() error {
	if err := f.flush(); err != nil {
		return err
	}
	return vfsutil.WrapOverwrite(f.File)
}

func (f *File) SyncSuper(super string) error {
	if err := f.flush(); err != nil {
		return err
	}
	return vfsutil.WrapSyncSuper(f.File, super)
}

func (f *File) CommitPhaseTwo() error {
	if err := f.flush(); err != nil {
		return err
	}
	return vfsutil.WrapCommitPhaseTwo(f.File)
}
