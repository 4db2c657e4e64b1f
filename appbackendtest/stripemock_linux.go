package appbackendtest

import (
	"os/exec"
	"syscall"
)

// mockDiesWithProcess: the kernel kills stripe-mock when the test process exits, so
// one can serve every test.
const mockDiesWithProcess = true

// dieWithProcess has the kernel kill cmd when the test process dies, however it dies.
func dieWithProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
