package simulator

import (
	"bytes"
	"encoding/json"

	"github.com/relaykit/relaykit/contract"
)

// stampMessageID returns the event the gateway will see and its top-level
// message_id, so the inject answer can say which id to wait for (the
// testee contract's Delivery.MessageID). A checked event without a
// message_id gets one, as a platform gives every message an id: the
// event's source.message_id when it has one, else a fresh "m-N" from the
// sequence outbound results use. An unchecked event is delivered byte for
// byte, so it gets none; its id is reported when it has a string one.
// ev is compact JSON of our own (ScanEvent and slowEvent both write it so),
// and raw is its message_id member as they found it.
func (s *Server) stampMessageID(ev, raw []byte, found bool, src contract.SessionSource, unchecked bool) ([]byte, string) {
	if found {
		if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			return ev, string(raw[1 : len(raw)-1])
		}
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return ev, "" // not a string: only an unchecked event gets here
		}
		return ev, id
	}
	if unchecked || len(ev) < 2 || ev[0] != '{' {
		return ev, ""
	}
	id := src.MessageID
	if id == "" {
		id = s.newMessageID()
	}
	q, _ := json.Marshal(id)
	// ev is ours: the member goes in place of its closing brace.
	out := ev[:len(ev)-1]
	if len(ev) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"message_id":`...)
	out = append(out, q...)
	return append(out, '}'), id
}
