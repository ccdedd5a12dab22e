package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Outcomes of one mutant.
const (
	Killed    = "killed"     // the suite exited 1 with at least one failing case
	Survived  = "survived"   // the suite exited 0: conformant
	NoCompile = "no-compile" // the mutated tree does not build; not counted
	Errored   = "error"      // anything else (harness error, crash at start); counted as not killed
	TimedOut  = "timeout"    // the suite ran past -timeout; counted as not killed
)

// harness runs mutants.
type harness struct {
	root string
	work string
	opts options
	log  io.Writer

	conform string // the suite, built once from the unmutated tree

	mu  sync.Mutex
	rep *Report
}

// identityToken is the identity bearer the connector suite provisions
// with; relaysim is started accepting it.
const identityToken = "conform"

// runAll builds the suite, checks the unmutated tree, then runs every
// mutant, -jobs at a time. The report is rewritten after each mutant, so
// an interrupted run leaves what it measured.
func (h *harness) runAll(ctx context.Context, mutants []Mutant) (*Report, error) {
	h.rep = newReport(h.root, h.opts)
	if err := h.buildConform(ctx); err != nil {
		return nil, err
	}
	sides := map[Side]bool{}
	for _, m := range mutants {
		sides[m.Side] = true
	}
	for _, side := range []Side{Connector, Gateway} {
		if !sides[side] || h.opts.skipBaseline {
			continue
		}
		fmt.Fprintf(h.log, "mutation: baseline: the %s suite against the unmutated %s\n", side, side.Target())
		res := h.runOne(ctx, Mutant{ID: "baseline-" + string(side), Side: side})
		h.rep.Baseline[side] = res.RunSeconds
		if res.Outcome != Survived {
			return nil, fmt.Errorf("the unmutated tree is not conformant on the %s side (%s, exit %d, failing: %s); fix that before measuring mutants\n%s",
				side, res.Outcome, res.ExitCode, strings.Join(res.FailedCases, ", "), res.Detail)
		}
		fmt.Fprintf(h.log, "mutation: baseline %s: conformant in %.1fs\n", side, res.RunSeconds)
	}

	jobs := make(chan int)
	results := make([]*Result, len(mutants))
	var wg sync.WaitGroup
	var done int
	for w := 0; w < h.opts.jobs; w++ {
		wg.Go(func() {
			for i := range jobs {
				r := h.runOne(ctx, mutants[i])
				h.mu.Lock()
				results[i] = &r
				done++
				fmt.Fprintf(h.log, "mutation: [%d/%d] %s\n", done, len(mutants), r.line())
				h.rep.Mutants = collect(results)
				h.rep.summarize()
				if err := h.rep.write(h.opts.out); err != nil {
					fmt.Fprintln(h.log, "mutation: failed to write the report:", err)
				}
				h.mu.Unlock()
			}
		})
	}
	for i := range mutants {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	h.rep.Mutants = collect(results)
	h.rep.Finished = time.Now().UTC()
	h.rep.summarize()
	if ctx.Err() != nil {
		return h.rep, fmt.Errorf("interrupted after %d of %d mutants", len(h.rep.Mutants), len(mutants))
	}
	return h.rep, nil
}

func collect(results []*Result) []Result {
	var out []Result
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// compileAll builds every mutant and lists those that do not compile.
func (h *harness) compileAll(ctx context.Context, mutants []Mutant, stdout io.Writer) int {
	bad := 0
	for _, m := range mutants {
		dir := filepath.Join(h.work, m.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(h.log, "mutation:", err)
			return 3
		}
		start := time.Now()
		_, out, err := h.buildMutant(ctx, m, dir)
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "does not compile: %s\n%s\n", m.ID, tail(string(out), 800))
			continue
		}
		fmt.Fprintf(stdout, "compiles: %s (%.1fs)\n", m.ID, since(start))
	}
	fmt.Fprintf(stdout, "%d of %d mutants compile\n", len(mutants)-bad, len(mutants))
	if bad > 0 {
		return 1
	}
	return 0
}

// buildConform builds cmd/conform from the unmutated tree.
func (h *harness) buildConform(ctx context.Context) error {
	h.conform = filepath.Join(h.work, "conform")
	if out, err := h.goBuild(ctx, "", h.conform, "./cmd/conform"); err != nil {
		return fmt.Errorf("failed to build cmd/conform: %w\n%s", err, out)
	}
	return nil
}

// goBuild builds pkg into bin, with overlay when not "".
func (h *harness) goBuild(ctx context.Context, overlay, bin, pkg string) ([]byte, error) {
	args := []string{"build"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "-o", bin, pkg)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = h.root
	return cmd.CombinedOutput()
}

