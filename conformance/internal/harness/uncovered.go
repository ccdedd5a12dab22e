package harness

import (
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// uncoveredYAML lists observable MUST requirements that no case covers, with
// the reason. Validate fails on any observable MUST that is neither covered
// nor listed, and on a listed requirement that a case does cover.
//
//go:embed uncovered.yaml
var uncoveredYAML []byte

// Uncovered is one entry of uncovered.yaml.
type Uncovered struct {
	ID     string `yaml:"id"`
	Side   Side   `yaml:"side"`
	Reason string `yaml:"reason"`
}

func uncoveredKey(id string, side Side) string { return id + "@" + string(side) }

func loadUncovered() (map[string]Uncovered, error) {
	var doc struct {
		Uncovered []Uncovered `yaml:"uncovered"`
	}
	if err := yaml.Unmarshal(uncoveredYAML, &doc); err != nil {
		return nil, err
	}
	out := map[string]Uncovered{}
	for _, u := range doc.Uncovered {
		if u.Side != Connector && u.Side != Gateway {
			return nil, fmt.Errorf("%s: side must be connector or gateway, got %q", u.ID, u.Side)
		}
		k := uncoveredKey(u.ID, u.Side)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s (%s) listed twice", u.ID, u.Side)
		}
		out[k] = u
	}
	return out, nil
}

// UncoveredRequirements returns the entries of uncovered.yaml.
func UncoveredRequirements() []Uncovered {
	m, _ := loadUncovered()
	out := make([]Uncovered, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	sortUncovered(out)
	return out
}
