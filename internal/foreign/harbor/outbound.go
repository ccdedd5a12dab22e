package harbor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// keySpec is one key of the op table (section 5.3).
type keySpec struct {
	name     string
	kind     string // string, nullstring, object, bool, int, number, array
	optional bool
}

var opTable = map[string][]keySpec{
	"send":          {{"chat_id", "string", false}, {"content", "string", false}, {"reply_to", "nullstring", false}, {"metadata", "object", false}},
	"edit":          {{"chat_id", "string", false}, {"message_id", "string", false}, {"content", "string", false}, {"metadata", "object", false}},
	"typing":        {{"chat_id", "string", false}, {"metadata", "object", false}, {"content", "string", true}},
	"follow_up":     {{"session_key", "string", false}, {"kind", "string", false}, {"content", "string", false}, {"metadata", "object", false}},
	"get_chat_info": {{"chat_id", "string", false}},
	"draft":         {{"chat_id", "string", false}, {"draft_id", "int", false}, {"content", "string", false}, {"final", "bool", false}, {"metadata", "object", false}},
	"delete":        {{"chat_id", "string", false}, {"message_id", "string", false}, {"metadata", "object", false}},
	"prompt": {{"chat_id", "string", false}, {"content", "string", false}, {"prompt_kind", "string", false}, {"prompt_id", "string", false},
		{"options", "array", false}, {"reply_to", "nullstring", false}, {"metadata", "object", false}, {"timeout_s", "number", true}},
	"react":         {{"chat_id", "string", false}, {"message_id", "string", false}, {"emoji", "string", false}, {"remove", "bool", false}, {"metadata", "object", false}},
	"thread_create": {{"chat_id", "string", false}, {"thread_name", "string", false}, {"metadata", "object", false}},
}

func kindOK(v any, kind string) bool {
	switch kind {
	case "string":
		_, ok := v.(string)
		return ok
	case "nullstring":
		_, ok := v.(string)
		return ok || v == nil
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := strconv.ParseInt(n.String(), 10, 64)
		return err == nil
	}
	return false
}

type failure struct{ code, err string }

func fail(code, format string, a ...any) *failure { return &failure{code, fmt.Sprintf(format, a...)} }

