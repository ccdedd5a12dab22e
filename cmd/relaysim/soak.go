package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/relaykit/relaykit/soak"
)

// runSoak is "relaysim soak": the chaos soak of package soak (many
// client/ gateways against relaysim with a file store while a seeded
// fault driver breaks things), run from the binary instead of go test.
// It prints the figures and exits 1 on any violation.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relaysim soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", time.Minute, "how long faults and traffic run (warm-up and the final settling come on top)")
	seed := fs.Int64("seed", 1, "seed of the schedule of events and faults; a run with the same seed injects the same ones")
	gateways := fs.Int("gateways", 8, fmt.Sprintf("how many gateways, each its own tenant and instance (2 to %d)", maxSoakGateways))
	dir := fs.String("dir", "", "directory for relaysim's file store (default: a temporary one, removed afterwards)")
	killEvery := fs.Duration("kill-every", 10*time.Second, "mean gap between SIGKILLs of relaysim, run as a child process (this binary) on the file store and restarted each time; 0 runs relaysim in this process with graceful restarts only")
	verbose := fs.Bool("v", false, "print progress every 30 s and each violation as it happens, on stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: relaysim soak [--duration D] [--seed N] [--gateways N] [--dir PATH] [--kill-every D] [-v]")
		fmt.Fprintln(fs.Output(), "\nRuns the chaos soak (docs/soak.md) and prints its figures; exit 1 on any violation.")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "relaysim soak: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := checkSoakFlags(*duration, *gateways, *dir); err != nil {
		fmt.Fprintf(stderr, "relaysim soak: %v\n", err)
		return 2
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "relaysim-soak-")
		if err != nil {
			fmt.Fprintf(stderr, "relaysim soak: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	cfg := soak.Config{Duration: *duration, Seed: *seed, Gateways: *gateways, Dir: *dir}
	if *killEvery < 0 {
		fmt.Fprintf(stderr, "relaysim soak: --kill-every %s: want 0 or more\n", *killEvery)
		return 2
	}
	if *killEvery > 0 {
		// The child is this very binary, run as relaysim.
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "relaysim soak: cannot find this binary to run as the child: %v\n", err)
			return 1
		}
		cfg.Relaysim, cfg.KillEvery = self, *killEvery
	}
	if *verbose {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "relaysim soak: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.String())
	if !rep.OK() {
		return 1
	}
	return 0
}

// maxSoakGateways bounds --gateways: each gateway is a client, a tenant and
// a socket in this one process.
const maxSoakGateways = 1000

// checkSoakFlags refuses values the soak would otherwise quietly replace
// with its defaults.
func checkSoakFlags(duration time.Duration, gateways int, dir string) error {
	if duration <= 0 {
		return fmt.Errorf("--duration %v: must be a positive duration", duration)
	}
	if gateways < 2 || gateways > maxSoakGateways {
		return fmt.Errorf("--gateways %d: must be from 2 to %d (foreign acks need a second tenant)", gateways, maxSoakGateways)
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--dir %q: not an existing directory", dir)
		}
	}
	return nil
}