// goTool is the go command; go run puts the toolchain's on PATH.
func goTool() string { return "go" }

// buildMutant writes the mutated file and an overlay naming it, and builds
// the side's binary with it. A mutant with no Old is the unmutated tree.
func (h *harness) buildMutant(ctx context.Context, m Mutant, dir string) (bin string, out []byte, err error) {
	bin = filepath.Join(dir, "bin")
	overlay := ""
	if m.Old != "" {
		src, err := m.Apply(h.root)
		if err != nil {
			return "", nil, err
		}
		mutated := filepath.Join(dir, filepath.Base(m.File))
		if err := os.WriteFile(mutated, []byte(src), 0o644); err != nil {
			return "", nil, err
		}
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(h.root, m.File): mutated}})
		overlay = filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(overlay, ov, 0o644); err != nil {
			return "", nil, err
		}
	}
	out, err = h.goBuild(ctx, overlay, bin, m.Side.Target())
	return bin, out, err
}

// runOne builds one mutant and runs its side's full suite against it.
func (h *harness) runOne(ctx context.Context, m Mutant) Result {
	r := Result{ID: m.ID, Side: m.Side, File: m.File, Requirement: m.Requirement, Description: m.Description}
	dir := filepath.Join(h.work, m.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Outcome, r.Detail = Errored, err.Error()
		return r
	}
	start := time.Now()
	bin, out, err := h.buildMutant(ctx, m, dir)
	r.BuildSeconds = since(start)
	if err != nil {
		r.Outcome, r.Detail = NoCompile, tail(string(out)+err.Error(), 1200)
		if ctx.Err() != nil {
			r.Outcome = Errored
		}
		return r
	}

	report := filepath.Join(dir, "suite.json")
	logPath := filepath.Join(dir, "suite.log")
	logf, err := os.Create(logPath)
	if err != nil {
		r.Outcome, r.Detail = Errored, err.Error()
		return r
	}
	defer logf.Close()
	rctx, cancel := context.WithTimeout(ctx, h.opts.timeout)
	defer cancel()
	start = time.Now()
	code, runErr := h.suite(rctx, m.Side, bin, report, logf)
	r.RunSeconds = since(start)
	os.Remove(bin) // binaries are large; -keep keeps the logs and reports
	r.ExitCode = code
	failed, parseErr := failedCases(report)
	for _, c := range failed {
		r.FailedCases = append(r.FailedCases, c.ID)
		if c.names(m.Requirement) {
			r.RequirementHit = true
		}
	}
	switch {
	case rctx.Err() != nil && ctx.Err() == nil:
		r.Outcome, r.Detail = TimedOut, fmt.Sprintf("the suite ran past %s", h.opts.timeout)
	case runErr != nil:
		r.Outcome, r.Detail = Errored, runErr.Error()
	case code == 1 && len(failed) > 0:
		r.Outcome = Killed
	case code == 0 && parseErr == nil:
		r.Outcome = Survived
	default:
		r.Outcome = Errored
		r.Detail = fmt.Sprintf("conform exited %d with %d failing cases", code, len(failed))
		if parseErr != nil {
			r.Detail += " (" + parseErr.Error() + ")"
		}
	}
	if r.Outcome == Errored || r.Outcome == TimedOut {
		logf.Sync()
		b, _ := os.ReadFile(logPath)
		r.Detail += "\n" + tail(string(b), 1500)
	}
	return r
}

func since(t time.Time) float64 { return float64(time.Since(t).Milliseconds()) / 1000 }

// suite runs the side's suite against bin and returns conform's exit code.
// An error means the suite could not run at all.
//
// The connector suite runs against relaysim as configured by default and,
// when that run is conformant, once more with each of connectorConfigs:
// relaysim's default drain window of 1 makes out-of-order acks impossible,
// so a mistake in how an ack picks its entry is only reachable with a
// wider window. The mutant is killed when any run is non-conformant.
func (h *harness) suite(ctx context.Context, side Side, bin, report string, log io.Writer) (int, error) {
	if side != Connector {
		return h.runConform(ctx, []string{"gateway", "--exec", bin, "--echo", "--timers", "--feature", "all", "--json", report, "-q"}, log)
	}
	var code int
	for _, extra := range connectorConfigs {
		sim, err := startRelaysim(ctx, bin, log, append([]string{"--identity-token", identityToken}, extra...)...)
		if err != nil {
			return -1, err
		}
		fmt.Fprintf(log, "mutation: connector suite against relaysim %s\n", strings.Join(extra, " "))
		code, err = h.runConform(ctx, []string{"connector", "--url", sim.url, "--identity-token", identityToken, "--json", report, "-q"}, log)
		sim.stop()
		if err != nil || code != 0 {
			return code, err
		}
	}
	return code, nil
}

