//go:build unix

package benchcap

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user + system) the process has used,
// for benchmarks that report CPU per operation: on a shared machine it
// moves far less than wall-clock time.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
