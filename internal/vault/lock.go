package vault

import (
	"context"
	"path/filepath"
	"sync"
	"time"
)

// Unlock attempts are serialized: the attempt file's read-modify-write,
// the KDF and the result (success, a new delay, a wipe) happen under one
// lock per vault directory, so that concurrent guesses (threads, or
// several processes) count as guesses in a row: the delay applies from the
// 6th whatever their timing. Within a process a mutex per directory
// serializes them; across processes, where the platform has it, an
// exclusive flock on lockFile (lock_flock.go). Elsewhere (Windows, js,
// wasip1, ...) only the in-process mutex applies (lock_other.go).
const (
	// lockFile is the empty file whose flock serializes unlock attempts.
	lockFile = "vault.lock"
	// lockPoll is how often a waiting attempt retries the file lock.
	lockPoll = 5 * time.Millisecond
)

// dirLocks holds one mutex per vault directory (by absolute path).
var dirLocks sync.Map // string -> *sync.Mutex

// lockAttempts waits until this goroutine holds dir's attempt lock, or
// ctx ends. The returned function releases it.
func lockAttempts(ctx context.Context, dir string) (release func(), err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	m, _ := dirLocks.LoadOrStore(abs, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	for !mu.TryLock() {
		if err := sleep(ctx, lockPoll); err != nil {
			return nil, err
		}
	}
	unlockFile, err := lockDirFile(ctx, dir)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return func() { unlockFile(); mu.Unlock() }, nil
}

// sleep waits d, or returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
