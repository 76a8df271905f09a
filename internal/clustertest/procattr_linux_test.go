package clustertest

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill cmd's process if the test binary dies
// first (a panic, a -timeout), so no node outlives its test.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
