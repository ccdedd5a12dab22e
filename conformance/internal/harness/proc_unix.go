//go:build unix

package harness

import (
	"os/exec"
	"syscall"
)

const canSignal = true

// setProcessGroup runs the gateway in its own process group so signals
// reach it through wrappers such as "sh -c" or "go run".
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// Terminate sends SIGTERM to the gateway's process group.
func Terminate(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}

// kill sends SIGKILL to the gateway's process group.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
