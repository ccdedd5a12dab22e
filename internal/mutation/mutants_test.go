package main

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMutantsAreCurrent keeps the catalogue honest as the code moves: every
// mutant's Old snippet occurs exactly once in its file, changes something,
// and the mutant names a MUST of its side. (Some of those MUSTs are
// registered as not observable by a bare peer but are observable through
// the testee contracts, such as the echo profile, so observability is not
// required.) It does not build or run anything; go run ./internal/mutation
// does.
func TestMutantsAreCurrent(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	count := map[Side]int{}
	for _, m := range allMutants() {
		t.Run(m.ID, func(t *testing.T) {
			if seen[m.ID] {
				t.Errorf("mutant ID %s is used twice", m.ID)
			}
			seen[m.ID] = true
			count[m.Side]++
			if _, err := m.Apply(root); err != nil {
				t.Error(err)
			}
			if m.Old == m.New {
				t.Errorf("Old and New are identical: not a mutant")
			}
			if strings.TrimSpace(m.Description) == "" {
				t.Errorf("no Description")
			}
			dir := filepath.ToSlash(filepath.Dir(m.File))
			switch m.Side {
			case Connector:
				if dir != "simulator" {
					t.Errorf("a connector mutant lives in simulator/, not %s", m.File)
				}
			case Gateway:
				if dir != "client" && dir != "client/adapter" && dir != "examples/echogateway" {
					t.Errorf("a gateway mutant lives in client/, client/adapter or examples/echogateway, not %s", m.File)
				}
			default:
				t.Errorf("unknown side %q", m.Side)
			}
			if strings.HasSuffix(m.File, "_test.go") || filepath.Base(m.File) == "deviations.go" {
				t.Errorf("%s: mutate the real code paths, not tests or deviation switches", m.File)
			}
			r, ok := contract.LookupRequirement(m.Requirement)
			switch {
			case !ok:
				t.Errorf("requirement %s is not in contract/requirements.yaml", m.Requirement)
			case r.Level != contract.LevelMust:
				t.Errorf("requirement %s is a %s; mutants must break a MUST", r.ID, r.Level)
			case !r.Binds(contract.Side(m.Side)):
				t.Errorf("requirement %s binds the %s, not the %s", r.ID, r.Side, m.Side)
			}
			if m.Probe != "" {
				p, ok := probes[m.Probe]
				switch {
				case !ok:
					t.Errorf("probe %q is not defined", m.Probe)
				case p.side != m.Side:
					t.Errorf("probe %q checks the %s, the mutant is of the %s", m.Probe, p.side, m.Side)
				}
				used[m.Probe] = true
			}
		})
	}
	for name := range probes {
		if !used[name] {
			t.Errorf("probe %q is used by no mutant", name)
		}
	}
	for _, side := range []Side{Connector, Gateway} {
		if count[side] < 40 {
			t.Errorf("%d %s mutants, want at least 40", count[side], side)
		}
	}
}

func TestSelectMutants(t *testing.T) {
	all := allMutants()
	got, err := selectMutants(all, "connector", "")
	if err != nil || len(got) != len(connectorMutants) {
		t.Fatalf("connector side: %d mutants, %v; want %d", len(got), err, len(connectorMutants))
	}
	id := gatewayMutants[0].ID
	if got, err := selectMutants(all, "", id); err != nil || len(got) != 1 || got[0].ID != id {
		t.Errorf("-only %s: %v, %v", id, got, err)
	}
	if _, err := selectMutants(all, "connector", id); err == nil {
		t.Errorf("-only a gateway mutant on the connector side: no error")
	}
	if _, err := selectMutants(all, "", "no-such-mutant"); err == nil {
		t.Errorf("-only an unknown mutant: no error")
	}
}
