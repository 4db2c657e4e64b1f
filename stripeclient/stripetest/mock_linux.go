package stripetest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills stripe-mock if the test process dies without StopMock.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
