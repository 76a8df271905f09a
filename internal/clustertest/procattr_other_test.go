//go:build !linux

package clustertest

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent's; here a
// node may outlive a test binary that dies without its cleanups.
func dieWithTest(*exec.Cmd) {}
