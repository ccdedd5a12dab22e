// Command relaysoak runs the chaos soak of package soak (docs/soak.md):
// many client/ gateways against relaysim with its durable file store while
// a seeded fault driver breaks things and relaysim, run as a child
// process, is killed with SIGKILL and restarted on the same store. It
// prints the figures and exits 1 on any violation.
//
// It is a command of its own, not a subcommand of relaysim, because the
// soak's gateways are package client: the connector binary links no
// gateway code (internal/layering checks it).
//
// Usage:
//
//	relaysoak [--duration D] [--seed N] [--gateways N] [--dir PATH] [--kill-every D] [--relaysim PATH] [-v]
//
// The relaysim child is, in this order: --relaysim; the relaysim binary
// installed next to relaysoak (go install puts both in the same GOBIN);
// one built from source with the go command (go run ./cmd/relaysoak
// inside the repository). --kill-every 0 runs relaysim in this process
// and needs no binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/relaykit/relaykit/internal/buildinfo"
	"github.com/relaykit/relaykit/internal/cli"
	"github.com/relaykit/relaykit/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// maxGateways bounds --gateways: each gateway is a client, a tenant and a
// socket in this one process.
const maxGateways = 1000

const usageLine = "usage: relaysoak [--duration D] [--seed N] [--gateways N] [--dir PATH] [--kill-every D] [--relaysim PATH] [-v]"

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		fmt.Fprint(stdout, buildinfo.Read().String("relaysoak"))
		return 0
	}
	fs := flag.NewFlagSet("relaysoak", flag.ContinueOnError)
	duration := fs.Duration("duration", time.Minute, "how long faults and traffic run (warm-up and the final settling come on top)")
	seed := fs.Int64("seed", 1, "seed of the schedule of events and faults; a run with the same seed injects the same ones")
	gateways := fs.Int("gateways", 8, fmt.Sprintf("how many gateways, each its own tenant and instance (2 to %d)", maxGateways))
	dir := fs.String("dir", "", "directory for relaysim's file store (default: a temporary one, removed afterwards)")
	killEvery := fs.Duration("kill-every", 10*time.Second, "mean gap between SIGKILLs of the relaysim child, restarted each time on the file store; 0 runs relaysim in this process with graceful restarts only")
	relaysim := fs.String("relaysim", "", "relaysim binary to run as the child (default: the one next to this binary, else one built with the go command)")
	verbose := fs.Bool("v", false, "print progress every 30 s and each violation as it happens, on stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usageLine)
		fmt.Fprintln(fs.Output(), "\nRuns the chaos soak (docs/soak.md) and prints its figures; exit 1 on any violation.")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "relaysoak: unexpected argument %q\n%s\n", fs.Arg(0), usageLine)
		return 2
	}
	if err := checkFlags(*duration, *gateways, *dir, *killEvery, *relaysim); err != nil {
		fmt.Fprintf(stderr, "relaysoak: %v\n", err)
		return 2
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "relaysoak-")
		if err != nil {
			fmt.Fprintf(stderr, "relaysoak: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	cfg := soak.Config{Duration: *duration, Seed: *seed, Gateways: *gateways, Dir: *dir}
	if *killEvery > 0 {
		bin, cleanup, err := findRelaysim(ctx, *relaysim)
		if err != nil {
			fmt.Fprintf(stderr, "relaysoak: %v\n", err)
			return 1
		}
		defer cleanup()
		cfg.Relaysim, cfg.KillEvery = bin, *killEvery
	}
	if *verbose {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "relaysoak: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.String())
	if !rep.OK() {
		return 1
	}
	return 0
}

// checkFlags refuses values the soak would otherwise quietly replace with
// its defaults.
func checkFlags(duration time.Duration, gateways int, dir string, killEvery time.Duration, relaysim string) error {
	if duration <= 0 {
		return fmt.Errorf("--duration %v: must be a positive duration", duration)
	}
	if gateways < 2 || gateways > maxGateways {
		return fmt.Errorf("--gateways %d: must be from 2 to %d (foreign acks need a second tenant)", gateways, maxGateways)
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--dir %q: not an existing directory", dir)
		}
	}
	if killEvery < 0 {
		return fmt.Errorf("--kill-every %s: want 0 or more", killEvery)
	}
	if relaysim != "" {
		if killEvery == 0 {
			return errors.New("--relaysim with --kill-every 0: relaysim runs in this process, no binary is used")
		}
		if fi, err := os.Stat(relaysim); err != nil || fi.IsDir() {
			return fmt.Errorf("--relaysim %q: not a file", relaysim)
		}
	}
	return nil
}

// findRelaysim returns the relaysim binary for the child, and what removes
// it when relaysoak built it.
func findRelaysim(ctx context.Context, flagValue string) (string, func(), error) {
	noop := func() {}
	if flagValue != "" {
		return flagValue, noop, nil
	}
	if self, err := os.Executable(); err == nil {
		sibling := filepath.Join(filepath.Dir(self), "relaysim")
		if runtime.GOOS == "windows" {
			sibling += ".exe"
		}
		if fi, err := os.Stat(sibling); err == nil && !fi.IsDir() {
			return sibling, noop, nil
		}
	}
	tmp, err := os.MkdirTemp("", "relaysoak-bin-")
	if err != nil {
		return "", noop, err
	}
	bin, err := soak.BuildRelaysim(ctx, tmp, false)
	if err != nil {
		os.RemoveAll(tmp)
		return "", noop, fmt.Errorf("no relaysim binary for the child: none next to relaysoak, and building one failed (pass --relaysim PATH, install relaysim beside relaysoak, or use --kill-every 0):\n%w", err)
	}
	return bin, func() { os.RemoveAll(tmp) }, nil
}
