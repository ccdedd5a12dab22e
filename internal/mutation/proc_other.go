//go:build !unix

package main

import "os/exec"

func ownGroup(*exec.Cmd)    {}
func cancelGroup(*exec.Cmd) {}

func terminate(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}

func killGroup(cmd *exec.Cmd) { terminate(cmd) }
