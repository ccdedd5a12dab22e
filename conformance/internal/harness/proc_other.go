//go:build !unix

package harness

import "os/exec"

const canSignal = false

func setProcessGroup(*exec.Cmd) {}

// Terminate kills the gateway: without signals there is no SIGTERM.
func Terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
