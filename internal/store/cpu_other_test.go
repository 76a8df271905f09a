//go:build !unix

package store

import "time"

// processCPU is unavailable here; the CPU metric then reads zero.
func processCPU() time.Duration { return 0 }
