package badinput

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
)

// TestEveryReactionTracesToItsRequirements holds each catalogue entry to
// what the contract says: every requirement it names exists, binds the
// connector and has the level of the entry's own requirement, and the text
// of those requirements states what the reaction asserts (the close code
// and reason, each HTTP status, the result code, "ignore"). A reaction the
// named requirements do not state is an assertion the contract does not
// make, and the entry must change or go.
func TestEveryReactionTracesToItsRequirements(t *testing.T) {
	es, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	ignoreWords := regexp.MustCompile(`(?i)ignore|no-op|skips|gets no descriptor|sends no reply|accepts`)
	for _, e := range es {
		primary, ok := contract.LookupRequirement(e.Requirement)
		if !ok {
			t.Errorf("%s: unknown requirement %s", e.ID, e.Requirement)
			continue
		}
		texts := []string{primary.Text}
		for _, id := range append([]string{e.Requirement}, e.Also...) {
			r, ok := contract.LookupRequirement(id)
			switch {
			case !ok:
				t.Errorf("%s: unknown requirement %s", e.ID, id)
				continue
			case !r.Binds(contract.SideConnector):
				t.Errorf("%s: %s binds the %s, not the connector", e.ID, id, r.Side)
			case r.Level != primary.Level:
				t.Errorf("%s: %s is %s but the entry's requirement %s is %s", e.ID, id, r.Level, e.Requirement, primary.Level)
			}
			texts = append(texts, r.Text)
		}
		all := strings.Join(texts, "\n")
		states := func(what, s string) {
			if !strings.Contains(all, s) {
				t.Errorf("%s: the reaction asserts %s %q, which none of %s states", e.ID, what, s, append([]string{e.Requirement}, e.Also...))
			}
		}
		re := e.Reaction
		switch {
		case re.Close != nil:
			states("close code", strconv.Itoa(re.Close.Code))
			if re.Close.Reason != "" {
				states("close reason", re.Close.Reason)
			}
		case re.Throttle != nil:
			states("close code", strconv.Itoa(re.Throttle.Code))
		case re.HTTP != nil:
			if re.HTTP.Any4xx {
				states("status class", "4xx")
			}
			for _, st := range statuses(re.HTTP) {
				states("HTTP status", strconv.Itoa(st))
			}
		case re.Ignored:
			if !ignoreWords.MatchString(all) {
				t.Errorf("%s: the reaction asserts the input is ignored, which none of %s states", e.ID, append([]string{e.Requirement}, e.Also...))
			}
		case re.Reply != nil || re.Deferred != nil:
			rp := re.Reply
			if rp == nil {
				rp = &re.Deferred.Reply
			}
			if rp.Code != "" {
				states("result code", rp.Code)
			}
			if rp.ErrorContains != "" && !strings.Contains(all, "naming") {
				t.Errorf("%s: the reaction asserts what the error says, which none of %s states", e.ID, append([]string{e.Requirement}, e.Also...))
			}
		}
	}
}