// connectorConfigs are the relaysim flags of the connector suite's runs
// against a mutant, beyond the harness's own.
var connectorConfigs = [][]string{nil, {"--drain-window", "4"}}

// runConform runs cmd/conform with args and returns its exit code.
func (h *harness) runConform(ctx context.Context, args []string, log io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, h.conform, args...)
	cmd.Dir = h.root
	cmd.Stdout, cmd.Stderr = log, log
	ownGroup(cmd)
	cancelGroup(cmd)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), nil
	case ctx.Err() != nil:
		return -1, nil // the caller reports the timeout
	}
	return -1, fmt.Errorf("failed to run conform: %w", err)
}

// relaysim is a started relaysim process.
type relaysim struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// startRelaysim starts bin on a free loopback port with a manual clock and
// waits until its control API answers.
func startRelaysim(ctx context.Context, bin string, log io.Writer, extra ...string) (*relaysim, error) {
	args := append([]string{"--addr", "127.0.0.1:0", "--manual-clock"}, extra...)
	cmd := exec.Command(bin, args...)
	env := &envSniffer{urls: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = env, log
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start relaysim: %w", err)
	}
	s := &relaysim{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case u := <-env.urls:
		s.url = "http" + strings.TrimSuffix(strings.TrimPrefix(u, "ws"), "/relay")
	case <-s.done:
		return nil, errors.New("relaysim exited at start")
	case <-deadline.C:
		s.stop()
		return nil, errors.New("relaysim printed no GATEWAY_RELAY_URL within 30s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	for {
		resp, err := http.Get(s.url + "/_relaysim/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, errors.New("relaysim exited at start")
		case <-deadline.C:
			s.stop()
			return nil, errors.New("relaysim's control API did not answer within 30s")
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// envSniffer is relaysim's stdout: it passes on the GATEWAY_RELAY_URL of
// the env block relaysim prints at start and discards the rest.
type envSniffer struct {
	mu   sync.Mutex
	line []byte
	urls chan string
	sent bool
}

func (w *envSniffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p {
		if c != '\n' {
			if len(w.line) < 4096 {
				w.line = append(w.line, c)
			}
			continue
		}
		if u, ok := strings.CutPrefix(string(w.line), "GATEWAY_RELAY_URL="); ok && !w.sent {
			w.sent = true
			w.urls <- u
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// stop ends relaysim: SIGTERM, then SIGKILL to its process group after 5s.
func (s *relaysim) stop() {
	terminate(s.cmd)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		killGroup(s.cmd)
		<-s.done
	}
}

// caseResult is the part of conform's JSON report the harness reads.
type caseResult struct {
	ID           string   `json:"id"`
	Requirements []string `json:"requirements"`
	Verdict      string   `json:"verdict"`
	Message      string   `json:"message"`
	Cause        *struct {
		Requirement string `json:"requirement"`
		Kind        string `json:"kind"`
	} `json:"cause"`
}

// names reports whether the case is labelled with req or its failure
// message names it.
func (c caseResult) names(req string) bool {
	for _, r := range c.Requirements {
		if r == req {
			return true
		}
	}
	return strings.Contains(c.Message, req)
}

// failedCases reads what made a conform run non-conformant: the failed
// cases, the cases blocked by a failure (under the requirement that broke,
// filed as the case's), and the failing findings (a frame that broke a
// MUST the case seeing it does not prove, as "finding:<req>@<case>").
func failedCases(path string) ([]caseResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("no suite report: %w", err)
	}
	var rep struct {
		Cases    []caseResult `json:"cases"`
		Findings []struct {
			Requirement string `json:"requirement"`
			Kind        string `json:"kind"`
			Case        string `json:"case"`
			Message     string `json:"message"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("unreadable suite report: %w", err)
	}
	var out []caseResult
	for _, c := range rep.Cases {
		switch {
		case c.Verdict == "fail":
			out = append(out, c)
		case c.Verdict == "blocked" && c.Cause != nil && c.Cause.Kind == "fail" && c.Cause.Requirement != "":
			out = append(out, caseResult{ID: c.ID + " (blocked)", Requirements: []string{c.Cause.Requirement}, Verdict: c.Verdict, Message: c.Message})
		}
	}
	for _, f := range rep.Findings {
		if f.Kind == "fail" {
			out = append(out, caseResult{ID: "finding:" + f.Requirement + "@" + f.Case, Requirements: []string{f.Requirement}, Verdict: "finding", Message: f.Message})
		}
	}
	return out, nil
}

// tail returns the last n bytes of s, cut at a line start.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}
