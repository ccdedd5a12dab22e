package contract

// fastActionKinds lists, for the ops whose only OUT-003/OUT-004 rules are
// key presence and JSON kind, the kind each required key must have: 's'
// string, 'S' string or null, 'o' object, 'b' boolean.
var fastActionKinds = map[string]map[string]byte{
	OpSend:         {"chat_id": 's', "content": 's', "reply_to": 'S', "metadata": 'o'},
	OpEdit:         {"chat_id": 's', "message_id": 's', "content": 's', "metadata": 'o'},
	OpTyping:       {"chat_id": 's', "metadata": 'o'},
	OpFollowUp:     {"session_key": 's', "kind": 's', "content": 's', "metadata": 'o'},
	OpGetChatInfo:  {"chat_id": 's'},
	OpDelete:       {"chat_id": 's', "message_id": 's', "metadata": 'o'},
	OpTaskCardStop: {"chat_id": 's', "card_id": 's', "metadata": 'o'},
	OpReact:        {"chat_id": 's', "message_id": 's', "emoji": 's', "remove": 'b', "metadata": 'o'},
}

// OutboundActionValid reports whether the action of an outbound frame line
// certainly meets OUT-003, OUT-004 and OUT-028, without building the
// generic value tree ValidateFrame needs. It is a fast path for connectors
// that check every action: true means no such violation; false means "run
// ValidateFrame for the details", not necessarily invalid. line must be
// valid JSON, as DecodeFrame has already established.
func OutboundActionValid(line []byte) bool {
	action, _ := RawField(line, "action")
	if len(action) == 0 || action[0] != '{' {
		return false
	}
	var (
		op    string
		kinds map[string]byte
		seen  [8]string
		n     int
		ok    = true
	)
	err := eachField(action, func(k string, v []byte) error {
		if kinds == nil {
			// op comes first in canonical and reference frames; any other
			// order takes the slow path.
			var known bool
			op, _ = rawString(v)
			kinds, known = fastActionKinds[op]
			if k != "op" || !known {
				return errNotObjectScan
			}
			return nil
		}
		switch {
		case k == "op":
			return errNotObjectScan // a duplicate op
		case k == "content" && op == OpTyping:
			ok = ok && len(v) > 0 && v[0] == '"'
		case k == "metadata":
			// Keys starting with "_" break OUT-028, which the slow path
			// words; a cheap byte search is enough to send it there.
			ok = ok && len(v) > 0 && v[0] == '{' && !containsUnderscoreKey(v)
		}
		want, required := kinds[k]
		if !required {
			return nil
		}
		for _, s := range seen[:n] {
			if s == k {
				return errNotObjectScan // a duplicate key: let the slow path judge
			}
		}
		seen[n] = k
		n++
		switch want {
		case 's':
			ok = ok && len(v) > 0 && v[0] == '"'
		case 'S':
			ok = ok && len(v) > 0 && (v[0] == '"' || isNull(v))
		case 'o':
			ok = ok && len(v) > 0 && v[0] == '{'
		case 'b':
			ok = ok && (string(v) == "true" || string(v) == "false")
		}
		return nil
	})
	return err == nil && ok && kinds != nil && n == len(kinds)
}

// containsUnderscoreKey reports whether obj might hold a key starting with
// "_"; false positives only cost a trip through the slow path.
func containsUnderscoreKey(obj []byte) bool {
	for i := 0; i+1 < len(obj); i++ {
		if obj[i] == '"' && obj[i+1] == '_' {
			return true
		}
	}
	return false
}
