//go:build !unix

package client_test

import "time"

// processCPU is unknown here: rates per CPU-second are not reported.
func processCPU() time.Duration { return 0 }
