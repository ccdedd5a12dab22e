package harness

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Baseline is an expected-failures file kept in the implementation's
// repository. A listed case that fails does not fail the run; an unlisted
// failure does; a listed case that now passes makes the run fail as
// "stale", so the file shrinks as the implementation improves.
//
// The file is YAML:
//
//	# conform baseline for acme-connector
//	side: connector            # optional; connector or gateway
//	expected_failures:
//	  - case: AUTH-010/wrong-key
//	    reason: "we answer HTTP 401; fix tracked in #123"
//
// Every entry needs a reason.
type Baseline struct {
	Side             Side              `yaml:"side,omitempty"`
	ExpectedFailures []ExpectedFailure `yaml:"expected_failures"`
}

// ExpectedFailure is one baseline entry.
type ExpectedFailure struct {
	Case   string `yaml:"case"`
	Reason string `yaml:"reason"`
}

// ParseBaseline parses a baseline file and checks every entry names a case
// of the suite and has a reason.
func ParseBaseline(data []byte) (*Baseline, error) {
	var b Baseline
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if b.Side != "" && b.Side != Connector && b.Side != Gateway {
		return nil, fmt.Errorf("baseline: side must be connector or gateway, got %q", b.Side)
	}
	known := map[string]Side{}
	for _, side := range []Side{Connector, Gateway} {
		for _, c := range casesOf(side) {
			known[c.ID] = side
		}
	}
	seen := map[string]bool{}
	for i, e := range b.ExpectedFailures {
		side, ok := known[e.Case]
		switch {
		case e.Case == "":
			return nil, fmt.Errorf("baseline: entry %d has no case", i+1)
		case !ok:
			return nil, fmt.Errorf("baseline: unknown case %q (see conform list)", e.Case)
		case b.Side != "" && side != b.Side:
			return nil, fmt.Errorf("baseline: case %q belongs to the %s suite, not %s", e.Case, side, b.Side)
		case strings.TrimSpace(e.Reason) == "":
			return nil, fmt.Errorf("baseline: case %q has no reason", e.Case)
		case seen[e.Case]:
			return nil, fmt.Errorf("baseline: case %q listed twice", e.Case)
		}
		seen[e.Case] = true
	}
	return &b, nil
}

// CheckSide refuses a baseline written for the other suite: a side that
// differs from the run's, or an entry naming a case of the other side.
func (b *Baseline) CheckSide(side Side) error {
	if b.Side != "" && b.Side != side {
		return fmt.Errorf("baseline: the file is for the %s suite, this run is the %s suite", b.Side, side)
	}
	mine := map[string]bool{}
	for _, c := range casesOf(side) {
		mine[c.ID] = true
	}
	for _, e := range b.ExpectedFailures {
		if !mine[e.Case] {
			return fmt.Errorf("baseline: case %q belongs to the other suite, not the %s suite", e.Case, side)
		}
	}
	return nil
}

// Stale returns the IDs of the listed cases that no longer fail.
func (r *Result) Stale() []string {
	var ids []string
	for _, c := range r.Cases {
		if c.Baseline == "stale" {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// ReadBaseline reads and parses a baseline file.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseBaseline(data)
}

// Apply marks the result's cases: "expected" on a listed case that failed,
// "stale" on a listed case that passed or only warned. Listed cases that
// were not judged (untestable, n/a, skipped, harness error) are left alone.
func (b *Baseline) Apply(r *Result) {
	listed := map[string]bool{}
	for _, e := range b.ExpectedFailures {
		listed[e.Case] = true
	}
	for i := range r.Cases {
		c := &r.Cases[i]
		if !listed[c.ID] {
			continue
		}
		switch c.Verdict {
		case Fail:
			c.Baseline = "expected"
		case Pass, Warn:
			c.Baseline = "stale"
		}
	}
}

// WriteBaseline renders a baseline listing every failed case of r, for
// bootstrapping a baseline file.
func WriteBaseline(r *Result) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# conform baseline: expected failures of %s (%s suite)\n", r.Implementation, r.Side)
	fmt.Fprintf(&b, "side: %s\nexpected_failures:\n", r.Side)
	ids := r.IDs(Fail)
	sort.Strings(ids)
	if len(ids) == 0 {
		b.WriteString("  []\n")
	}
	for _, id := range ids {
		fmt.Fprintf(&b, "  - case: %s\n    reason: \"TODO: explain\"\n", id)
	}
	return []byte(b.String())
}

func sortUncovered(us []Uncovered) {
	sort.Slice(us, func(i, j int) bool {
		if us[i].ID != us[j].ID {
			return reqLess(us[i].ID, us[j].ID)
		}
		return us[i].Side < us[j].Side
	})
}

func reqLess(a, b string) bool {
	ai, bi := areaIndex(area(a)), areaIndex(area(b))
	if ai != bi {
		return ai < bi
	}
	return reqNumber(a) < reqNumber(b)
}
