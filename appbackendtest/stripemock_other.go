//go:build !linux

package appbackendtest

import "os/exec"

// mockDiesWithProcess: nothing portable kills a child with its parent, so each test
// stops the stripe-mock it started.
const mockDiesWithProcess = false

func dieWithProcess(*exec.Cmd) {}
