// Command mutation measures how many plausible single-bug mutants of
// relaysim and of the client, its adapter and the echo gateway the
// conformance suites kill: the suites' recall, measured with bugs their
// authors did not plant (issue 10).
//
//	go run ./internal/mutation [-side connector|gateway] [-only ID,...] [-jobs N] [-out FILE]
//	go run ./internal/mutation -probe [-side S] [-only ID,...]
//	go run ./internal/mutation -compile [-side S] [-only ID,...]
//	go run ./internal/mutation -from FILE -publish
//
// Each mutant (mutants_connector.go, mutants_gateway.go) replaces one
// snippet of one file. The harness builds cmd/conform once from the
// unmutated tree, checks that the unmutated relaysim and echo gateway are
// conformant, then for each mutant builds the mutated binary with
// go build -overlay (nothing is copied), runs the full suite against it and
// records the verdict: killed (conform exits 1 with at least one failing
// case), survived (exit 0), did not compile (not counted), or error or
// timeout (counted as not killed). -out FILE gets the JSON report and
// FILE with .md the Markdown one; -publish writes the summary into
// docs/conformance.md (through conformance/mutation.md, which the coverage
// generator appends after the deviation matrix).
//
// -probe runs, instead of the suites, each selected mutant's independent
// probe (probes.go) against the unmutated and the mutated binary: the probe
// must pass on the first and find the break on the second, which shows the
// mutant really breaks its requirement. -compile only builds the mutants.
//
// Exit codes: 0 done, 1 a probe did not confirm its mutant, 2 usage or a
// stale mutant, 3 harness error (a build failed, or the unmutated tree is
// not conformant).
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
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	side         string
	only         string
	jobs         int
	out          string
	timeout      time.Duration
	keep         bool
	probe        bool
	publish      bool
	from         string
	skipBaseline bool
	compile      bool
	outSet       bool
}

func allMutants() []Mutant {
	return append(append([]Mutant(nil), connectorMutants...), gatewayMutants...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.side, "side", "all", "connector, gateway or all")
	fs.StringVar(&o.only, "only", "", "run only these mutant IDs (comma-separated)")
	fs.IntVar(&o.jobs, "jobs", 1, "mutants run at a time (each runs a full suite; 1 on a 2-core machine)")
	fs.StringVar(&o.out, "out", "mutation-report.json", "JSON report FILE; the Markdown report goes next to it with .md")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound for one mutant's suite run")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (mutated files, binaries, suite logs)")
	fs.BoolVar(&o.probe, "probe", false, "run the mutants' independent probes instead of the suites")
	fs.BoolVar(&o.publish, "publish", false, "write the summary into conformance/mutation.md and regenerate docs/conformance.md")
	fs.StringVar(&o.from, "from", "", "render (and with -publish, publish) an existing JSON report FILE instead of running")
	fs.BoolVar(&o.skipBaseline, "skip-baseline", false, "do not check first that the unmutated tree is conformant")
	fs.BoolVar(&o.compile, "compile", false, "only build each mutant and report the ones that do not compile")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fs.Visit(func(f *flag.Flag) { o.outSet = o.outSet || f.Name == "out" })
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mutation: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.jobs < 1 {
		fmt.Fprintln(stderr, "mutation: -jobs must be at least 1")
		return 2
	}
	switch o.side {
	case "all", "connector", "gateway":
	default:
		fmt.Fprintf(stderr, "mutation: -side %q: want connector, gateway or all\n", o.side)
		return 2
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "mutation:", err)
		return 3
	}
	if o.from != "" {
		rep, err := readReport(o.from)
		if err != nil {
			fmt.Fprintln(stderr, "mutation:", err)
			return 3
		}
		return finish(root, o, rep, stdout, stderr)
	}

	mutants, err := selectMutants(allMutants(), o.side, o.only)
	if err != nil {
		fmt.Fprintln(stderr, "mutation:", err)
		return 2
	}
	var stale []string
	for _, m := range mutants {
		if _, err := m.Apply(root); err != nil {
			stale = append(stale, err.Error())
		}
	}
	if len(stale) > 0 {
		fmt.Fprintf(stderr, "mutation: %d stale mutants:\n  %s\n", len(stale), strings.Join(stale, "\n  "))
		return 2
	}

	work, err := os.MkdirTemp("", "relaykit-mutation-")
	if err != nil {
		fmt.Fprintln(stderr, "mutation:", err)
		return 3
	}
	if o.keep {
		fmt.Fprintln(stderr, "mutation: work directory", work)
	} else {
		defer os.RemoveAll(work)
	}
	h := &harness{root: root, work: work, opts: o, log: stderr}
	if o.probe {
		return h.runProbes(ctx, mutants, stdout)
	}
	if o.compile {
		return h.compileAll(ctx, mutants, stdout)
	}
	rep, err := h.runAll(ctx, mutants)
	if err != nil {
		fmt.Fprintln(stderr, "mutation:", err)
		if rep == nil {
			return 3
		}
	}
	code := finish(root, o, rep, stdout, stderr)
	if err != nil {
		return 3
	}
	return code
}

// finish writes the reports and, with -publish, the docs.
func finish(root string, o options, rep *Report, stdout, stderr io.Writer) int {
	if o.from == "" || o.outSet {
		if err := rep.write(o.out); err != nil {
			fmt.Fprintln(stderr, "mutation:", err)
			return 3
		}
		fmt.Fprintf(stderr, "mutation: wrote %s and %s\n", o.out, mdPath(o.out))
	}
	fmt.Fprint(stdout, rep.summaryText())
	if o.publish {
		if err := publish(root, rep); err != nil {
			fmt.Fprintln(stderr, "mutation:", err)
			return 3
		}
		fmt.Fprintln(stderr, "mutation: wrote conformance/mutation.md and regenerated docs/conformance.md")
	}
	return 0
}

// repoRoot finds the module root: the nearest directory above the working
// directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the relaykit repository")
		}
		dir = parent
	}
}

func mdPath(jsonPath string) string {
	return strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".md"
}
