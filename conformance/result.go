package conformance

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Verdict is the outcome of one case.
type Verdict string

const (
	// Pass: the implementation did what the requirement asks.
	Pass Verdict = "pass"
	// Warn: a SHOULD (or MAY) requirement was not met and the run is not
	// strict. It does not fail the run.
	Warn Verdict = "warn"
	// Fail: the implementation is non-conformant.
	Fail Verdict = "fail"
	// HarnessError: the suite or its environment failed; the case says
	// nothing about the implementation.
	HarnessError Verdict = "harness-error"
	// Untestable: the implementation does not offer what the case needs
	// (a testee hook, a declared profile). Never counted as a pass.
	Untestable Verdict = "untestable"
	// NotApplicable: the case checks an optional feature that is not in
	// force for the implementation.
	NotApplicable Verdict = "n/a"
	// Skipped: the case was not selected (--focus, --skip, --fast,
	// --label-filter).
	Skipped Verdict = "skipped"
)

// Verdicts lists every verdict in report order.
var Verdicts = []Verdict{Pass, Fail, Warn, HarnessError, Untestable, NotApplicable, Skipped}

// CaseResult is the outcome of one case.
type CaseResult struct {
	ID           string        `json:"id"`
	Requirements []string      `json:"requirements"`
	Level        string        `json:"level"`
	Side         Side          `json:"side"`
	Feature      string        `json:"feature"`
	Text         string        `json:"text"`
	SpecRef      string        `json:"specRef"`
	Verdict      Verdict       `json:"verdict"`
	Message      string        `json:"message,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
	Observed     []string      `json:"observed,omitempty"`
	Transcript   string        `json:"transcript,omitempty"`
	Duration     time.Duration `json:"durationNs"`
	// Baseline is "expected" for a failure listed in the baseline file and
	// "stale" for a listed case that no longer fails.
	Baseline string `json:"baseline,omitempty"`
}

// Result is the outcome of a suite run.
type Result struct {
	Side            Side            `json:"side"`
	Implementation  string          `json:"implementation"`
	Target          string          `json:"target"`
	ContractVersion int             `json:"contractVersion"`
	SuiteVersion    string          `json:"suiteVersion"`
	Started         time.Time       `json:"started"`
	Duration        time.Duration   `json:"durationNs"`
	Strict          bool            `json:"strict"`
	Fast            bool            `json:"fast"`
	Features        []FeatureStatus `json:"features"`
	Cases           []CaseResult    `json:"cases"`
	// SuiteErrors are problems outside any case that make the run a
	// harness error.
	SuiteErrors []string `json:"suiteErrors,omitempty"`
	// Notes are remarks about the run that do not change its verdict.
	Notes []string `json:"notes,omitempty"`
}

// FeatureStatus records whether an optional feature was in force and why.
type FeatureStatus struct {
	Name    string `json:"name"`
	InForce bool   `json:"inForce"`
	// Source is "advertised", "declared", "forced" or "absent".
	Source string `json:"source"`
}

// Counts returns, per level, how many cases got each verdict.
func (r *Result) Counts() map[string]map[Verdict]int {
	out := map[string]map[Verdict]int{}
	for _, l := range levels {
		out[l] = map[Verdict]int{}
	}
	for _, c := range r.Cases {
		if out[c.Level] == nil {
			out[c.Level] = map[Verdict]int{}
		}
		out[c.Level][c.Verdict]++
	}
	return out
}

// IDs returns the IDs of the cases with verdict v, sorted.
func (r *Result) IDs(v Verdict) []string {
	var ids []string
	for _, c := range r.Cases {
		if c.Verdict == v {
			ids = append(ids, c.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// Case returns the result of the case with the given ID.
func (r *Result) Case(id string) (CaseResult, bool) {
	for _, c := range r.Cases {
		if c.ID == id {
			return c, true
		}
	}
	return CaseResult{}, false
}

// Exit codes of a run; see docs/conformance-guide.md.
const (
	ExitConformant    = 0 // every selected case passed, warned, or is a listed expected failure
	ExitNonConformant = 1 // a case failed that the baseline does not list, or a baseline entry is stale
	ExitUsage         = 2 // bad flags or options
	ExitHarness       = 3 // the suite could not judge: harness errors and no non-conformance
)

// ExitCode returns the process exit code for the result: 1 when a failure
// is not an expected one or an expected failure is stale, else 3 when a
// case or the suite hit a harness error, else 0.
func (r *Result) ExitCode() int {
	harness := len(r.SuiteErrors) > 0
	for _, c := range r.Cases {
		switch {
		case c.Baseline == "stale":
			return ExitNonConformant
		case c.Verdict == Fail && c.Baseline != "expected":
			return ExitNonConformant
		case c.Verdict == HarnessError:
			harness = true
		}
	}
	if harness {
		return ExitHarness
	}
	return ExitConformant
}

// classify turns a Ginkgo spec report into a verdict and its message.
func classify(sr types.SpecReport) (Verdict, string) {
	msg := sr.Failure.Message
	switch sr.State {
	case types.SpecStatePassed:
		if hasEntry(sr, entryWarning) {
			return Warn, ""
		}
		return Pass, ""
	case types.SpecStateSkipped, types.SpecStatePending:
		switch {
		case strings.HasPrefix(msg, prefixUntestable):
			return Untestable, strings.TrimPrefix(msg, prefixUntestable)
		case strings.HasPrefix(msg, prefixWarning):
			return Warn, strings.TrimPrefix(msg, prefixWarning)
		case strings.HasPrefix(msg, prefixNotApplicable):
			return NotApplicable, strings.TrimPrefix(msg, prefixNotApplicable)
		case strings.HasPrefix(msg, prefixNotSelected):
			return Skipped, strings.TrimPrefix(msg, prefixNotSelected)
		case msg == "":
			return Skipped, "filtered out"
		default:
			// A bare Skip from somewhere unexpected: not a pass, and not
			// something the suite can vouch for.
			return HarnessError, "unexpected skip: " + msg
		}
	case types.SpecStateFailed:
		switch {
		case strings.HasPrefix(msg, prefixHarness):
			return HarnessError, strings.TrimPrefix(msg, prefixHarness)
		case strings.HasPrefix(msg, prefixNonConformant):
			return Fail, strings.TrimPrefix(msg, prefixNonConformant)
		default:
			return Fail, msg
		}
	default: // panicked, interrupted, aborted, timed out
		return HarnessError, sr.State.String() + ": " + msg
	}
}

func hasEntry(sr types.SpecReport, name string) bool {
	for _, e := range sr.ReportEntries {
		if e.Name == name {
			return true
		}
	}
	return false
}

func entries(sr types.SpecReport, name string) []string {
	var out []string
	for _, e := range sr.ReportEntries {
		if e.Name == name {
			out = append(out, e.StringRepresentation())
		}
	}
	return out
}

// Summary renders one line per level with its counts.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "relay %s conformance of %s (contract v%d): %s\n", r.Side, r.Implementation, r.ContractVersion, exitMeaning(r.ExitCode()))
	counts := r.Counts()
	for _, l := range levels {
		var parts []string
		for _, v := range Verdicts {
			if n := counts[l][v]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, v))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "  %-6s %s\n", l, strings.Join(parts, ", "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
