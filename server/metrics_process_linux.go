package server

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// processStats are the process figures /metrics reports; -1 means unknown.
type processStats struct {
	cpu      time.Duration
	rss, fds int64
}

// readProcess reads the process's CPU time (getrusage), resident memory
// (/proc/self/statm) and open file descriptors (/proc/self/fd).
func readProcess() processStats {
	p := processStats{cpu: -1, rss: -1, fds: -1}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		p.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		// "size resident shared ...", in pages.
		if f := bytes.Fields(b); len(f) > 1 {
			if pages, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				p.rss = pages * int64(os.Getpagesize())
			}
		}
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			p.fds = int64(len(names)) - 1 // the directory being read
		}
	}
	return p
}
