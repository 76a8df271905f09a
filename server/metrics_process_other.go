//go:build !linux

package server

import "time"

// processStats are the process figures /metrics reports; -1 means unknown.
type processStats struct {
	cpu      time.Duration
	rss, fds int64
}

// readProcess knows no process figures outside Linux.
func readProcess() processStats { return processStats{cpu: -1, rss: -1, fds: -1} }