// onOutbound answers an outbound frame with exactly one outbound_result
// (OUT-006). A frame without a usable requestId cannot be answered and is
// journaled. Checks run in this order: the action's shape as an object,
// the destination platform, the op, the op's keys, scripted declines,
// then the platform's own answer.
func (s *Server) onOutbound(c *conn, m map[string]json.RawMessage) {
	rid, ok := rawString(m, "requestId")
	if !ok || rid == "" {
		s.log.Info("outbound without a usable requestId ignored", "conn", c.id)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing {
		return
	}
	tag, tagged := "", false
	if raw, has := m["platform"]; has && string(bytes.TrimSpace(raw)) != "null" {
		tagged = true
		if err := json.Unmarshal(raw, &tag); err != nil {
			s.answer(c, rid, "", "", m["action"], nil, fail("invalid_action", "platform: must be a string"))
			return
		}
	}
	var action map[string]any
	dec := json.NewDecoder(bytes.NewReader(m["action"]))
	dec.UseNumber()
	if len(m["action"]) == 0 || dec.Decode(&action) != nil || action == nil {
		s.answer(c, rid, tag, "", m["action"], nil, fail("invalid_action", "action: must be an object"))
		return
	}
	op, _ := action["op"].(string)
	plat := c.defaultPlatform()
	if tagged {
		plat = tag
	}
	if plat == "" || !c.hasDescribed(plat) {
		s.answer(c, rid, tag, plat, m["action"], nil, fail("platform_not_fronted", "platform not fronted on this connection: %q", plat))
		return
	}
	pi := platformTable[plat]
	if !pi.ops[op] {
		s.answer(c, rid, tag, plat, m["action"], nil, fail("unsupported_op", "unsupported op: %s", op))
		return
	}
	for _, k := range opTable[op] {
		v, has := action[k.name]
		if !has {
			if k.optional {
				continue
			}
			s.answer(c, rid, tag, plat, m["action"], nil, fail("invalid_action", "action.%s: required key missing", k.name))
			return
		}
		if !kindOK(v, k.kind) {
			s.answer(c, rid, tag, plat, m["action"], nil, fail("invalid_action", "action.%s: want %s", k.name, k.kind))
			return
		}
	}
	res, f := s.perform(c, plat, pi, op, action)
	s.answer(c, rid, tag, plat, m["action"], res, f)
}

// answer writes the outbound_result and records the action.
func (s *Server) answer(c *conn, rid, tag, plat string, action json.RawMessage, res map[string]any, f *failure) {
	if f != nil {
		res = map[string]any{"success": false, "code": f.code, "error": f.err}
	} else {
		if res == nil {
			res = map[string]any{}
		}
		res["success"] = true
	}
	c.enqueue(encodeFrame(map[string]any{"type": "outbound_result", "requestId": rid, "result": res}))
	g := c.gw
	var op string
	var probe struct {
		Op string `json:"op"`
	}
	if json.Unmarshal(action, &probe) == nil {
		op = probe.Op
	}
	if len(action) == 0 {
		action = json.RawMessage("null")
	}
	g.outLog = append(g.outLog, outboundRecord{RequestID: rid, Platform: tag, ResolvedPlatform: plat, Op: op,
		Action: append(json.RawMessage(nil), action...), Result: res, At: s.clk.Now()})
	if len(g.outLog) > maxOutboundLog {
		g.outLog = g.outLog[len(g.outLog)-maxOutboundLog:]
	}
}

// perform is harbor's platform acting on a valid, advertised action.
func (s *Server) perform(c *conn, plat string, pi *platformInfo, op string, a map[string]any) (map[string]any, *failure) {
	t := s.tenant(c.gw.tenant)
	chat, _ := a["chat_id"].(string)
	if content, ok := a["content"].(string); ok && op != "typing" && op != "follow_up" {
		if n := pi.length(content); n > pi.maxLen {
			unit := "characters"
			if pi.utf16 {
				unit = "UTF-16 code units"
			}
			return nil, fail("invalid_action", "action.content: %d %s, over max_message_length %d", n, unit, pi.maxLen)
		}
	}
	if op != "follow_up" {
		if s.declined(c.gw, chat) {
			return nil, fail("egress_declined", "%s egress declined: target is not an approved destination for this connection", plat)
		}
		if !pi.anyChat && !s.chatKnown(t, plat, chat) {
			return nil, fail("not_found", "%s has no chat %q", plat, chat)
		}
	}
	switch op {
	case "send":
		return map[string]any{"message_id": s.newMessage(t, c.gw, plat, chat, nil)}, nil
	case "edit", "react", "delete":
		id := a["message_id"].(string)
		msg, ok := t.messages.get(id)
		if !ok || msg.deleted || msg.chatID != chat || msg.platform != plat {
			return nil, fail("not_found", "%s has no message %q in chat %q", plat, id, chat)
		}
		switch op {
		case "edit":
			return map[string]any{"message_id": id}, nil
		case "delete":
			msg.deleted = true
		}
		return nil, nil
	case "typing":
		return nil, nil
	case "follow_up":
		key := a["session_key"].(string)
		owner, ok := t.sessions.get(key)
		if !ok {
			return nil, fail("not_found", "no session %q was delivered by harbor", key)
		}
		return map[string]any{"message_id": s.newMessage(t, c.gw, owner.platform, owner.chatID, nil)}, nil
	case "get_chat_info":
		ci, ok := t.chats.get(plat + "\x00" + chat)
		if !ok {
			ci = chatInfo{name: chat, kind: "dm"}
		}
		return map[string]any{"chat_info": map[string]any{"name": ci.name, "type": ci.kind}}, nil
	case "draft":
		if final, _ := a["final"].(bool); !final {
			return nil, nil
		}
		key := plat + "\x00" + chat + "\x00" + a["draft_id"].(json.Number).String()
		if id, ok := t.drafts.get(key); ok {
			return map[string]any{"message_id": id}, nil // OUT-021: the seal is idempotent
		}
		id := s.newMessage(t, c.gw, plat, chat, nil)
		t.drafts.put(key, id)
		return map[string]any{"message_id": id}, nil
	case "prompt":
		pr := &promptRec{promptID: a["prompt_id"].(string), options: map[string]string{}}
		for i, o := range a["options"].([]any) {
			om, ok := o.(map[string]any)
			id, okID := om["id"].(string)
			label, okLabel := om["label"].(string)
			if !ok || !okID || !okLabel {
				return nil, fail("invalid_action", "action.options[%d]: want an object with string id and label", i)
			}
			if st, has := om["style"]; has {
				if _, isStr := st.(string); !isStr {
					return nil, fail("invalid_action", "action.options[%d].style: want string", i)
				}
			}
			pr.options[id] = label
		}
		return map[string]any{"message_id": s.newMessage(t, c.gw, plat, chat, pr)}, nil
	case "thread_create":
		name := a["thread_name"].(string)
		if utf8.RuneCountInString(name) > 100 {
			return nil, fail("invalid_action", "action.thread_name: longer than 100 characters")
		}
		return map[string]any{"thread_id": mintID("ht_", s.nextSeq())}, nil
	}
	return nil, fail("internal", "op %s has no handler", op)
}

func (s *Server) newMessage(t *tenantState, g *gateway, plat, chat string, pr *promptRec) string {
	id := mintID("hm_", s.nextSeq())
	t.messages.put(id, &sentMessage{gatewayID: g.id, platform: plat, chatID: chat, prompt: pr})
	return id
}

func (s *Server) chatKnown(t *tenantState, plat, chat string) bool {
	for _, c := range s.opts.OpenChats {
		if c == chat {
			return true
		}
	}
	_, ok := t.chats.get(plat + "\x00" + chat)
	return ok
}

// declined consumes a scripted egress decline for the gateway and chat.
func (s *Server) declined(g *gateway, chat string) bool {
	for i, sc := range g.scripts {
		if sc.chatID != "" && sc.chatID != chat {
			continue
		}
		if sc.times > 0 {
			sc.times--
			if sc.times == 0 {
				g.scripts = append(g.scripts[:i:i], g.scripts[i+1:]...)
			}
		}
		return true
	}
	return false
}
