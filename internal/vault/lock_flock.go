//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDirFile takes an exclusive flock on dir's lock file (created 0600
// if missing), waiting for another process's attempt to finish.
func lockDirFile(ctx context.Context, dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("vault: attempt lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("vault: attempt lock: %w", err)
		}
		if err := sleep(ctx, lockPoll); err != nil {
			f.Close()
			return nil, err
		}
	}
}
