package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/relaykit/relaykit/conformance"
	"github.com/relaykit/relaykit/internal/cli"
)

// commonFlags are the flags both suites take.
type commonFlags struct {
	focus, skip       stringList
	labelFilter       string
	strict, fast      bool
	features          stringList
	junit, jsonReport string
	ginkgoJSON        string
	report            string
	baseline          string
	writeBaseline     string
	implementation    string
	wait              time.Duration
	parallel          int
	failFast          bool
	verbose           bool
	quiet             bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.focus, "focus", "run only cases whose case or requirement ID starts with this prefix (repeatable, comma-separated)")
	fs.Var(&c.skip, "skip", "leave out cases whose case or requirement ID starts with this prefix (repeatable, comma-separated)")
	fs.StringVar(&c.labelFilter, "label-filter", "", `Ginkgo label filter over case labels, e.g. "MUST && !slow"`)
	fs.BoolVar(&c.strict, "strict", false, "fail on SHOULD violations instead of warning")
	fs.BoolVar(&c.fast, "fast", false, "leave out the cases that wait on real backoff timers")
	fs.Var(&c.features, "feature", "force an optional feature on (NAME) or off (NAME=false), or every one (all); repeatable")
	fs.StringVar(&c.junit, "junit", "", "write a JUnit XML report to FILE")
	fs.StringVar(&c.jsonReport, "json", "", "write the conformance report as JSON to FILE")
	fs.StringVar(&c.ginkgoJSON, "ginkgo-json", "", "write Ginkgo's raw JSON report to FILE")
	fs.StringVar(&c.report, "report", "", "write the Markdown conformance report to FILE")
	fs.StringVar(&c.baseline, "baseline", "", "expected-failures baseline FILE (YAML)")
	fs.StringVar(&c.writeBaseline, "write-baseline", "", "write a baseline listing this run's failures to FILE")
	fs.StringVar(&c.implementation, "implementation", "", "name and version of the implementation under test, for reports")
	fs.DurationVar(&c.wait, "wait", 0, "bound for each wait on the implementation (default 5s)")
	fs.IntVar(&c.parallel, "parallel", conformance.DefaultParallel, "how many cases run at once (1: one after another)")
	fs.BoolVar(&c.failFast, "fail-fast", false, "stop starting cases after the first failure")
	fs.BoolVar(&c.verbose, "v", false, "verbose: show Ginkgo's full output")
	fs.BoolVar(&c.quiet, "q", false, "quiet: no per-case progress lines")
}

// options turns the flags into suite options.
func (c *commonFlags) options(stderr io.Writer) (conformance.Options, error) {
	o := conformance.Options{
		Implementation: c.implementation, Strict: c.strict, Fast: c.fast,
		Focus: splitList(c.focus), Skip: splitList(c.skip), LabelFilter: c.labelFilter,
		Wait: c.wait, JUnitReport: c.junit, GinkgoJSONReport: c.ginkgoJSON, Verbose: c.verbose,
		Parallel: c.parallel, FailFast: c.failFast,
	}
	if c.parallel < 1 {
		return o, fmt.Errorf("--parallel %d: want 1 or more", c.parallel)
	}
	if len(c.features) > 0 {
		o.Features = map[string]bool{}
		for _, f := range splitList(c.features) {
			name, val, hasVal := strings.Cut(f, "=")
			on := true
			if hasVal {
				switch strings.ToLower(val) {
				case "true", "on", "1", "yes":
				case "false", "off", "0", "no":
					on = false
				default:
					return o, fmt.Errorf("--feature %s: want NAME, NAME=true or NAME=false", f)
				}
			}
			o.Features[name] = on
		}
	}
	if c.baseline != "" {
		b, err := conformance.ReadBaseline(c.baseline)
		if err != nil {
			return o, err
		}
		o.Baseline = b
	}
	if c.verbose {
		o.Output = stderr
	} else {
		o.Output = io.Discard
	}
	if !c.quiet {
		o.Progress = stderr
	}
	return o, nil
}

func splitList(l stringList) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func runConnectorCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.register(fs)
	var o conformance.ConnectorOptions
	var platforms stringList
	fs.StringVar(&o.URL, "url", "", "connector base URL or dial URL (required)")
	fs.StringVar(&o.GatewayID, "gateway-id", "", "id of a gateway enrolled on the connector")
	fs.StringVar(&o.Secret, "secret", "", "that gateway's secret (or env CONFORM_GATEWAY_SECRET, which keeps it out of process listings)")
	fs.Var(&platforms, "platform", "platform (or platform:botId) the connector fronts for that gateway; repeatable, in hello order")
	fs.StringVar(&o.ChatID, "chat-id", "", "a chat the gateway may post to")
	fs.StringVar(&o.Control, "control", "", "base URL of the connector's testee control API (relaysim: <url>/_relaysim)")
	fs.StringVar(&o.ControlToken, "control-token", "", "bearer for the control API")
	fs.StringVar(&o.IdentityToken, "identity-token", "", "an identity bearer the connector accepts for provision and enroll")
	fs.StringVar(&o.IdentityTenant, "identity-tenant", "", "the tenant of --identity-token")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform connector --url URL (--gateway-id ID --secret S --platform P | --control URL) [flags]")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conform connector: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts, err := c.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "conform connector: %v\n", err)
		return 2
	}
	o.Options = opts
	o.Platforms = splitList(platforms)
	if o.Secret == "" {
		o.Secret = os.Getenv("CONFORM_GATEWAY_SECRET")
	}
	fmt.Fprintf(stderr, "conform: connector suite against %s\n", o.URL)
	res, err := conformance.RunConnector(o)
	return finish(&c, res, err, stdout, stderr)
}

func runGatewayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.register(fs)
	var o conformance.GatewayOptions
	var env stringList
	fs.StringVar(&o.Exec, "exec", "", "command that starts the gateway under test, run with sh -c once per case (required)")
	fs.Var(&env, "env", "KEY=VALUE added to the gateway's environment; repeatable")
	fs.StringVar(&o.Dir, "dir", "", "working directory of the gateway")
	fs.BoolVar(&o.Echo, "echo", false, "the gateway implements the echo profile of the gateway testee contract")
	fs.BoolVar(&o.Timers, "timers", false, "the gateway honours the RELAYKIT_* timer knobs of the gateway testee contract")
	fs.DurationVar(&o.StartTimeout, "start-timeout", 0, "bound for the gateway's first handshake after it starts (default 15s)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: conform gateway --exec "COMMAND" [--echo] [--timers] [flags]`)
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conform gateway: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts, err := c.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "conform gateway: %v\n", err)
		return 2
	}
	o.Options = opts
	o.Env = env
	fmt.Fprintf(stderr, "conform: gateway suite against %q\n", o.Exec)
	res, err := conformance.RunGateway(o)
	return finish(&c, res, err, stdout, stderr)
}

// finish writes the reports and prints the summary.
func finish(c *commonFlags, res *conformance.Result, err error, stdout, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "conform: %v\n", err)
		return conformance.ExitCodeOf(nil, err)
	}
	write := func(path string, data []byte) {
		if path == "" {
			return
		}
		if werr := os.WriteFile(path, data, 0o644); werr != nil {
			res.SuiteErrors = append(res.SuiteErrors, fmt.Sprintf("write %s: %v", path, werr))
		}
	}
	if c.jsonReport != "" {
		b, _ := res.JSON()
		write(c.jsonReport, b)
	}
	write(c.report, res.Markdown())
	write(c.writeBaseline, conformance.WriteBaseline(res))
	for _, cr := range res.Cases {
		if cr.Verdict == conformance.Fail || cr.Verdict == conformance.HarnessError || cr.Baseline == "stale" ||
			(cr.Verdict == conformance.Blocked && cr.Cause != nil && cr.Cause.Case == "") {
			fmt.Fprintf(stdout, "\n%s %s", strings.ToUpper(string(cr.Verdict)), cr.ID)
			if cr.Baseline != "" {
				fmt.Fprintf(stdout, " (baseline: %s)", cr.Baseline)
			}
			fmt.Fprintf(stdout, "\n%s\n", indent(cr.Message))
			if cr.Transcript != "" && cr.Baseline != "expected" {
				fmt.Fprintf(stdout, "  transcript:\n%s\n", indent(indent(cr.Transcript)))
			}
		}
	}
	fmt.Fprintf(stdout, "\n%s\n", res.Summary())
	for _, e := range res.SuiteErrors {
		fmt.Fprintf(stdout, "harness: %s\n", e)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	return res.ExitCode()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func runList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f conformance.ListFilter
	var side string
	fs.StringVar(&side, "side", "", "connector or gateway")
	fs.StringVar(&f.Level, "level", "", "MUST, SHOULD or MAY")
	fs.StringVar(&f.Feature, "feature", "", "core or an optional feature")
	fs.StringVar(&f.Prefix, "prefix", "", "case or requirement ID prefix")
	asJSON := fs.Bool("json", false, "print JSON")
	markdown := fs.Bool("markdown", false, "print docs/conformance.md (requirement × case coverage and the deviation matrix)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform list [--side S] [--level L] [--feature F] [--prefix P] [--markdown | --json]")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	switch side {
	case "", "connector", "gateway":
		f.Side = conformance.Side(side)
	default:
		fmt.Fprintf(stderr, "conform list: --side must be connector or gateway\n")
		return 2
	}
	if *markdown {
		_, _ = stdout.Write(conformance.CoverageMarkdown())
		return 0
	}
	cases := conformance.List(f)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(cases)
		return 0
	}
	for _, c := range cases {
		extra := ""
		if c.Needs != "" {
			extra += " needs:" + c.Needs
		}
		if c.Slow {
			extra += " slow"
		}
		fmt.Fprintf(stdout, "%-42s %-9s %-6s %-12s %s%s\n", c.ID, c.Side, c.Level, c.Feature, c.Text, extra)
	}
	fmt.Fprintf(stderr, "%d cases\n", len(cases))
	return 0
}
