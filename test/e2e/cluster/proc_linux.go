//go:build linux

package cluster

import (
	"os/exec"
	"syscall"
)

// ownGroup puts a child in a process group of its own, so that stopping it
// reaches everything it started, and has the kernel kill it if the test
// binary dies without cleaning up.
func ownGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends SIGTERM, or SIGKILL when kill is set, to the process
// group led by pid.
func signalGroup(_ *exec.Cmd, pid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-pid, sig) // ESRCH once the group is gone
}
