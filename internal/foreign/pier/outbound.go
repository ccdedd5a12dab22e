package pier

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Outbound actions. pier checks, in this order: a usable requestId (else
// no result at all, OUT-006 binds only frames that carry one, and an error
// frame says why), the destination platform (platform_not_fronted,
// OUT-009), the action object and its op (invalid_action), the op against
// the destination's descriptor (unsupported_op, OUT-009, OUT-014), the keys
// of the op table (invalid_action naming the key, OUT-015), and then
// performs the action on the platform. Unknown keys are ignored (OUT-016).

// keyKind is the JSON type an action key must have.
type keyKind int

const (
	kString keyKind = iota
	kStringOrNull
	kObject
	kBool
)

type keySpec struct {
	name     string
	kind     keyKind
	optional bool
}

// opKeys are the op table's keys for the ops pier performs.
var opKeys = map[string][]keySpec{
	"send":          {{"chat_id", kString, false}, {"content", kString, false}, {"reply_to", kStringOrNull, false}, {"metadata", kObject, false}},
	"edit":          {{"chat_id", kString, false}, {"message_id", kString, false}, {"content", kString, false}, {"metadata", kObject, false}},
	"typing":        {{"chat_id", kString, false}, {"metadata", kObject, false}, {"content", kString, true}},
	"follow_up":     {{"session_key", kString, false}, {"kind", kString, false}, {"content", kString, false}, {"metadata", kObject, false}},
	"get_chat_info": {{"chat_id", kString, false}},
	"delete":        {{"chat_id", kString, false}, {"message_id", kString, false}, {"metadata", kObject, false}},
	"react":         {{"chat_id", kString, false}, {"message_id", kString, false}, {"emoji", kString, false}, {"remove", kBool, false}, {"metadata", kObject, false}},
	"thread_create": {{"chat_id", kString, false}, {"thread_name", kString, false}, {"metadata", kObject, false}},
	"thread_rename": {{"chat_id", kString, false}, {"message_id", kString, false}, {"thread_name", kString, false}, {"metadata", kObject, false},
		{"only_if_connector_created", kBool, true}, {"only_if_current_name", kString, true}},
}

// result is an outbound_result's result object.
type result map[string]any

func failure(code, msg string) result {
	r := result{"success": false, "error": msg}
	if code != "" {
		r["code"] = code
	}
	return r
}

// outboundLocked answers one outbound frame.
func (c *relayConn) outboundLocked(f inFrame) {
	rid, ok := f.str("requestId")
	if !ok || rid == "" {
		c.enqueueLocked(frame(map[string]any{"type": "error", "code": "invalid_frame",
			"message": "an outbound without a non-empty string requestId cannot be answered; pier did not act on it"}))
		return
	}
	res := c.perform(f)
	if res["code"] == "not_found" {
		if !c.s.cfg.deviant(DevUnknownChatNoResult) {
			c.enqueueLocked(frame(map[string]any{"type": "outbound_result", "requestId": rid, "result": res}))
		}
		// Beside the result, the error frame a platform client would log.
		c.enqueueLocked(frame(map[string]any{"type": "error", "requestId": rid, "code": "not_found", "message": res["error"]}))
		return
	}
	c.enqueueLocked(frame(map[string]any{"type": "outbound_result", "requestId": rid, "result": res}))
}

// perform checks and performs an action and returns its result.
func (c *relayConn) perform(f inFrame) result {
	platform := c.defaultPlat
	if raw, tagged := f.m["platform"]; tagged && string(raw) != "null" {
		var p string
		if json.Unmarshal(raw, &p) != nil {
			return failure("platform_not_fronted", "platform: the tag must be a string naming a platform answered on this connection")
		}
		platform = p
	}
	if platform == "" {
		return failure("platform_not_fronted", "no hello has been answered on this connection, so an untagged action has no platform")
	}
	if !c.answered[platform] {
		return failure("platform_not_fronted", fmt.Sprintf("platform %s is not fronted on this connection", quote(platform)))
	}
	var a map[string]json.RawMessage
	if raw, ok := f.m["action"]; !ok || json.Unmarshal(raw, &a) != nil || a == nil {
		return failure("invalid_action", "action: missing or not an object")
	}
	var op string
	if raw, ok := a["op"]; !ok || json.Unmarshal(raw, &op) != nil || op == "" {
		return failure("invalid_action", "action.op: missing or not a non-empty string")
	}
	spec := platformSpecs[platform]
	if !spec.ops[op] || (op == "typing" && spec.descriptor["supported_ops"] == nil && c.s.cfg.deviant(DevLegacyOpUnsupported)) {
		return failure("unsupported_op", "unsupported op: "+op)
	}
	vals := map[string]any{}
	for _, k := range opKeys[op] {
		raw, ok := a[k.name]
		if !ok {
			if k.optional {
				continue
			}
			return failure("invalid_action", fmt.Sprintf("action.%s: missing (required by %s)", k.name, op))
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		good := false
		switch k.kind {
		case kString:
			_, good = v.(string)
		case kStringOrNull:
			_, isStr := v.(string)
			good = isStr || v == nil
		case kObject:
			_, good = v.(map[string]any)
		case kBool:
			_, good = v.(bool)
		}
		if !good {
			return failure("invalid_action", fmt.Sprintf("action.%s: wrong type for %s", k.name, op))
		}
		vals[k.name] = v
	}
	return c.act(op, platform, spec, vals)
}

func (c *relayConn) knownChatLocked(platform, chat string) (chatInfo, bool) {
	t := c.g.tenant
	if chat == c.s.cfg.KnownChat {
		return chatInfo{name: "Pier lobby", kind: "group"}, true
	}
	if ci, ok := t.chats.get(chatKey(platform, chat)); ok {
		return ci, true
	}
	if th, ok := t.threads.get(chat); ok && th.platform == platform {
		return chatInfo{name: th.name, kind: "thread"}, true
	}
	return chatInfo{}, false
}

func (c *relayConn) newMessageLocked(platform, chat string) string {
	s := c.s
	s.msgSeq++
	id := "pm." + b36(s.msgSeq) + "." + s.boot
	c.g.tenant.messages.put(id, message{platform: platform, chat: chat})
	return id
}

// length counts content in the platform's len_unit.
func length(content string, utf16Units bool) int {
	if !utf16Units {
		return utf8.RuneCountInString(content)
	}
	n := 0
	for _, r := range content {
		n += utf16.RuneLen(r)
	}
	return n
}

// act performs a checked action on pier's platform.
func (c *relayConn) act(op, platform string, spec *platformSpec, v map[string]any) result {
	s := c.s
	t := c.g.tenant
	str := func(k string) string { x, _ := v[k].(string); return x }
	unknownChat := func(chat string) result {
		return failure("not_found", fmt.Sprintf("chat %s does not exist on %s for this gateway", quote(chat), platform))
	}
	tooLong := func(content string) (result, bool) {
		if n := length(content, spec.utf16); n > spec.maxLen {
			unit := "characters"
			if spec.utf16 {
				unit = "UTF-16 units"
			}
			// pier's platform refuses the message; no contract code fits,
			// so the failure carries none (OUT-008 makes code optional).
			return failure("", fmt.Sprintf("content: %d %s, over the %d %s allows", n, unit, spec.maxLen, platform)), true
		}
		return nil, false
	}
	ownMessage := func() (message, result) {
		m, ok := t.messages.get(str("message_id"))
		if !ok || m.platform != platform || m.chat != str("chat_id") {
			return message{}, failure("not_found", fmt.Sprintf("message %s does not exist in chat %s", quote(str("message_id")), quote(str("chat_id"))))
		}
		return m, nil
	}
	sent := func(id string) result {
		if op == "send" && s.cfg.deviant(DevSendWithoutMessageID) {
			return result{"success": true, "id": id}
		}
		return result{"success": true, "message_id": id}
	}
	switch op {
	case "send":
		if _, ok := c.knownChatLocked(platform, str("chat_id")); !ok {
			return unknownChat(str("chat_id"))
		}
		if r, bad := tooLong(str("content")); bad {
			return r
		}
		return sent(c.newMessageLocked(platform, str("chat_id")))
	case "edit":
		if _, r := ownMessage(); r != nil {
			return r
		}
		if r, bad := tooLong(str("content")); bad {
			return r
		}
		if spec.editRepost {
			// pier-ops cannot edit: it deletes and re-posts, so the edited
			// message has a new id.
			t.messages.del(str("message_id"))
			return sent(c.newMessageLocked(platform, str("chat_id")))
		}
		return sent(str("message_id"))
	case "typing":
		if _, ok := c.knownChatLocked(platform, str("chat_id")); !ok {
			return unknownChat(str("chat_id"))
		}
		return result{"success": true}
	case "follow_up":
		chat := ""
		if ref, ok := t.sessions.get(str("session_key")); ok && ref.platform == platform {
			chat = ref.chat
		} else if str("session_key") == sessionKey(map[string]any{"platform": platform, "chat_type": "dm", "chat_id": s.cfg.KnownChat}) {
			chat = s.cfg.KnownChat
		}
		if chat == "" {
			return failure("not_found", fmt.Sprintf("session_key %s names no conversation pier delivered on %s", quote(str("session_key")), platform))
		}
		return sent(c.newMessageLocked(platform, chat))
	case "get_chat_info":
		ci, ok := c.knownChatLocked(platform, str("chat_id"))
		if !ok {
			return unknownChat(str("chat_id"))
		}
		if s.cfg.deviant(DevChatInfoFlat) {
			return result{"success": true, "name": ci.name, "type": ci.kind}
		}
		return result{"success": true, "chat_info": map[string]any{"name": ci.name, "type": ci.kind}}
	case "delete":
		if _, r := ownMessage(); r != nil {
			return r
		}
		t.messages.del(str("message_id"))
		return result{"success": true}
	case "react":
		if _, r := ownMessage(); r != nil {
			return r
		}
		return result{"success": true}
	case "thread_create":
		if _, ok := c.knownChatLocked(platform, str("chat_id")); !ok {
			return unknownChat(str("chat_id"))
		}
		if utf8.RuneCountInString(str("thread_name")) > 100 {
			return failure("invalid_action", "action.thread_name: over 100 characters")
		}
		s.threadSeq++
		id := "th." + b36(s.threadSeq) + "." + s.boot
		t.threads.put(id, thread{platform: platform, parent: str("chat_id"), name: str("thread_name"), created: true})
		return result{"success": true, "thread_id": id}
	case "thread_rename":
		th, ok := t.threads.get(str("message_id"))
		if ok && th.platform != platform {
			ok = false
		}
		// OUT-026: a condition that does not hold leaves the name alone
		// and still succeeds.
		if only, _ := v["only_if_connector_created"].(bool); only && (!ok || !th.created) {
			return result{"success": true, "skipped": true}
		}
		if cur, given := v["only_if_current_name"].(string); given && (!ok || th.name != cur) {
			return result{"success": true, "skipped": true}
		}
		if !ok {
			return failure("not_found", fmt.Sprintf("thread %s does not exist on %s", quote(str("message_id")), platform))
		}
		if utf8.RuneCountInString(str("thread_name")) > 100 {
			return failure("invalid_action", "action.thread_name: over 100 characters")
		}
		th.name = str("thread_name")
		t.threads.put(str("message_id"), th)
		return result{"success": true}
	}
	return failure("internal", "pier advertises "+op+" but cannot perform it")
}
