package contract

import "bytes"

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
// valid JSON, as DecodeFrame has already established. DecodeLine gives
// the same verdict as LineInfo.ActionValid while it decodes the line.
func OutboundActionValid(line []byte) bool {
	action, _ := RawField(line, "action")
	if len(action) == 0 || action[0] != '{' {
		return false
	}
	var c actionCheck
	if eachField(action, func(k, v []byte) error {
		c.add(k, v)
		return nil
	}) != nil {
		return false
	}
	return c.valid()
}

// actionCheck builds OutboundActionValid's verdict one key of the action
// at a time, so the decoder can reach it in the same walk.
type actionCheck struct {
	kinds map[string]byte // the op's required keys; nil before op
	seen  [8][]byte       // required keys seen so far
	n     int
	ok    bool // every key seen so far is as it must be
	slow  bool // something only the slow path may judge
	typed bool // the op is typing, whose content must be a string
}

func (c *actionCheck) add(k, v []byte) {
	if c.slow {
		return
	}
	if c.kinds == nil {
		// op comes first in canonical and reference frames; any other
		// order takes the slow path.
		var known bool
		if string(k) == "op" && len(v) >= 2 && v[0] == '"' {
			op := v[1 : len(v)-1]
			if bytes.IndexByte(op, '\\') >= 0 {
				s, _ := rawString(v) // escapes: rare, and worth an allocation
				op = []byte(s)
			}
			c.kinds, known = fastActionKinds[string(op)]
			c.typed = string(op) == OpTyping
		}
		c.slow, c.ok = !known, known
		return
	}
	switch {
	case string(k) == "op":
		c.slow = true // a duplicate op
		return
	case string(k) == "content" && c.typed:
		c.ok = c.ok && len(v) > 0 && v[0] == '"'
	case string(k) == "metadata":
		// Keys starting with "_" break OUT-028, which the slow path
		// words; a cheap byte search is enough to send it there.
		c.ok = c.ok && len(v) > 0 && v[0] == '{' && !containsUnderscoreKey(v)
	}
	want, required := c.kinds[string(k)]
	if !required {
		return
	}
	for _, s := range c.seen[:c.n] {
		if bytes.Equal(s, k) {
			c.slow = true // a duplicate key: let the slow path judge
			return
		}
	}
	c.seen[c.n] = k
	c.n++
	switch want {
	case 's':
		c.ok = c.ok && len(v) > 0 && v[0] == '"'
	case 'S':
		c.ok = c.ok && len(v) > 0 && (v[0] == '"' || isNull(v))
	case 'o':
		c.ok = c.ok && len(v) > 0 && v[0] == '{'
	case 'b':
		c.ok = c.ok && (string(v) == "true" || string(v) == "false")
	}
}

// valid reports the verdict once every key was added.
func (c *actionCheck) valid() bool {
	return !c.slow && c.ok && c.kinds != nil && c.n == len(c.kinds)
}

// containsUnderscoreKey reports whether obj might hold a key starting with
// "_"; false positives only cost a trip through the slow path.
func containsUnderscoreKey(obj []byte) bool {
	for i := 0; i < len(obj); i++ {
		if obj[i] == '"' && i+1 < len(obj) && obj[i+1] == '_' {
			return true
		}
	}
	return false
}
