package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Side is the suite a mutant is run against.
type Side string

// The two suites.
const (
	Connector Side = "connector" // conform connector against cmd/relaysim
	Gateway   Side = "gateway"   // conform gateway against examples/echogateway
)

// Mutant is one plausible implementer's mistake, as a textual replacement
// in one file of the real code paths (never a deviation switch).
type Mutant struct {
	// ID names the mutant in reports and for -only.
	ID string
	// Side is the suite that should kill it.
	Side Side
	// File is the mutated file, relative to the repository root.
	File string
	// Old is the snippet replaced; it must occur exactly once in File, so a
	// mutant goes stale loudly when the code moves.
	Old string
	// New replaces Old.
	New string
	// Requirement is the MUST (an ID of contract/requirements.yaml) the
	// mutant breaks.
	Requirement string
	// Description is the mistake and why it breaks Requirement: the
	// careful reading that stands for a probe where there is none.
	Description string
	// Probe names the independent check in probes.go that shows the break
	// through a real socket ("" when the Description is the argument).
	Probe string
	// Kill, for a mutant the suite lets survive, is the case the suite
	// would need to kill it.
	Kill string
}

// Apply returns the content of m.File with the mutation applied, reading
// the file under root. It fails when Old does not occur exactly once.
func (m Mutant) Apply(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, m.File))
	if err != nil {
		return "", fmt.Errorf("mutant %s: %w", m.ID, err)
	}
	src := string(b)
	if n := strings.Count(src, m.Old); n != 1 {
		return "", fmt.Errorf("mutant %s: its Old snippet occurs %d times in %s, want exactly once (the code moved: update the mutant)", m.ID, n, m.File)
	}
	return strings.Replace(src, m.Old, m.New, 1), nil
}

// Target is the package whose binary the side's suite runs.
func (s Side) Target() string {
	if s == Connector {
		return "./cmd/relaysim"
	}
	return "./examples/echogateway"
}

// selectMutants returns the mutants of side ("" or "all" for both) whose
// ID is in only (comma-separated; empty for all), in catalogue order.
func selectMutants(all []Mutant, side, only string) ([]Mutant, error) {
	want := map[string]bool{}
	for _, id := range strings.Split(only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	found := map[string]bool{}
	var out []Mutant
	for _, m := range all {
		if side != "" && side != "all" && string(m.Side) != side {
			continue
		}
		if len(want) > 0 && !want[m.ID] {
			continue
		}
		found[m.ID] = true
		out = append(out, m)
	}
	var ids []string
	for id := range want {
		if !found[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		sort.Strings(ids)
		return nil, fmt.Errorf("-only names unknown mutants (or ones of the other side): %s", strings.Join(ids, ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no mutant selected")
	}
	return out, nil
}
