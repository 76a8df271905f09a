//go:build !unix

package benchcap

import "time"

// ProcessCPU returns 0 where getrusage is missing (js/wasm, Windows).
func ProcessCPU() time.Duration { return 0 }
