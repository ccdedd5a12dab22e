package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of a harness run.
type Report struct {
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Commit    string    `json:"commit,omitempty"`
	Dirty     bool      `json:"dirty,omitempty"`
	GoVersion string    `json:"goVersion"`
	Jobs      int       `json:"jobs"`
	Timeout   string    `json:"timeout"`
	// Baseline is the suite's run time, in seconds, against each side's
	// unmutated binary.
	Baseline map[Side]float64     `json:"baselineSeconds"`
	Sides    map[Side]SideSummary `json:"sides"`
	Mutants  []Result             `json:"mutants"`
}

// SideSummary counts one side's outcomes.
type SideSummary struct {
	Total     int `json:"total"`
	Killed    int `json:"killed"`
	Survived  int `json:"survived"`
	Errors    int `json:"errors"` // harness errors and timeouts
	NoCompile int `json:"noCompile"`
	// KillRate is Killed over every mutant that compiled; errors and
	// timeouts count as not killed.
	KillRate float64 `json:"killRate"`
	// OnRequirement counts the killed mutants of which at least one
	// failing case is labelled with (or names) the mutant's requirement.
	OnRequirement int `json:"killedOnRequirement"`
	// MeanBuildSeconds and MeanRunSeconds are per mutant that compiled.
	MeanBuildSeconds float64 `json:"meanBuildSeconds"`
	MeanRunSeconds   float64 `json:"meanRunSeconds"`
}

// Result is one mutant's outcome.
type Result struct {
	ID          string `json:"id"`
	Side        Side   `json:"side"`
	File        string `json:"file"`
	Requirement string `json:"requirement"`
	Description string `json:"description"`
	Outcome     string `json:"outcome"`
	ExitCode    int    `json:"exitCode"`
	// FailedCases are the suite's failing cases.
	FailedCases []string `json:"failedCases,omitempty"`
	// RequirementHit: a failing case is labelled with (or names) the
	// mutant's requirement.
	RequirementHit bool    `json:"requirementHit"`
	BuildSeconds   float64 `json:"buildSeconds"`
	RunSeconds     float64 `json:"runSeconds"`
	Detail         string  `json:"detail,omitempty"`
}

func newReport(root string, o options) *Report {
	r := &Report{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), Jobs: o.jobs, Timeout: o.timeout.String(),
		Baseline: map[Side]float64{}, Sides: map[Side]SideSummary{},
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		r.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	return r
}

// line renders a result for the progress log.
func (r Result) line() string {
	s := fmt.Sprintf("%s (%s, %s): %s", r.ID, r.Side, r.Requirement, r.Outcome)
	switch r.Outcome {
	case Killed:
		on := "not on its requirement"
		if r.RequirementHit {
			on = "on its requirement"
		}
		s += fmt.Sprintf(" by %d cases, %s", len(r.FailedCases), on)
	case NoCompile, Errored, TimedOut:
		s += ": " + firstLine(r.Detail)
	}
	return s + fmt.Sprintf(" [build %.1fs, suite %.1fs]", r.BuildSeconds, r.RunSeconds)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// summarize recomputes the per-side counts.
func (r *Report) summarize() {
	r.Sides = map[Side]SideSummary{}
	for _, side := range []Side{Connector, Gateway} {
		var s SideSummary
		var build, run float64
		for _, m := range r.Mutants {
			if m.Side != side {
				continue
			}
			s.Total++
			switch m.Outcome {
			case Killed:
				s.Killed++
				if m.RequirementHit {
					s.OnRequirement++
				}
			case Survived:
				s.Survived++
			case NoCompile:
				s.NoCompile++
				continue
			default:
				s.Errors++
			}
			build += m.BuildSeconds
			run += m.RunSeconds
		}
		if n := s.Total - s.NoCompile; n > 0 {
			s.KillRate = float64(s.Killed) / float64(n)
			s.MeanBuildSeconds, s.MeanRunSeconds = build/float64(n), run/float64(n)
		}
		if s.Total > 0 {
			r.Sides[side] = s
		}
	}
}

func (r *Report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	if err := os.WriteFile(mdPath(path), []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	return nil
}

func readReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.summarize()
	return &r, nil
}

func pct(x float64) string { return fmt.Sprintf("%.0f %%", 100*x) }

// summaryText is the plain-text summary printed at the end of a run.
func (r *Report) summaryText() string {
	var b strings.Builder
	for _, side := range []Side{Connector, Gateway} {
		s, ok := r.Sides[side]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%s: %d mutants, %d killed (%d on their requirement), %d survived, %d errors, %d did not compile: kill rate %s\n",
			side, s.Total, s.Killed, s.OnRequirement, s.Survived, s.Errors, s.NoCompile, pct(s.KillRate))
		for _, m := range r.Mutants {
			if m.Side == side && m.Outcome != Killed {
				fmt.Fprintf(&b, "  %-9s %s (%s)\n", m.Outcome, m.ID, m.Requirement)
			}
		}
	}
	return b.String()
}

