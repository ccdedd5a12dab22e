package simulator

import (
	"encoding/json"

	"github.com/relaykit/relaykit/contract"
)

// slowEvent is the general path: compact, validate with the contract's own
// validator and decode the source.
func slowEvent(raw []byte, unchecked bool) ([]byte, contract.SessionSource, error) {
	var src contract.SessionSource
	ev, err := compactJSON(raw)
	if err != nil || len(ev) == 0 || ev[0] != '{' {
		return nil, src, badRequest("event", "must be a JSON object")
	}
	if !unchecked {
		if err := validateDelivery(contract.TypeInbound, ev, "IN-001", "IN-002"); err != nil {
			return nil, src, err
		}
	}
	return ev, lenientSource(ev), nil
}

// lenientSource decodes what it can of event.source, field by field, so
// one odd value (an is_bot that is a string, in an unchecked event) does
// not lose the rest.
func lenientSource(ev []byte) contract.SessionSource {
	var src contract.SessionSource
	var top struct {
		Source map[string]json.RawMessage `json:"source"`
	}
	if json.Unmarshal(ev, &top) != nil {
		return src
	}
	for k, v := range top.Source {
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		json.Unmarshal(one, &src) // a mistyped field stays empty
	}
	return src
}
