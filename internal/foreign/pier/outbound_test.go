package pier

import (
	"strings"
	"testing"
)

func TestOutboundResults(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier, PlatformOps)
	meta := map[string]any{}

	r := c.result(send(DefaultKnownChat, "hi"), "")
	id, _ := r["message_id"].(string)
	if r["success"] != true || !strings.HasPrefix(id, "pm.") {
		t.Fatalf("send: %v, want success with a pier message id", r)
	}

	fs := c.outbound(send("never-seen", "hi"), "")
	if len(fs) != 1 {
		t.Fatalf("frames before the result: %v", fs)
	}
	if res := fs[0]["result"].(map[string]any); res["success"] != false || res["code"] != "not_found" {
		t.Fatalf("send to an unknown chat: %v, want not_found", res)
	}
	if f := c.expect("error"); f["code"] != "not_found" || f["requestId"] != fs[0]["requestId"] {
		t.Fatalf("after a not_found result, an error frame naming the request: %v", f)
	}

	for name, tc := range map[string]struct {
		action   map[string]any
		platform string
		code     string
		errHas   string
	}{
		"unknown op":       {map[string]any{"op": "teleport", "chat_id": DefaultKnownChat, "metadata": meta}, "", "unsupported_op", "unsupported op: teleport"},
		"unadvertised op":  {map[string]any{"op": "draft", "chat_id": DefaultKnownChat, "metadata": meta}, "", "unsupported_op", "unsupported op: draft"},
		"legacy set only":  {map[string]any{"op": "react", "chat_id": DefaultKnownChat, "message_id": id, "emoji": "x", "remove": false, "metadata": meta}, PlatformOps, "unsupported_op", "unsupported op: react"},
		"missing content":  {map[string]any{"op": "send", "chat_id": DefaultKnownChat, "reply_to": nil, "metadata": meta}, "", "invalid_action", "content"},
		"reply_to missing": {map[string]any{"op": "send", "chat_id": DefaultKnownChat, "content": "x", "metadata": meta}, "", "invalid_action", "reply_to"},
		"chat_id number":   {map[string]any{"op": "send", "chat_id": 42, "content": "x", "reply_to": nil, "metadata": meta}, "", "invalid_action", "chat_id"},
		"metadata string":  {map[string]any{"op": "send", "chat_id": DefaultKnownChat, "content": "x", "reply_to": nil, "metadata": "m"}, "", "invalid_action", "metadata"},
		"no op":            {map[string]any{"chat_id": DefaultKnownChat}, "", "invalid_action", "op"},
		"unfronted":        {send(DefaultKnownChat, "x"), "telegram", "platform_not_fronted", "telegram"},
		"too long":         {send(DefaultKnownChat, strings.Repeat("🔌", 751)), "", "", "1502 UTF-16 units"},
		"unknown message":  {map[string]any{"op": "delete", "chat_id": DefaultKnownChat, "message_id": "pm.0.none", "metadata": meta}, "", "not_found", "pm.0.none"},
	} {
		fs := c.outbound(tc.action, tc.platform)
		res := fs[len(fs)-1]["result"].(map[string]any)
		code, _ := res["code"].(string)
		msg, _ := res["error"].(string)
		if res["success"] != false || code != tc.code || !strings.Contains(msg, tc.errHas) {
			t.Errorf("%s: %v, want code %q and an error naming %q", name, res, tc.code, tc.errHas)
		}
		if tc.code == "not_found" {
			c.expect("error")
		}
	}

	if r := c.result(map[string]any{"op": "send", "chat_id": DefaultKnownChat, "content": "x", "reply_to": nil, "x_future": 1,
		"metadata": map[string]any{"x_hint": true}}, ""); r["success"] != true {
		t.Errorf("unknown keys are ignored (OUT-016): %v", r)
	}
	if r := c.result(map[string]any{"op": "typing", "chat_id": DefaultKnownChat, "metadata": meta}, PlatformOps); r["success"] != true {
		t.Errorf("typing is in pier-ops' legacy set: %v", r)
	}

	// pier-ops edits by re-posting: the result names a new message.
	opsMsg := c.result(send(DefaultKnownChat, "v1"), PlatformOps)["message_id"].(string)
	ed := c.result(map[string]any{"op": "edit", "chat_id": DefaultKnownChat, "message_id": opsMsg, "content": "v2", "metadata": meta}, PlatformOps)
	if ed["success"] != true || ed["message_id"] == opsMsg || ed["message_id"] == nil {
		t.Errorf("edit on pier-ops: %v, want success under a new message id", ed)
	}
	ed = c.result(map[string]any{"op": "edit", "chat_id": DefaultKnownChat, "message_id": id, "content": "v2", "metadata": meta}, "")
	if ed["success"] != true || ed["message_id"] != id {
		t.Errorf("edit on pier: %v, want success under the same id", ed)
	}

	ci := c.result(map[string]any{"op": "get_chat_info", "chat_id": DefaultKnownChat}, "")
	if info, ok := ci["chat_info"].(map[string]any); !ok || info["name"] == nil || info["type"] == nil {
		t.Errorf("get_chat_info nests chat_info (OUT-019): %v", ci)
	}

	th := c.result(map[string]any{"op": "thread_create", "chat_id": DefaultKnownChat, "thread_name": "t1", "metadata": meta}, "")
	tid, _ := th["thread_id"].(string)
	if !strings.HasPrefix(tid, "th.") {
		t.Fatalf("thread_create: %v", th)
	}
	if r := c.result(send(tid, "in the thread"), ""); r["success"] != true {
		t.Errorf("a thread pier opened is a chat the gateway may post to: %v", r)
	}
	rename := func(extra map[string]any) map[string]any {
		a := map[string]any{"op": "thread_rename", "chat_id": DefaultKnownChat, "message_id": tid, "thread_name": "t2", "metadata": meta}
		for k, v := range extra {
			a[k] = v
		}
		return c.result(a, "")
	}
	if r := rename(map[string]any{"only_if_current_name": "other"}); r["success"] != true || r["skipped"] != true {
		t.Errorf("rename under a name condition that does not hold: %v (OUT-026)", r)
	}
	if r := rename(map[string]any{"only_if_connector_created": true, "message_id": "someone-elses"}); r["success"] != true || r["skipped"] != true {
		t.Errorf("rename of a thread pier did not create, only_if_connector_created: %v (OUT-026)", r)
	}
	if r := rename(map[string]any{"only_if_current_name": "t1"}); r["success"] != true || r["skipped"] != nil {
		t.Errorf("rename: %v", r)
	}

	key := sessionKey(map[string]any{"platform": PlatformPier, "chat_type": "dm", "chat_id": DefaultKnownChat})
	if r := c.result(map[string]any{"op": "follow_up", "session_key": key, "kind": "pier.message", "content": "later", "metadata": meta}, ""); r["success"] != true {
		t.Errorf("follow_up to the known chat's DM key: %v", r)
	}
}

func TestOutboundWithoutRequestIDGetsOnlyAnErrorFrame(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier)
	c.send(map[string]any{"type": "outbound", "action": send(DefaultKnownChat, "x")})
	c.send(map[string]any{"type": "outbound", "requestId": 42, "action": send(DefaultKnownChat, "x")})
	fs := c.barrier()
	if len(fs) != 2 || fs[0]["type"] != "error" || fs[1]["type"] != "error" {
		t.Fatalf("want two error frames and no result, got %v", fs)
	}
}

func TestUntaggedGoesToFirstDescriptor(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformOps, PlatformPier)
	// get_chat_info is advertised on pier only; untagged it goes to
	// pier-ops, the connection's default (OUT-013).
	r := c.result(map[string]any{"op": "get_chat_info", "chat_id": DefaultKnownChat}, "")
	if r["code"] != "unsupported_op" {
		t.Fatalf("untagged get_chat_info: %v, want unsupported_op from pier-ops", r)
	}
	if r := c.result(map[string]any{"op": "get_chat_info", "chat_id": DefaultKnownChat}, PlatformPier); r["success"] != true {
		t.Fatalf("tagged pier: %v", r)
	}
}
