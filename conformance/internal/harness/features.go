package harness

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// FeatureAll, as a key of Options.Features, forces every optional feature
// on (true) or off (false); entries naming a feature override it for that
// feature. A gateway that implements the whole testee contract declares
// --feature all.
const FeatureAll = "all"

// optionalFeatures returns the names of the registry's optional features
// (every feature but "core"), sorted.
func optionalFeatures() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range contract.Requirements() {
		if r.Feature != "core" && !seen[r.Feature] {
			seen[r.Feature] = true
			out = append(out, r.Feature)
		}
	}
	sort.Strings(out)
	return out
}

// resolveFeatures checks the names of forced features and expands
// FeatureAll into every optional feature. An unknown name is an error that
// lists the known ones, so a typo never silently turns cases "n/a".
func resolveFeatures(in map[string]bool) (map[string]bool, error) {
	if len(in) == 0 {
		return in, nil
	}
	known := optionalFeatures()
	var bad []string
	for name := range in {
		if name != FeatureAll && !slices.Contains(known, name) {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("unknown feature %s; known: %s (or %s)", strings.Join(bad, ", "), strings.Join(known, ", "), FeatureAll)
	}
	out := map[string]bool{}
	if all, ok := in[FeatureAll]; ok {
		for _, name := range known {
			out[name] = all
		}
	}
	for name, v := range in {
		if name != FeatureAll {
			out[name] = v
		}
	}
	return out, nil
}

// FeatureInForce reports whether an optional feature is in force.
func (s *S) FeatureInForce(name string) bool {
	f, ok := s.Run.features[name]
	return ok && f.InForce
}
