package harness

import (
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// ContractDoc is the document spec-ref entries point into.
const ContractDoc = "docs/relay-connector-contract.md"

// specRef is the link a requirement's spec-ref report entry and failure
// messages give: its section of the contract document.
func specRef(r contract.Requirement) string {
	anchor := r.Anchor()
	if !strings.Contains(anchor, "#") {
		anchor = ContractDoc + "#" + strings.TrimPrefix(anchor, "#")
	}
	return anchor
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
