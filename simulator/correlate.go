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
// ev is compact JSON (scanEvent and slowEvent both write it so).
func (s *Server) stampMessageID(ev []byte, src contract.SessionSource, unchecked bool) ([]byte, string) {
	raw, found := topLevelValue(ev, "message_id")
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
	out := make([]byte, 0, len(ev)+len(q)+len(`,"message_id":`))
	out = append(out, ev[:len(ev)-1]...)
	if len(ev) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"message_id":`...)
	out = append(out, q...)
	return append(out, '}'), id
}

// topLevelValue finds the value of key among the members of the compact
// JSON object obj, without decoding the rest; the last member wins, as in
// encoding/json. It reports found=false when there is no such member.
func topLevelValue(obj []byte, key string) (val []byte, found bool) {
	depth := 0
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end := skipString(obj, i)
			if end < 0 {
				return nil, false
			}
			isKey := depth == 1 && end < len(obj) && obj[end] == ':' && (obj[i-1] == '{' || obj[i-1] == ',')
			if isKey && keyIs(obj[i:end], key) {
				vs := end + 1
				ve := skipValue(obj, vs)
				if ve < 0 {
					return nil, false
				}
				val, found = obj[vs:ve], true
				i = ve - 1
				continue
			}
			i = end - 1
		}
	}
	return val, found
}

// skipString returns the index just after the JSON string starting at
// b[i], or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just after the compact JSON value starting
// at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	if b[i] == '"' {
		return skipString(b, i)
	}
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end := skipString(b, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	if depth == 0 {
		return len(b)
	}
	return -1
}

// keyIs reports whether the quoted JSON string q decodes to key.
func keyIs(q []byte, key string) bool {
	if len(q) == len(key)+2 && string(q[1:len(q)-1]) == key {
		return true
	}
	if len(q) <= len(key)+2 || bytes.IndexByte(q, '\\') < 0 {
		return false
	}
	var k string
	return json.Unmarshal(q, &k) == nil && k == key
}
