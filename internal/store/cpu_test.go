package store

import (
	"time"

	"parley.dev/internal/benchcap"
)

// processCPU returns the CPU time this process has used (zero where the
// platform cannot tell).
func processCPU() time.Duration { return benchcap.ProcessCPU() }
