package conformance

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// req is the suite's view of one registry requirement.
type req struct {
	ID         string
	Level      string // MUST, SHOULD or MAY
	Side       string // connector, gateway or both
	Feature    string
	Section    string
	Title      string
	Text       string
	Observable bool
	Reason     string
	Anchor     string // docs/relay-connector-contract.md#...
}

// contractDoc is the document spec-ref entries point into.
const contractDoc = "docs/relay-connector-contract.md"

// lookupReq returns the registry entry of id.
func lookupReq(id string) (req, bool) {
	r, ok := contract.LookupRequirement(id)
	if !ok {
		return req{}, false
	}
	return fromContract(r), true
}

// allReqs returns every requirement of the registry in registry order.
func allReqs() []req {
	rs := contract.Requirements()
	out := make([]req, 0, len(rs))
	for _, r := range rs {
		out = append(out, fromContract(r))
	}
	return out
}

func fromContract(r contract.Requirement) req {
	anchor := r.Anchor()
	if !strings.Contains(anchor, "#") {
		anchor = contractDoc + "#" + strings.TrimPrefix(anchor, "#")
	}
	return req{
		ID:         r.ID,
		Level:      strings.ToUpper(fmt.Sprint(r.Level)),
		Side:       strings.ToLower(fmt.Sprint(r.Side)),
		Feature:    r.Feature,
		Section:    r.Section,
		Title:      r.Title,
		Text:       r.Text,
		Observable: r.Observable,
		Reason:     r.Reason,
		Anchor:     anchor,
	}
}

// bindsSide reports whether the requirement binds side.
func (r req) bindsSide(side Side) bool {
	return r.Side == string(side) || r.Side == "both"
}

// area returns the requirement's area code, e.g. "AUTH" for "AUTH-010".
func area(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// areas lists the requirement areas in document order, with their titles.
var areas = []struct{ Code, Title string }{
	{"TRN", "Transport and framing"},
	{"AUTH", "Upgrade authentication"},
	{"HS", "Handshake and descriptor"},
	{"OUT", "Outbound actions and results"},
	{"IN", "Inbound, interrupts and passthrough"},
	{"IDLE", "Idle, buffering and drain"},
	{"WAKE", "Wake"},
	{"HTTP", "HTTP routes"},
	{"RC", "Close codes and reconnect"},
	{"SKEY", "Session keys"},
}

func areaIndex(code string) int {
	for i, a := range areas {
		if a.Code == code {
			return i
		}
	}
	return len(areas)
}
