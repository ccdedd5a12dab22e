package harness

import (
	"fmt"
	"slices"
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
	// --label-filter), or --fail-fast stopped the run before it.
	Skipped Verdict = "skipped"
	// Blocked: something the case relies on is broken (a preflight basic
	// such as the handshake or a send round trip, or a requirement the case
	// does not prove, broken on the way), so the case could not judge its
	// own requirements. The violation is filed under its root cause (see
	// CaseResult.Cause), never under the case's requirements. Never
	// counted as a pass.
	Blocked Verdict = "blocked"
)

// Verdicts lists every verdict in report order.
var Verdicts = []Verdict{Pass, Fail, Blocked, Warn, HarnessError, Untestable, NotApplicable, Skipped}

// CauseKind says what kind of problem a root cause is.
type CauseKind string

// Kinds of root cause.
const (
	// CauseFail: the implementation broke a MUST (or, strict, a SHOULD).
	CauseFail CauseKind = "fail"
	// CauseWarning: the implementation broke a SHOULD or MAY; the run is
	// not failed by it unless strict.
	CauseWarning CauseKind = "warning"
	// CauseHarness: the suite or its environment failed.
	CauseHarness CauseKind = "harness-error"
	// CauseUntestable: the implementation does not offer what the basic
	// needs (a control route, a chat the gateway may post to).
	CauseUntestable CauseKind = "untestable"
)

// RootCause is why a case is blocked.
type RootCause struct {
	// Requirement is the requirement that was broken, when one was.
	Requirement string `json:"requirement,omitempty"`
	// Case is the preflight case that found it, when one did.
	Case string `json:"case,omitempty"`
	// Kind says whether it is a failure, a warning, a harness error or an
	// untestable basic.
	Kind CauseKind `json:"kind"`
	// Message is the first line of what was seen.
	Message string `json:"message"`
}

// Key identifies the root cause for grouping: the requirement, else the
// case.
func (c RootCause) Key() string {
	if c.Requirement != "" {
		return c.Requirement
	}
	return c.Case
}

// String renders the cause in one line.
func (c RootCause) String() string {
	var b strings.Builder
	if c.Requirement != "" {
		b.WriteString(c.Requirement)
		if c.Case != "" {
			b.WriteString(" (preflight " + c.Case + ")")
		}
	} else {
		b.WriteString("preflight " + c.Case)
	}
	if c.Kind != CauseFail {
		b.WriteString(" [" + string(c.Kind) + "]")
	}
	if c.Message != "" {
		b.WriteString(": " + c.Message)
	}
	return b.String()
}

// Finding is a violation seen by a case that does not prove its
// requirement: a frame that breaks a rule of its own (checked on every
// frame) or a SHOULD the case met on its way. It is kept on the run, so
// that no case's verdict is coloured by another requirement; a finding of
// kind fail makes the run non-conformant like a failed case.
type Finding struct {
	Requirement string    `json:"requirement"`
	Level       string    `json:"level"`
	Kind        CauseKind `json:"kind"`
	Case        string    `json:"case"`
	Message     string    `json:"message"`
}

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
	// Cause is the root cause of a blocked case.
	Cause *RootCause `json:"cause,omitempty"`
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
	Parallel        int             `json:"parallel"`
	Features        []FeatureStatus `json:"features"`
	Cases           []CaseResult    `json:"cases"`
	// SuiteErrors are problems outside any case that make the run a
	// harness error.
	SuiteErrors []string `json:"suiteErrors,omitempty"`
	// Notes are remarks about the run that do not change its verdict.
	Notes []string `json:"notes,omitempty"`
	// Findings are warnings seen by cases that do not prove their
	// requirement.
	Findings []Finding `json:"findings,omitempty"`
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
// is not an expected one, a case is blocked by a failure that is not an
// expected one, or an expected failure is stale; else 3 when a case or the
// suite hit a harness error (or is blocked by one); else 0.
func (r *Result) ExitCode() int {
	harness := len(r.SuiteErrors) > 0
	for _, c := range r.Cases {
		switch {
		case c.Baseline == "stale":
			return ExitNonConformant
		case c.Verdict == Fail && c.Baseline != "expected":
			return ExitNonConformant
		case c.Verdict == Blocked && c.Cause != nil && c.Cause.Kind == CauseFail && !r.expectedCause(*c.Cause):
			return ExitNonConformant
		case c.Verdict == HarnessError:
			harness = true
		case c.Verdict == Blocked && c.Cause != nil && c.Cause.Kind == CauseHarness:
			harness = true
		}
	}
	for _, f := range r.Findings {
		if f.Kind == CauseFail && !r.expectedCause(RootCause{Requirement: f.Requirement}) {
			return ExitNonConformant
		}
	}
	if harness {
		return ExitHarness
	}
	return ExitConformant
}

