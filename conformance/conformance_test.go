package conformance

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/conformance/internal/harness"

	"github.com/relaykit/relaykit/internal/deviation"
)

var update = flag.Bool("update", false, "rewrite docs/conformance.md")

func TestSuiteDefinitionIsValid(t *testing.T) {
	for _, err := range Validate() {
		t.Error(err)
	}
}

func TestCaseLabels(t *testing.T) {
	for _, side := range []Side{Connector, Gateway} {
		for _, c := range Cases(side) {
			ls := c.Labels()
			nLevels := 0
			for _, l := range ls {
				if harness.IsLevel(l) {
					nLevels++
				}
			}
			if nLevels != 1 {
				t.Errorf("%s: %d level labels in %v", c.ID, nLevels, ls)
			}
			if !contains(ls, string(side)) || !contains(ls, c.Feature()) {
				t.Errorf("%s: labels %v miss the side or feature", c.ID, ls)
			}
			for _, id := range c.Reqs {
				if !contains(ls, id) {
					t.Errorf("%s: labels %v miss requirement %s", c.ID, ls, id)
				}
			}
			if !strings.HasPrefix(c.SpecRef(), harness.ContractDoc+"#") {
				t.Errorf("%s: spec-ref %q", c.ID, c.SpecRef())
			}
		}
	}
}

func contains(ls []string, s string) bool {
	for _, l := range ls {
		if l == s {
			return true
		}
	}
	return false
}

