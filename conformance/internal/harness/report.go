package harness

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// JSON renders the result as the conformance report JSON.
func (r *Result) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}

// Markdown renders the result as a Markdown conformance report:
// implementation identity, contract version, per-level counts, features,
// and the failed, warned, untestable and harness-error cases.
func (r *Result) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Relay %s conformance report\n\n", r.Side)
	fmt.Fprintf(&b, "| | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| implementation | %s |\n", mdCell(r.Implementation))
	fmt.Fprintf(&b, "| target | `%s` |\n", mdCell(r.Target))
	fmt.Fprintf(&b, "| contract version | %d |\n", r.ContractVersion)
	fmt.Fprintf(&b, "| suite | %s |\n", r.SuiteVersion)
	fmt.Fprintf(&b, "| started | %s |\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "| duration | %s |\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "| mode | %s |\n", modeOf(r))
	fmt.Fprintf(&b, "| verdict | **%s** (exit code %d) |\n\n", exitMeaning(r.ExitCode()), r.ExitCode())

	b.WriteString("## Counts per level\n\n| level |")
	for _, v := range Verdicts {
		fmt.Fprintf(&b, " %s |", v)
	}
	b.WriteString("\n| --- |")
	for range Verdicts {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	counts := r.Counts()
	for _, l := range levels {
		fmt.Fprintf(&b, "| %s |", l)
		for _, v := range Verdicts {
			fmt.Fprintf(&b, " %d |", counts[l][v])
		}
		b.WriteString("\n")
	}
	b.WriteString("\nA skipped, untestable or n/a case is never counted as passed.\n")

	if len(r.Features) > 0 {
		b.WriteString("\n## Optional features\n\n| feature | in force | source |\n| --- | --- | --- |\n")
		for _, f := range r.Features {
			fmt.Fprintf(&b, "| %s | %v | %s |\n", f.Name, f.InForce, f.Source)
		}
	}
	section := func(title string, pick func(CaseResult) bool) {
		var rows []CaseResult
		for _, c := range r.Cases {
			if pick(c) {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s (%d)\n\n", title, len(rows))
		for _, c := range rows {
			note := ""
			if c.Baseline != "" {
				note = " — baseline: " + c.Baseline
			}
			fmt.Fprintf(&b, "- `%s` (%s, %s)%s: %s\n", c.ID, c.Level, strings.Join(c.Requirements, ", "), note, mdCell(c.Text))
			msg := c.Message
			if msg == "" && len(c.Warnings) > 0 {
				msg = c.Warnings[0]
			}
			if msg != "" {
				b.WriteString("\n  ```text\n")
				for _, line := range strings.Split(msg, "\n") {
					b.WriteString("  " + line + "\n")
				}
				b.WriteString("  ```\n")
			}
		}
	}
	if groups := r.RootCauses(); len(groups) > 0 {
		b.WriteString("\n## Root causes\n\n")
		b.WriteString("Each broken requirement (or preflight check) once, with the cases that judged it and the cases\n")
		b.WriteString("it blocked. A blocked case could not judge its own requirements.\n\n")
		b.WriteString("| root cause | kind | failed | blocked | first seen |\n| --- | --- | ---: | ---: | --- |\n")
		for _, g := range groups {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s |\n", g.Key, g.Kind, len(g.Failed), len(g.Blocked), mdCell(Truncate(g.Message, 160)))
		}
	}
	section("Non-conformant", func(c CaseResult) bool { return c.Verdict == Fail })
	section("Blocked", func(c CaseResult) bool { return c.Verdict == Blocked })
	section("Stale baseline entries (remove them from the baseline)", func(c CaseResult) bool { return c.Baseline == "stale" })
	section("Harness errors", func(c CaseResult) bool { return c.Verdict == HarnessError })
	section("Warnings (SHOULD)", func(c CaseResult) bool { return c.Verdict == Warn || (c.Verdict == Pass && len(c.Warnings) > 0) })
	section("Untestable", func(c CaseResult) bool { return c.Verdict == Untestable })
	if len(r.Findings) > 0 {
		fmt.Fprintf(&b, "\n## Findings outside their cases (%d)\n\n", len(r.Findings))
		b.WriteString("Violations seen in frames by cases that do not prove the requirement; a `fail` finding makes the run non-conformant.\n\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "- %s %s (%s), seen by `%s`: %s\n", f.Kind, f.Requirement, f.Level, f.Case, mdCell(findingDetail(f.Message)))
		}
	}
	if len(r.SuiteErrors)+len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, e := range r.SuiteErrors {
			fmt.Fprintf(&b, "- harness: %s\n", mdCell(e))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", mdCell(n))
		}
	}
	b.WriteString("\n## All cases\n\n| case | level | requirements | verdict |\n| --- | --- | --- | --- |\n")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.ID, c.Level, strings.Join(c.Requirements, ", "), c.Verdict)
	}
	return []byte(b.String())
}

// findingDetail is the "actual" line of a finding's message.
func findingDetail(msg string) string {
	for _, line := range strings.Split(msg, "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "actual:"); ok {
			return strings.TrimSpace(a)
		}
	}
	return firstLine(msg)
}