// expectedCause reports whether a root cause is a failure the baseline
// expects: its preflight case, or a failed case proving its requirement,
// is listed as an expected failure.
func (r *Result) expectedCause(rc RootCause) bool {
	for _, c := range r.Cases {
		if c.Verdict != Fail || c.Baseline != "expected" {
			continue
		}
		if c.ID == rc.Case {
			return true
		}
		for _, req := range c.Requirements {
			if req == rc.Requirement {
				return true
			}
		}
	}
	return false
}

// RootCauseGroup is one root cause of a run's failures: the requirement
// (or preflight case) that broke, the cases that judged it and failed, and
// the cases it blocked.
type RootCauseGroup struct {
	Key     string    `json:"key"`
	Kind    CauseKind `json:"kind"`
	Message string    `json:"message"`
	Failed  []string  `json:"failed,omitempty"`
	Blocked []string  `json:"blocked,omitempty"`
	// Seen lists the cases that saw the violation in a frame without
	// proving its requirement (findings).
	Seen []string `json:"seen,omitempty"`
}

// RootCauses groups the failed and blocked cases by root cause: each
// failed case under its primary requirement (or the requirement its
// message names), each blocked case under its cause. Groups come in
// order of size, largest first.
func (r *Result) RootCauses() []RootCauseGroup {
	groups := map[string]*RootCauseGroup{}
	get := func(key string, kind CauseKind, msg string) *RootCauseGroup {
		g, ok := groups[key]
		if !ok {
			g = &RootCauseGroup{Key: key, Kind: kind, Message: msg}
			groups[key] = g
		}
		return g
	}
	for _, c := range r.Cases {
		switch c.Verdict {
		case Fail:
			req := requirementOf(c.Message, c.Requirements[0])
			g := get(req, CauseFail, firstLine(c.Message))
			g.Failed = append(g.Failed, c.ID)
		case Blocked:
			if c.Cause == nil {
				continue
			}
			g := get(c.Cause.Key(), c.Cause.Kind, c.Cause.Message)
			g.Blocked = append(g.Blocked, c.ID)
		}
	}
	for _, f := range r.Findings {
		if f.Kind != CauseFail {
			continue
		}
		g := get(f.Requirement, CauseFail, firstLine(strings.TrimSpace(f.Message)))
		if !slices.Contains(g.Seen, f.Case) {
			g.Seen = append(g.Seen, f.Case)
		}
	}
	out := make([]RootCauseGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		ni, nj := len(out[i].Failed)+len(out[i].Blocked)+len(out[i].Seen), len(out[j].Failed)+len(out[j].Blocked)+len(out[j].Seen)
		if ni != nj {
			return ni > nj
		}
		return out[i].Key < out[j].Key
	})
	return out
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
		case strings.HasPrefix(msg, prefixBlocked):
			return Blocked, strings.TrimPrefix(msg, prefixBlocked)
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

// Summary renders the verdict, one line per level with its counts, the
// root causes of failures and blocked cases, and the stale baseline
// entries.
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
	if groups := r.RootCauses(); len(groups) > 0 {
		b.WriteString("  root causes:\n")
		for _, g := range groups {
			var parts []string
			if n := len(g.Failed); n > 0 {
				parts = append(parts, fmt.Sprintf("%d failed", n))
			}
			if n := len(g.Blocked); n > 0 {
				parts = append(parts, fmt.Sprintf("%d blocked", n))
			}
			if n := len(g.Seen); n > 0 {
				parts = append(parts, fmt.Sprintf("seen in %d case%s", n, plural(n)))
			}
			kind := ""
			if g.Kind != CauseFail {
				kind = " [" + string(g.Kind) + "]"
			}
			fmt.Fprintf(&b, "    %-10s %s%s: %s\n", g.Key, strings.Join(parts, ", "), kind, Truncate(g.Message, 120))
		}
	}
	for _, id := range r.Stale() {
		fmt.Fprintf(&b, "  stale baseline entry %s: it passes now; remove it from the baseline\n", id)
	}
	return strings.TrimRight(b.String(), "\n")
}