// sideTable is the per-side summary table in Markdown.
func (r *Report) sideTable(b *strings.Builder) {
	b.WriteString("| suite | mutants | killed | survived | errors | did not compile | kill rate | killed on their requirement | mean build + suite per mutant |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, side := range []Side{Connector, Gateway} {
		s, ok := r.Sides[side]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | **%s** | %d of %d | %.0f s + %.0f s |\n", side, s.Total, s.Killed, s.Survived, s.Errors, s.NoCompile,
			pct(s.KillRate), s.OnRequirement, s.Killed, s.MeanBuildSeconds, s.MeanRunSeconds)
	}
}

// markdown renders the full report.
func (r *Report) markdown() string {
	var b strings.Builder
	b.WriteString("# Mutation report\n\n")
	fmt.Fprintf(&b, "Started %s", r.Started.Format(time.RFC3339))
	if !r.Finished.IsZero() {
		fmt.Fprintf(&b, ", finished %s (%s)", r.Finished.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	}
	fmt.Fprintf(&b, "; commit %s", r.commitText())
	fmt.Fprintf(&b, "; %s; %d job(s); timeout %s per mutant.\n\n", r.GoVersion, r.Jobs, r.Timeout)
	if len(r.Baseline) > 0 {
		var parts []string
		for _, side := range []Side{Connector, Gateway} {
			if s, ok := r.Baseline[side]; ok {
				parts = append(parts, fmt.Sprintf("%s %.1f s", side, s))
			}
		}
		fmt.Fprintf(&b, "Unmutated baseline (conformant): %s.\n\n", strings.Join(parts, ", "))
	}
	r.sideTable(&b)
	for _, side := range []Side{Connector, Gateway} {
		if _, ok := r.Sides[side]; !ok {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", side)
		b.WriteString("| mutant | requirement | outcome | failing cases | build | suite |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, m := range r.Mutants {
			if m.Side != side {
				continue
			}
			out := m.Outcome
			if m.Outcome == Killed && !m.RequirementHit {
				out += " (not on its requirement)"
			}
			cases := m.FailedCases
			more := ""
			if len(cases) > 6 {
				cases, more = cases[:6], fmt.Sprintf(" and %d more", len(m.FailedCases)-6)
			}
			cell := "—"
			if len(cases) > 0 {
				cell = "`" + strings.Join(cases, "`, `") + "`" + more
			}
			if m.Outcome != Killed && m.Outcome != Survived && m.Detail != "" {
				cell = mdCell(firstLine(m.Detail))
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.1f s | %.1f s |\n", m.ID, m.Requirement, out, cell, m.BuildSeconds, m.RunSeconds)
		}
		b.WriteString("\nNot killed:\n\n")
		none := true
		for _, m := range r.Mutants {
			if m.Side == side && m.Outcome != Killed && m.Outcome != NoCompile {
				none = false
				fmt.Fprintf(&b, "- `%s` (%s, %s, `%s`): %s\n", m.ID, m.Requirement, m.Outcome, m.File, m.Description)
			}
		}
		if none {
			b.WriteString("- none\n")
		}
	}
	return b.String()
}

func (r *Report) commitText() string {
	c := r.Commit
	if c == "" {
		c = "unknown"
	}
	if r.Dirty {
		c += " (with uncommitted changes)"
	}
	return c
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// docSection renders the "Mutation kill rate" section of
// docs/conformance.md.
func (r *Report) docSection() string {
	var b strings.Builder
	counts := map[Side]int{}
	for _, m := range allMutants() {
		counts[m.Side]++
	}
	probed := 0
	for _, m := range allMutants() {
		if m.Probe != "" {
			probed++
		}
	}
	b.WriteString("## Mutation kill rate\n\n")
	b.WriteString("The deviation matrix shows the suites catch the deviations this project planted itself. Recall\n")
	b.WriteString("is measured apart, with bugs the suites' authors did not plant: `internal/mutation` keeps\n")
	fmt.Fprintf(&b, "%d mutants of relaysim (`simulator/`) and %d of the gateway stack (`client/`, `client/adapter`,\n", counts[Connector], counts[Gateway])
	b.WriteString("`examples/echogateway`), each a plausible implementer's mistake written as a one-snippet\n")
	b.WriteString("replacement in a real code path (never a deviation switch) and tagged with the MUST it breaks.\n")
	b.WriteString("The harness builds each mutant with `go build -overlay`, runs the full suite against it\n")
	b.WriteString("(`conform connector` against the mutated relaysim started with `--manual-clock --identity-token\n")
	b.WriteString("conform` and, when that run passes, again with `--drain-window 4`, since the default window of 1\n")
	b.WriteString("makes out-of-order acks impossible; `conform gateway --echo --timers --feature all` against the\n")
	b.WriteString("mutated echo gateway) and\n")
	b.WriteString("counts it killed when the run is non-conformant with at least one failing case. A mutant that\n")
	b.WriteString("does not compile is not counted; a harness error or a timeout counts as not killed. ")
	fmt.Fprintf(&b, "%d mutants,\n", probed)
	b.WriteString("among them every one in the areas where an outside review's mutants survived, have an\n")
	b.WriteString("independent probe that shows through real sockets that the unmutated code keeps the requirement\n")
	b.WriteString("and the mutant breaks it (`-probe`); the others argue it in their description. The harness is a\n")
	b.WriteString("script, not part of CI; `go test ./internal/mutation` (in CI) only checks that every mutant still\n")
	b.WriteString("applies exactly once and names a MUST of its side. Target: at least 95 % of the mutants killed on\n")
	b.WriteString("each side. How to run it is in the [conformance guide](conformance-guide.md#how-the-suite-proves-itself):\n\n")
	b.WriteString("```sh\n")
	b.WriteString("go run ./internal/mutation -out mutation.json             # both sides; -side S, -only ID,..., -jobs N\n")
	b.WriteString("go run ./internal/mutation -probe -only ID                # a mutant's independent probe\n")
	b.WriteString("go run ./internal/mutation -from mutation.json -publish   # rewrite this section\n")
	b.WriteString("```\n\n")
	fmt.Fprintf(&b, "Last run: %s, commit %s", r.Started.Format("2006-01-02"), r.commitText())
	if !r.Finished.IsZero() {
		fmt.Fprintf(&b, ", %.0f minutes with %d job(s) on a 2-core machine", r.Finished.Sub(r.Started).Minutes(), r.Jobs)
	}
	b.WriteString(".\nIts per-mutant report is `internal/mutation/baseline.json` (`go run ./internal/mutation -from\n")
	b.WriteString("internal/mutation/baseline.json -out FILE` renders it as JSON and Markdown).\n\n")
	r.sideTable(&b)
	b.WriteString("\nMutants not killed, with the case that would kill them:\n\n")
	b.WriteString("| suite | mutant | requirement | outcome | the mistake | the case that would kill it |\n| --- | --- | --- | --- | --- | --- |\n")
	// The catalogue's current wording, when the mutant is still there.
	kill, desc := map[string]string{}, map[string]string{}
	for _, m := range allMutants() {
		kill[m.ID], desc[m.ID] = m.Kill, m.Description
	}
	var rows []Result
	for _, m := range r.Mutants {
		if m.Outcome != Killed && m.Outcome != NoCompile {
			rows = append(rows, m)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Side < rows[j].Side })
	for _, m := range rows {
		k := kill[m.ID]
		if k == "" {
			k = "—"
		}
		d := desc[m.ID]
		if d == "" {
			d = m.Description
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", m.Side, m.ID, m.Requirement, m.Outcome, mdCell(d), mdCell(k))
	}
	if len(rows) == 0 {
		b.WriteString("| — | — | — | — | every mutant was killed | — |\n")
	}
	return b.String()
}

// publish writes the doc section and regenerates docs/conformance.md.
func publish(root string, r *Report) error {
	frag := filepath.Join(root, "conformance", "mutation.md")
	if err := os.WriteFile(frag, []byte(r.docSection()), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(goTool(), "run", "./cmd/conform", "list", "--markdown")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("failed to regenerate docs/conformance.md: %w", err)
	}
	return os.WriteFile(filepath.Join(root, "docs", "conformance.md"), out, 0o644)
}