func modeOf(r *Result) string {
	var m []string
	if r.Strict {
		m = append(m, "strict")
	}
	if r.Fast {
		m = append(m, "fast")
	}
	if r.Parallel > 1 {
		m = append(m, fmt.Sprintf("%d cases at once", r.Parallel))
	}
	if len(m) == 0 {
		return "default"
	}
	return strings.Join(m, ", ")
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// ListFilter selects cases for List.
type ListFilter struct {
	Side    Side   // "" for both
	Level   string // "" for all
	Feature string // "" for all
	Prefix  string // case or requirement ID prefix
}

// Listed is one case as conform list shows it.
type Listed struct {
	ID           string   `json:"id"`
	Side         Side     `json:"side"`
	Level        string   `json:"level"`
	Feature      string   `json:"feature"`
	Requirements []string `json:"requirements"`
	Text         string   `json:"text"`
	Needs        string   `json:"needs,omitempty"`
	Slow         bool     `json:"slow,omitempty"`
	SpecRef      string   `json:"specRef"`
}

// List returns the cases the filter selects, connector side first.
func List(f ListFilter) []Listed {
	var out []Listed
	for _, side := range []Side{Connector, Gateway} {
		if f.Side != "" && f.Side != side {
			continue
		}
		for _, c := range Cases(side) {
			if f.Level != "" && !strings.EqualFold(f.Level, c.level) {
				continue
			}
			if f.Feature != "" && f.Feature != c.feat {
				continue
			}
			if f.Prefix != "" && !c.matches(f.Prefix) {
				continue
			}
			out = append(out, Listed{ID: c.ID, Side: side, Level: c.level, Feature: c.feat, Requirements: c.Reqs,
				Text: c.Text, Needs: c.Needs.String(), Slow: c.Slow, SpecRef: c.SpecRef()})
		}
	}
	return out
}

// matches reports whether the case ID or a requirement ID starts with p.
func (c *Case) matches(p string) bool {
	if strings.HasPrefix(c.ID, p) {
		return true
	}
	for _, r := range c.Reqs {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}

// precisionMarkdown is the measured precision and recall of the suites
// against the foreign doubles, kept by hand beside the generated tables
// (the figures come from self-check runs, not from the definition).
//
//go:embed precision.md
var precisionMarkdown string

// CoverageMarkdown renders docs/conformance.md: every requirement of the
// registry with the cases that check it, why it is not covered, or why it
// is not observable on the wire; then the deviation matrix and the
// mutation kill rate, whose section is mutation (package conformance embeds
// it from conformance/mutation.md, which the mutation harness writes).
func CoverageMarkdown(mutation string) []byte {
	var b strings.Builder
	b.WriteString("<!-- Code generated by \"go run ./cmd/conform list --markdown\"; DO NOT EDIT. -->\n\n")
	b.WriteString("# Conformance coverage\n\n")
	b.WriteString("Every requirement of the [contract](relay-connector-contract.md) with the conformance cases that\n")
	b.WriteString("check it (`conform list` shows the same data). A test regenerates this file and fails on drift.\n")
	b.WriteString("How to run the suites is in the [conformance guide](conformance-guide.md).\n\n")

	cases := map[string][]string{}
	nc, ng := 0, 0
	for _, side := range []Side{Connector, Gateway} {
		for _, c := range Cases(side) {
			if side == Connector {
				nc++
			} else {
				ng++
			}
			for _, id := range c.Reqs {
				cases[id+"@"+string(side)] = append(cases[id+"@"+string(side)], "`"+c.ID+"`")
			}
		}
	}
	unc, _ := loadUncovered()
	fmt.Fprintf(&b, "%d connector cases and %d gateway cases check %d requirements.\n\n", nc, ng, countCovered(cases))
	for _, a := range areas {
		fmt.Fprintf(&b, "## %s %s\n\n", a.Code, a.Title)
		b.WriteString("| requirement | level | side | feature | title | connector cases | gateway cases |\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range contract.Requirements() {
			if area(r.ID) != a.Code {
				continue
			}
			cell := func(side Side) string {
				if !r.Binds(side) {
					return "—"
				}
				if cs := cases[r.ID+"@"+string(side)]; len(cs) > 0 {
					// Catalogue cases are counted here and listed in
					// their own section.
					var own []string
					nCat := 0
					for _, c := range cs {
						if _, ok := CatalogueEntries[strings.Trim(c, "`")]; ok {
							nCat++
						} else {
							own = append(own, c)
						}
					}
					sort.Strings(own)
					if nCat > 0 {
						own = append(own, fmt.Sprintf("[%d catalogue case%s](#bad-input-catalogue)", nCat, plural(nCat)))
					}
					return strings.Join(own, "<br>")
				}
				if !r.Observable {
					return "not observable: " + mdCell(r.Reason)
				}
				if u, ok := unc[uncoveredKey(r.ID, side)]; ok {
					return "uncovered: " + mdCell(strings.TrimSpace(u.Reason))
				}
				return "no case (" + string(r.Level) + ")"
			}
			fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s | %s | %s | %s |\n", r.ID, strings.TrimPrefix(specRef(r), "docs/"), r.Level, r.Side, r.Feature,
				mdCell(r.Title), cell(Connector), cell(Gateway))
		}
		b.WriteString("\n")
	}
	b.WriteString(catalogueMarkdown())
	b.WriteString(deviationMatrixMarkdown())
	b.WriteString("\n")
	b.WriteString(precisionMarkdown)
	if mutation != "" {
		b.WriteString("\n" + mutation)
	}
	return []byte(b.String())
}

func countCovered(cases map[string][]string) int {
	ids := map[string]bool{}
	for k := range cases {
		id, _, _ := strings.Cut(k, "@")
		ids[id] = true
	}
	return len(ids)
}
