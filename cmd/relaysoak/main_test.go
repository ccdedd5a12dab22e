package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/soak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestInProcess runs a short soak with relaysim in this process and reads
// its figures; the --dir it was given survives.
func TestInProcess(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runArgs("--duration", "1s", "--seed", "7", "--gateways", "3", "--dir", dir, "--kill-every", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"soak: seed 7, 3 gateways", "lost 0, duplicated-after-ack 0, out-of-order 0, cross-tenant 0", "violations 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the soak removed the --dir it was given: %v", err)
	}
}

// TestChildProcess runs the soak against a relaysim binary named by
// --relaysim, killed and restarted.
func TestChildProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds relaysim")
	}
	bin, err := soak.BuildRelaysim(context.Background(), t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs("--duration", "2s", "--gateways", "2", "--kill-every", "1s", "--relaysim", bin)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "violations 0") || !strings.Contains(out, "kill") {
		t.Errorf("figures:\n%s", out)
	}
}

// TestUsage: help is output with exit 0; each bad value is a usage error
// (exit 2) naming its flag, before anything runs.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		code, out, errs := runArgs(args...)
		if code != 0 || errs != "" || !strings.Contains(out, "usage: relaysoak") || !strings.Contains(out, "-kill-every") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "-nope"},
		{[]string{"--duration", "soon"}, "-duration"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--gateways", "1"}, "--gateways 1"},
		{[]string{"--gateways", "-1"}, "--gateways -1: must be from 2 to 1000"},
		{[]string{"--gateways", "100000"}, "--gateways 100000"},
		{[]string{"--duration", "-1m"}, "--duration -1m0s"},
		{[]string{"--dir", filepath.Join(t.TempDir(), "missing")}, "not an existing directory"},
		{[]string{"--kill-every", "-1s"}, "--kill-every"},
		{[]string{"--dir", file}, "--dir"},
		{[]string{"--relaysim", t.TempDir()}, "--relaysim"},
		{[]string{"--relaysim", file, "--kill-every", "0"}, "--relaysim with --kill-every 0"},
	} {
		code, out, errs := runArgs(tc.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want it to name %q)", tc.args, code, out, errs, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runArgs("--version")
	if code != 0 || !strings.Contains(out, "relaysoak") {
		t.Errorf("exit %d, %q", code, out)
	}
}
