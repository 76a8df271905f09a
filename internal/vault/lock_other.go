//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package vault

import "context"

// lockDirFile does nothing where flock is missing (Windows, js, wasip1,
// plan9, solaris, ...): there only the in-process mutex of lockAttempts
// serializes attempts, and two processes guessing at once on one vault
// may each be counted from the same starting count.
func lockDirFile(context.Context, string) (func(), error) { return func() {}, nil }
