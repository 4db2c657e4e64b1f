//go:build !linux

package stripetest

import "os/exec"

// setDeathSignal has no portable equivalent outside Linux; StopMock stops stripe-mock.
func setDeathSignal(*exec.Cmd) {}
