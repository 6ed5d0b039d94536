//go:build !linux

package cluster

import (
	"os/exec"
	"syscall"
)

// ownGroup leaves process attributes at their defaults where process groups
// are not handled; the control plane is only built for Linux.
func ownGroup() *syscall.SysProcAttr { return nil }

// signalGroup kills the process itself.
func signalGroup(cmd *exec.Cmd, _ int, _ bool) { _ = cmd.Process.Kill() }