// TestGinkgoTree builds the connector suite's Ginkgo tree in dry-run mode
// and checks what Ginkgo sees: one leaf spec per case, labelled on the leaf,
// and no labels at all on containers. It uses this test binary's single
// RunSpecs.
func TestGinkgoTree(t *testing.T) {
	rs := &harness.RunState{Side: Connector, Opts: Options{Output: discard{}}, DryRun: true}
	res, err := harness.Execute(&harness.FailRecorder{}, rs, "dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Specs) != len(Cases(Connector)) {
		t.Fatalf("%d specs for %d cases", len(rs.Specs), len(Cases(Connector)))
	}
	for _, sr := range rs.Specs {
		for _, ls := range sr.ContainerHierarchyLabels {
			if len(ls) > 0 {
				t.Errorf("%s: container labels %v", sr.LeafNodeText, ls)
			}
		}
		levels := 0
		for _, l := range sr.LeafNodeLabels {
			if harness.IsLevel(l) {
				levels++
			}
		}
		if levels != 1 {
			t.Errorf("%s: leaf labels %v", sr.LeafNodeText, sr.LeafNodeLabels)
		}
	}
	if _, ok := res.Case("AUTH-010/wrong-secret"); !ok {
		t.Error("result misses AUTH-010/wrong-secret")
	}
	// A second run in one process is refused, not crashed.
	if _, err := harness.Execute(&harness.FailRecorder{}, &harness.RunState{Side: Gateway}, "again"); err == nil {
		t.Error("second execute: no error")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestExitCodesAndBaseline(t *testing.T) {
	res := func(vs ...Verdict) *Result {
		r := &Result{}
		ids := []string{"AUTH-010/wrong-secret", "AUTH-002/missing-token", "TRN-004/unknown-frame-type"}
		for i, v := range vs {
			r.Cases = append(r.Cases, CaseResult{ID: ids[i], Level: "MUST", Verdict: v})
		}
		return r
	}
	b, err := ParseBaseline([]byte("side: connector\nexpected_failures:\n  - case: AUTH-010/wrong-secret\n    reason: we answer HTTP 401\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		r        *Result
		baseline bool
		want     int
	}{
		{"all pass", res(Pass, Pass, Warn), false, ExitConformant},
		{"untestable is not a failure", res(Pass, Untestable, NotApplicable), false, ExitConformant},
		{"failure", res(Fail, Pass, Pass), false, ExitNonConformant},
		{"listed failure", res(Fail, Pass, Pass), true, ExitConformant},
		{"new failure", res(Fail, Fail, Pass), true, ExitNonConformant},
		{"stale entry", res(Pass, Pass, Pass), true, ExitNonConformant},
		{"listed but untestable is not stale", res(Untestable, Pass, Pass), true, ExitConformant},
		{"harness error", res(Pass, HarnessError, Pass), false, ExitHarness},
		{"failure wins over harness error", res(Pass, HarnessError, Fail), false, ExitNonConformant},
	} {
		if c.baseline {
			b.Apply(c.r)
		}
		if got := c.r.ExitCode(); got != c.want {
			t.Errorf("%s: exit code %d, want %d", c.name, got, c.want)
		}
	}
	for _, bad := range []string{
		"expected_failures:\n  - case: NOPE-001/x\n    reason: r\n",
		"expected_failures:\n  - case: AUTH-010/wrong-secret\n",
		"expected_failures:\n  - case: AUTH-010/wrong-secret\n    reason: r\n  - case: AUTH-010/wrong-secret\n    reason: r\n",
		"side: gateway\nexpected_failures:\n  - case: AUTH-010/wrong-secret\n    reason: r\n",
		"side: sideways\n",
		"expected_failures:\n  - kase: AUTH-010/wrong-secret\n",
	} {
		if _, err := ParseBaseline([]byte(bad)); err == nil {
			t.Errorf("ParseBaseline(%q): no error", bad)
		}
	}
	out := WriteBaseline(res(Fail, Pass, Pass))
	if b2, err := ParseBaseline([]byte(strings.ReplaceAll(string(out), "TODO: explain", "known"))); err != nil || len(b2.ExpectedFailures) != 1 {
		t.Errorf("WriteBaseline output does not parse back: %v\n%s", err, out)
	}
}

// TestBlockedCasesAndFindings: a blocked case counts as its root cause, a
// failing finding fails the run, a baseline entry for the root cause's
// case covers both, and the root causes group them.
func TestBlockedCasesAndFindings(t *testing.T) {
	fail := func(id, req string) CaseResult {
		return CaseResult{ID: id, Requirements: []string{req}, Level: "MUST", Verdict: Fail,
			Message: req + " MUST (connector) x\n  actual: y"}
	}
	blocked := func(id string, kind CauseKind, req string) CaseResult {
		return CaseResult{ID: id, Requirements: []string{"IDLE-009"}, Level: "MUST", Verdict: Blocked,
			Cause: &RootCause{Requirement: req, Kind: kind, Message: "m"}}
	}
	pass := CaseResult{ID: "TRN-004/unknown-frame-type", Requirements: []string{"TRN-004"}, Level: "MUST", Verdict: Pass}
	for _, c := range []struct {
		name string
		r    Result
		want int
	}{
		{"blocked by a failure", Result{Cases: []CaseResult{pass, blocked("IDLE-009/drain-in-order", CauseFail, "HS-013")}}, ExitNonConformant},
		{"blocked by a harness error", Result{Cases: []CaseResult{pass, blocked("IDLE-009/drain-in-order", CauseHarness, "")}}, ExitHarness},
		{"blocked by an untestable basic", Result{Cases: []CaseResult{pass, blocked("IDLE-009/drain-in-order", CauseUntestable, "")}}, ExitConformant},
		{"blocked by a warning", Result{Cases: []CaseResult{pass, blocked("IDLE-009/drain-in-order", CauseWarning, "OUT-008")}}, ExitConformant},
		{"failing finding", Result{Cases: []CaseResult{pass}, Findings: []Finding{{Requirement: "TRN-002", Kind: CauseFail, Case: pass.ID}}}, ExitNonConformant},
		{"warning finding", Result{Cases: []CaseResult{pass}, Findings: []Finding{{Requirement: "OUT-002", Kind: CauseWarning, Case: pass.ID}}}, ExitConformant},
	} {
		if got := c.r.ExitCode(); got != c.want {
			t.Errorf("%s: exit code %d, want %d", c.name, got, c.want)
		}
	}

	// A listed failure of HS-013 covers the cases it blocks and the
	// findings under it.
	r := &Result{Cases: []CaseResult{fail("HS-013/descriptor-platform", "HS-013"), blocked("IDLE-009/drain-in-order", CauseFail, "HS-013")},
		Findings: []Finding{{Requirement: "HS-013", Kind: CauseFail, Case: "IDLE-009/drain-in-order"}}}
	b := &Baseline{ExpectedFailures: []ExpectedFailure{{Case: "HS-013/descriptor-platform", Reason: "known"}}}
	b.Apply(r)
	if got := r.ExitCode(); got != ExitConformant {
		t.Errorf("baseline covering the root cause: exit code %d, want 0", got)
	}
	groups := r.RootCauses()
	if len(groups) != 1 || groups[0].Key != "HS-013" || len(groups[0].Failed) != 1 || len(groups[0].Blocked) != 1 || len(groups[0].Seen) != 1 {
		t.Errorf("root causes %+v; want one HS-013 group with one failed, one blocked, one seen", groups)
	}
	if !strings.Contains(r.Summary(), "HS-013") {
		t.Errorf("summary does not name the root cause:\n%s", r.Summary())
	}
}

// TestBaselineForTheOtherSideRefused: a baseline whose side or entries
// belong to the other suite is a usage error for this run.
func TestBaselineForTheOtherSideRefused(t *testing.T) {
	b, err := ParseBaseline([]byte("side: gateway\nexpected_failures: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckSide(Connector); err == nil {
		t.Error("a gateway baseline accepted for the connector suite")
	}
	b, err = ParseBaseline([]byte("expected_failures:\n  - case: AUTH-010/wrong-secret\n    reason: r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckSide(Gateway); err == nil {
		t.Error("a connector case accepted in a gateway baseline")
	}
	if err := b.CheckSide(Connector); err != nil {
		t.Errorf("a connector baseline refused for the connector suite: %v", err)
	}
}

func TestCoverageDocIsCurrent(t *testing.T) {
	const path = "../docs/conformance.md"
	got := CoverageMarkdown()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./conformance -run TestCoverageDocIsCurrent -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("docs/conformance.md is stale; regenerate with: go run ./cmd/conform list --markdown > docs/conformance.md")
	}
}

// TestDeviationMatrixCoversEveryMode: the matrix has exactly one row for
// each deviation of the registry (internal/deviation); a row's breaks
// column is the registry's one requirement for it, and at least one case
// the row must fail checks that requirement, so the registry names what
// the suite really catches.
func TestDeviationMatrixCoversEveryMode(t *testing.T) {
	rows := map[deviation.ID]int{}
	for _, d := range DeviationMatrix {
		info, ok := deviation.Lookup(d.Side, d.Deviation)
		if !ok {
			t.Errorf("%s/%s: no such deviation in the registry", d.Side, d.Deviation)
			continue
		}
		rows[info.ID]++
		if d.Breaks() != info.Requirement || !slices.Equal(d.Also(), info.Also) {
			t.Errorf("%s: the row breaks %s (also %v), the registry %s (also %v)", info.ID, d.Breaks(), d.Also(), info.Requirement, info.Also)
		}
		known := map[string]*Case{}
		for _, c := range Cases(d.Side) {
			known[c.ID] = c
		}
		caught := false
		for _, id := range d.Fail {
			c, ok := known[id]
			if !ok {
				t.Errorf("%s/%s: unknown case %s", d.Side, d.Deviation, id)
				continue
			}
			caught = caught || slices.Contains(c.Reqs, info.Requirement)
		}
		if !caught {
			t.Errorf("%s breaks %s, but no case it must fail checks %s", info.ID, info.Requirement, info.Requirement)
		}
	}
	for _, info := range deviation.All() {
		if rows[info.ID] != 1 {
			t.Errorf("deviation %s has %d matrix rows, want 1", info.ID, rows[info.ID])
		}
	}
}
