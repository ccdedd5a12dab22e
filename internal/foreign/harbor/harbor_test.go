package harbor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The contract's test vectors V1 and V2, and the lenient forms AUTH-008
// lets harbor accept.
func TestTokenVectors(t *testing.T) {
	v1 := "Z3ctdGVzdDoxNzAwMDAwMDAwOjdhNDc1YWZjZjM3ZTNmNjRjNDQ2Yzc0MTI5YjE4NTNhOTVmYWE4NjlhOGNjYzlmYTg5ZGNlZjc1ODVkYTIxNDM"
	if got := mintToken("gw-test", "s3cret", 1700000000); got != v1 {
		t.Fatalf("mint V1 = %s", got)
	}
	p, err := parseToken(v1)
	if err != nil || p.gatewayID != "gw-test" || p.exp != 1700000000 || !p.signedBy("s3cret") || p.signedBy("other") {
		t.Fatalf("V1 parse: %+v %v", p, err)
	}
	if p.expired(time.Unix(1700000000, 0), false) || !p.expired(time.Unix(1700000001, 0), false) {
		t.Fatal("V1: valid at exp, expired one second later")
	}
	v2 := "Z3ctdGVzdDowOjE4ZjkyNDk3NWM3MDk3NmQwYjQ3MzlhZWYwYzQxNWFmYjMxNmI5MjQ0M2RkZGQxMDVjYjJlNmNjNjZhNGM5NzA"
	p, err = parseToken(v2)
	if err != nil || !p.signedBy("s3cret") || p.expired(time.Unix(1<<40, 0), false) {
		t.Fatalf("V2: %+v %v", p, err)
	}
	// Lenient: padding, surrounding whitespace, uppercase hex.
	for _, tok := range []string{v1 + "=", " " + v1 + " "} {
		if p, err := parseToken(tok); err != nil || !p.signedBy("s3cret") {
			t.Errorf("lenient %q refused: %v", tok, err)
		}
	}
	for _, bad := range []string{"", "!!!", mintToken("gw", "s", 5)[:10], "Z3c6eDpmb28"} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSessionKeyExamples(t *testing.T) {
	cases := []struct {
		src  source
		want string
	}{
		{source{Platform: "discord", ChatType: "group", ChatID: "chan1", UserID: "u1", ScopeID: "g1"}, "agent:main:discord:group:chan1:u1"},
		{source{Platform: "discord", ChatType: "thread", ChatID: "chan1", ThreadID: "th9", UserID: "u1"}, "agent:main:discord:thread:chan1:th9"},
		{source{Platform: "telegram", ChatType: "dm", ChatID: "42"}, "agent:main:telegram:dm:42"},
		{source{Platform: "telegram", ChatType: "dm", UserID: "42", ThreadID: "5"}, "agent:main:telegram:dm:42:5"},
		{source{Platform: "slack", ChatType: "group", ChatID: "C1", UserID: "U1", ScopeID: "T1"}, "agent:main:slack:group:T1:C1:U1"},
		{source{Platform: "x", ChatType: "group", ChatID: "c", UserID: "u", ProspectiveThreadID: "p", Profile: "main"}, "agent:main~:x:thread:c:p"},
	}
	for _, c := range cases {
		if got := sessionKey(c.src, false); got != c.want {
			t.Errorf("%+v: %s, want %s", c.src, got, c.want)
		}
	}
}

func TestHandshakeAndRefusals(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-hs", Platforms: []string{PlatformMail}})
	p := dialToken(t, s, g.token(clk))
	p.send(map[string]any{"type": "hello", "platform": PlatformSMS, "botId": ""}) // not fronted for gw-hs
	p.send(map[string]any{"type": "hello", "platform": PlatformMail, "botId": ""})
	d := p.next("descriptor", ofType("descriptor"))["descriptor"].(map[string]any)
	if d["platform"] != PlatformMail || d["len_unit"] != "chars" || d["contract_version"] != float64(1) {
		t.Fatalf("descriptor %v", d)
	}
	if f, ok := p.tryNext(ofType("descriptor")); ok {
		t.Fatalf("a descriptor for an unfronted hello: %v", f)
	}

	refused := func(tok, reason string) {
		t.Helper()
		q := dialToken(t, s, tok)
		q.sendLoose(map[string]any{"type": "hello", "platform": PlatformMail, "botId": ""})
		if code, r := q.closed(); code != 4401 || r != reason || len(q.seen) > 0 {
			t.Errorf("token refusal: close %d %q after %d frames, want 4401 %q", code, r, len(q.seen), reason)
		}
	}
	refused("", "unauthorized")
	refused(mintToken(g.ID, "wrong", clk.Now().Add(time.Hour).Unix()), "unauthorized")
	refused(mintToken(g.ID, g.Secret, clk.Now().Unix()-1), "expired")
	// AUTH-006: a token at exactly exp is still valid.
	connect(t, s, clk, g).close()
	exact := mintToken(g.ID, g.Secret, clk.Now().Unix())
	q := dialToken(t, s, exact)
	q.send(map[string]any{"type": "hello", "platform": PlatformMail})
	q.next("descriptor at exactly exp", ofType("descriptor"))

	// HS-014: only unfronted hellos: 1008 "platform not fronted" after the grace.
	q = dialToken(t, s, g.token(clk))
	q.send(map[string]any{"type": "hello", "platform": "discord", "botId": ""})
	q.tryNext(func(map[string]any) bool { return false })
	clk.Advance(6 * time.Second)
	if code, r := q.closed(); code != websocket.StatusPolicyViolation || r != "platform not fronted" {
		t.Errorf("unfronted only: close %d %q", code, r)
	}
	// HS-017: silence: 1008 "no hello" after 30 s.
	g2 := enrollGW(t, s, GatewaySpec{ID: "gw-silent"})
	q = dialToken(t, s, g2.token(clk))
	waitConns(t, s, g2.ID, 1)
	clk.Advance(31 * time.Second)
	if code, r := q.closed(); code != websocket.StatusPolicyViolation || r != "no hello" {
		t.Errorf("silent socket: close %d %q", code, r)
	}
}

// waitConns waits until gateway id has n open sockets in harbor.
func waitConns(t *testing.T, s *Server, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		k := 0
		for c := range s.conns {
			if c.gw.id == id && !c.closing {
				k++
			}
		}
		s.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s has %d sockets, want %d", id, k, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFraming(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-frames"})
	p := connect(t, s, clk, g)
	// Two frames in one message, one frame split over two, blank lines,
	// an unknown type: all fine.
	a := `{"type":"outbound","requestId":"a","action":{"op":"typing","chat_id":"x","metadata":{}}}`
	b := `{"type":"outbound","requestId":"b","action":{"op":"typing","chat_id":"x","metadata":{}}}`
	p.raw([]byte(a + "\n  \n" + b[:20]))
	p.raw([]byte(b[20:] + "\n{\"type\":\"x-harbor-unknown\"}\n"))
	p.next("result a", func(f map[string]any) bool { return f["requestId"] == "a" })
	p.next("result b", func(f map[string]any) bool { return f["requestId"] == "b" })
	// A 1 MiB frame is accepted (TRN-007).
	pad := strings.Repeat("x", maxFrameBytes)
	head := `{"type":"outbound","requestId":"big","action":{"op":"typing","chat_id":"x","metadata":{}},"pad":"`
	big := head + pad[:maxFrameBytes-len(head)-2] + `"}`
	p.raw([]byte(big + "\n"))
	p.next("result big", func(f map[string]any) bool { return f["requestId"] == "big" })
	// One byte more closes 1009 (TRN-009).
	p.raw([]byte(head + pad[:maxFrameBytes-len(head)-1] + `"}` + "\n"))
	if code, r := p.closed(); code != websocket.StatusMessageTooBig || r != "frame too large" {
		t.Fatalf("oversize: %d %q", code, r)
	}
	for _, c := range []struct{ line, reason string }{
		{`{"type":`, "malformed frame"}, {`[1,2]`, "frame is not an object"}, {"{\"type\":\"\xff\"}", "malformed frame"},
	} {
		q := connect(t, s, clk, g)
		q.raw([]byte(c.line + "\n"))
		if code, r := q.closed(); code != websocket.StatusInvalidFramePayloadData || r != c.reason {
			t.Errorf("%q: close %d %q, want 1007 %q", c.line, code, r, c.reason)
		}
	}
}

func TestOutbound(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-out"})
	p := connect(t, s, clk, g)
	check := func(r map[string]any, code string) {
		t.Helper()
		if code == "" {
			if r["success"] != true {
				t.Errorf("want success: %v", r)
			}
			return
		}
		if r["success"] != false || r["code"] != code {
			t.Errorf("want %s: %v", code, r)
		}
	}
	r := p.outbound(sendAct("+15550100", "hi"), "")
	check(r, "")
	if id, _ := r["message_id"].(string); !strings.HasPrefix(id, "hm_") {
		t.Errorf("message_id %v", r["message_id"])
	}
	check(p.outbound(sendAct("x", "hi"), "discord"), "platform_not_fronted")
	check(p.outbound(map[string]any{"op": "edit", "chat_id": "x", "message_id": "m", "content": "c", "metadata": map[string]any{}}, ""), "unsupported_op")
	r = p.outbound(map[string]any{"op": "x-nope"}, "")
	check(r, "unsupported_op")
	if r["error"] != "unsupported op: x-nope" {
		t.Errorf("error %v", r["error"])
	}
	r = p.outbound(map[string]any{"op": "send", "chat_id": "x", "reply_to": nil, "metadata": map[string]any{}}, "")
	check(r, "invalid_action")
	if !strings.Contains(r["error"].(string), "content") {
		t.Errorf("error does not name content: %v", r)
	}
	check(p.outbound(sendAct("x", strings.Repeat("😀", 801)), ""), "invalid_action") // 1602 UTF-16 units
	check(p.outbound(sendAct("nobody", "hi"), PlatformMail), "not_found")
	check(p.outbound(sendAct("harbor-lobby", "hi"), PlatformMail), "")
	// OUT-021: a repeated seal answers the same message id.
	draft := map[string]any{"op": "draft", "chat_id": "harbor-lobby", "draft_id": 3, "content": "d", "final": true, "metadata": map[string]any{}}
	d1, d2 := p.outbound(draft, PlatformMail), p.outbound(draft, PlatformMail)
	if d1["message_id"] == nil || d1["message_id"] != d2["message_id"] {
		t.Errorf("draft seal not idempotent: %v %v", d1, d2)
	}
	check(p.outbound(map[string]any{"op": "get_chat_info", "chat_id": "+1"}, ""), "")
	// Scripted egress decline.
	if st := ctl(t, s, "POST", "/scripts", map[string]any{"gatewayId": g.ID, "chatId": "c-d", "egressDeclined": true, "times": 1}, nil); st != 200 {
		t.Fatal(st)
	}
	r = p.outbound(sendAct("c-d", "x"), "")
	check(r, "egress_declined")
	check(p.outbound(sendAct("c-d", "x"), ""), "")
	// follow_up resolves a session harbor delivered.
	inject(t, s, g.ID, dmEvent(PlatformSMS, "c-f", "m-f", "hi"), false)
	p.next("event", isMsg("m-f"))
	fu := map[string]any{"op": "follow_up", "session_key": "agent:main:harbor-sms:dm:c-f", "kind": "harbor-sms.reply", "content": "x", "metadata": map[string]any{}}
	check(p.outbound(fu, ""), "")
	fu["session_key"] = "agent:main:harbor-sms:dm:never"
	check(p.outbound(fu, ""), "not_found")
	// The outbound log names where each action went.
	var log struct{ Outbound []outboundRecord }
	ctl(t, s, "GET", "/outbound?gatewayId="+g.ID, nil, &log)
	if len(log.Outbound) < 10 || log.Outbound[0].ResolvedPlatform != PlatformSMS {
		t.Errorf("outbound log: %d records", len(log.Outbound))
	}
}

func TestInboundIDsAndPress(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-in"})
	p := connect(t, s, clk, g)
	got := inject(t, s, g.ID, dmEvent(PlatformSMS, "c1", "", "no id"), false)
	if got.Delivery != "live" || !strings.HasPrefix(got.MessageID, "hm_") || got.ChatID != "c1" {
		t.Fatalf("inject: %+v", got)
	}
	p.next("minted id", isMsg(got.MessageID))
	if got = inject(t, s, g.ID, dmEvent(PlatformSMS, "c1", "platform-7", "kept"), false); got.MessageID != "platform-7" {
		t.Fatalf("platform id not kept: %+v", got)
	}
	p.next("kept id", isMsg("platform-7"))
	pr := map[string]any{"op": "prompt", "chat_id": "c1", "content": "pick", "prompt_kind": "choice", "prompt_id": "p1",
		"options": []any{map[string]any{"id": "a", "label": "Apple"}}, "reply_to": nil, "metadata": map[string]any{}}
	r := p.outbound(pr, "")
	var ans map[string]any
	if st := ctl(t, s, "POST", "/press", map[string]any{"gatewayId": g.ID, "messageId": r["message_id"], "optionId": "a"}, &ans); st != 200 {
		t.Fatalf("press: %d %v", st, ans)
	}
	f := p.next("press", isMsg(ans["messageId"].(string)))
	resp := f["event"].(map[string]any)["prompt_response"].(map[string]any)
	if resp["prompt_id"] != "p1" || resp["option_id"] != "a" || resp["label"] != "Apple" || resp["prompt_message_id"] != r["message_id"] {
		t.Fatalf("prompt_response %v", resp)
	}
}

// The drain has a window of one: the next entry goes out only after the
// previous one's ack; an unacked entry comes again with the same bufferId
// on the next connection; an acked one never does.
func TestDrainWindowOne(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-drain"})
	goIdleAway(t, s, clk, g)
	var ids []string
	for i := 0; i < 3; i++ {
		d := inject(t, s, g.ID, dmEvent(PlatformSMS, "c", fmt.Sprintf("b%d", i), "x"), false)
		if d.Delivery != "buffered" || !strings.HasPrefix(d.BufferID, "hb.") {
			t.Fatalf("inject %d: %+v", i, d)
		}
		ids = append(ids, d.BufferID)
	}
	p := connect(t, s, clk, g)
	f0 := p.next("b0", isMsg("b0"))
	if bufID(f0) != ids[0] {
		t.Fatalf("bufferId %s, want %s", bufID(f0), ids[0])
	}
	if f, ok := p.tryNext(isMsg("b1")); ok {
		t.Fatalf("b1 before the ack of b0: %v", f)
	}
	p.send(map[string]any{"type": "inbound_ack", "bufferId": ids[0]})
	f1 := p.next("b1", isMsg("b1"))
	p.close()
	waitGone(t, s, g.ID)
	p = connect(t, s, clk, g)
	g1 := p.next("b1 again", isMsg("b1"))
	if bufID(g1) != bufID(f1) {
		t.Fatalf("redelivery under %s, first under %s", bufID(g1), bufID(f1))
	}
	live := inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "late", "x"), false)
	if live.Delivery != "buffered" {
		t.Fatalf("event during the drain: %+v", live)
	}
	p.send(map[string]any{"type": "inbound_ack", "bufferId": bufID(g1)})
	f2 := p.next("b2", isMsg("b2"))
	p.send(map[string]any{"type": "inbound_ack", "bufferId": bufID(f2)})
	fl := p.next("late", isMsg("late"))
	p.send(map[string]any{"type": "inbound_ack", "bufferId": bufID(fl)})
	p.send(map[string]any{"type": "inbound_ack", "bufferId": bufID(fl)}) // duplicate: no-op
	p.send(map[string]any{"type": "inbound_ack", "bufferId": "nope"})    // unknown: no-op
	if f, ok := p.tryNext(isMsg("b0")); ok {
		t.Fatalf("acked entry delivered again: %v", f)
	}
	if d := inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "now-live", "x"), false); d.Delivery != "live" {
		t.Fatalf("after the drain: %+v", d)
	}
	if f := p.next("live", isMsg("now-live")); bufID(f) != "" {
		t.Fatalf("live frame with bufferId: %v", f)
	}
}

// Interrupts go to the instance that owns the session, also when another
// instance of the tenant sends them.
func TestInterruptRouting(t *testing.T) {
	s, clk := newTest(t, Options{})
	a := enrollGW(t, s, GatewaySpec{ID: "gw-a", Tenant: "t1"})
	b := enrollGW(t, s, GatewaySpec{ID: "gw-b", Tenant: "t1"})
	pa, pb := connect(t, s, clk, a), connect(t, s, clk, b)
	ev := dmEvent(PlatformMail, "thread-chat", "m1", "x")
	ev["source"].(map[string]any)["chat_type"] = "group"
	ev["source"].(map[string]any)["thread_id"] = "th1"
	inject(t, s, b.ID, ev, false)
	pb.next("event", isMsg("m1"))
	key := "agent:main:harbor-mail:group:thread-chat:th1"
	pa.send(map[string]any{"type": "interrupt", "session_key": key, "reason": nil})
	f := pb.next("interrupt_inbound", ofType("interrupt_inbound"))
	if f["session_key"] != key || f["chat_id"] != "thread-chat" {
		t.Fatalf("interrupt_inbound %v", f)
	}
	if f, ok := pa.tryNext(ofType("interrupt_inbound")); ok {
		t.Fatalf("the sender got %v", f)
	}
}

func TestPolicy(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-pol"})
	p := connect(t, s, clk, g)
	pol := func(body string) int {
		st, _ := httpDo(t, "POST", s.URL()+"/relay/policy", g.token(clk), []byte(body))
		return st
	}
	if st := pol(`{"platform":"harbor-sms","requireAddress":true,"freeResponseScopes":["free"],"allowOtherBots":false}`); st != 200 {
		t.Fatal(st)
	}
	group := func(id, chat string, bot bool) map[string]any {
		ev := dmEvent(PlatformSMS, chat, id, "x")
		ev["source"].(map[string]any)["chat_type"] = "group"
		ev["source"].(map[string]any)["is_bot"] = bot
		return ev
	}
	if d := inject(t, s, g.ID, group("g1", "c", false), false); d.Delivery != "filtered" {
		t.Errorf("unaddressed: %+v", d)
	}
	if d := inject(t, s, g.ID, group("g2", "free", false), false); d.Delivery != "live" {
		t.Errorf("free scope: %+v", d)
	}
	bot := dmEvent(PlatformSMS, "c", "bot-dm", "x")
	bot["source"].(map[string]any)["is_bot"] = true
	if d := inject(t, s, g.ID, bot, false); d.Delivery != "live" {
		t.Errorf("bot DM: %+v", d)
	}
	if st := pol(`{"platform":"harbor-sms","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":true}`); st != 200 {
		t.Fatal(st)
	}
	if d := inject(t, s, g.ID, group("g3", "c", true), false); d.Delivery != "live" {
		t.Errorf("after the replacement: %+v", d)
	}
	p.next("g3", isMsg("g3"))
	for _, bad := range []string{`{"platform":"harbor-sms"}`, `{"platform":"discord","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":true}`, `[]`} {
		if st := pol(bad); st != 400 {
			t.Errorf("%s: %d", bad, st)
		}
	}
	if st, _ := httpDo(t, "POST", s.URL()+"/relay/policy", "", []byte(`{}`)); st != 401 {
		t.Errorf("no token: %d", st)
	}
}

func TestMedia(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-m", Tenant: "t1"})
	o := enrollGW(t, s, GatewaySpec{ID: "gw-o", Tenant: "t2"})
	st, b := httpDo(t, "POST", s.URL()+"/relay/media", g.token(clk), []byte("hello"))
	var up struct {
		ID   string
		Size int
	}
	_ = json.Unmarshal(b, &up)
	if st != 200 || len(up.ID) != 32 || up.Size != 5 {
		t.Fatalf("upload: %d %s", st, b)
	}
	if st, b := httpDo(t, "GET", s.URL()+"/relay/media/"+up.ID, g.token(clk), nil); st != 200 || string(b) != "hello" {
		t.Fatalf("download: %d %s", st, b)
	}
	for _, c := range []struct{ path, tok string }{
		{"/relay/media/" + up.ID, o.token(clk)}, {"/relay/media/" + strings.Repeat("0", 32), g.token(clk)},
		{"/relay/media/../media/" + up.ID, g.token(clk)}, {"/relay/media//" + up.ID, g.token(clk)},
	} {
		req, _ := http.NewRequest("GET", s.URL()+c.path, nil)
		req.URL.Opaque = c.path // keep the path as written
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", c.path, resp.StatusCode)
		}
	}
	if st, _ := httpDo(t, "POST", s.URL()+"/relay/media", g.token(clk), nil); st != 400 {
		t.Errorf("empty: %d", st)
	}
	if st, _ := httpDo(t, "POST", s.URL()+"/relay/media", g.token(clk), make([]byte, maxMediaBytes+1)); st != 413 {
		t.Errorf("too large: %d", st)
	}
	clk.Advance(2*time.Hour + time.Second)
	if st, _ := httpDo(t, "GET", s.URL()+"/relay/media/"+up.ID, g.token(clk), nil); st != 404 {
		t.Errorf("expired: %d", st)
	}
}

func TestProvisionAndEnroll(t *testing.T) {
	s, _ := newTest(t, Options{IdentityTokens: map[string]string{"idp-1": "t1", "idp-2": "t2"}})
	prov := func(idp, gw, plat string) (int, map[string]any) {
		body := fmt.Sprintf(`{"gatewayId":%q,"platform":%q,"botId":"b","gatewayEndpoint":"","routeKeys":[]}`, gw, plat)
		st, b := httpDo(t, "POST", s.URL()+"/relay/provision", idp, []byte(body))
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return st, m
	}
	st, a := prov("idp-1", "gw-p", PlatformSMS)
	if st != 200 || a["secret"] == "" || a["tenant"] != "t1" {
		t.Fatalf("provision: %d %v", st, a)
	}
	if st, b := prov("idp-1", "gw-p", PlatformMail); st != 200 || b["secret"] != a["secret"] {
		t.Fatalf("re-provision: %d, same secret %v", st, b["secret"] == a["secret"])
	}
	if st, b := prov("idp-2", "gw-p", PlatformSMS); st != 409 || b["secret"] != nil {
		t.Fatalf("another tenant's gateway id: %d %v", st, b)
	}
	if st, _ := prov("nope", "gw-q", PlatformSMS); st != 401 {
		t.Errorf("bad bearer: %d", st)
	}
	if st, _ := prov("idp-1", "gw-q", "discord"); st != 400 {
		t.Errorf("unserved platform: %d", st)
	}
	var tok struct{ Token string }
	ctl(t, s, "POST", "/enrollment-tokens", map[string]any{"tenant": "t2"}, &tok)
	enroll := func(idp, gw string) int {
		st, _ := httpDo(t, "POST", s.URL()+"/relay/enroll", idp, []byte(fmt.Sprintf(`{"enrollmentToken":%q,"gatewayId":%q}`, tok.Token, gw)))
		return st
	}
	if st := enroll("idp-1", "gw-e"); st != 403 {
		t.Errorf("another tenant's token: %d", st)
	}
	if st := enroll("idp-2", "gw-e"); st != 200 {
		t.Errorf("enroll: %d", st)
	}
	if st := enroll("idp-2", "gw-e2"); st != 403 {
		t.Errorf("reused token: %d", st)
	}
}

// One wake per cooldown window (45 s); a bare GET.
func TestWake(t *testing.T) {
	hits := make(chan *http.Request, 8)
	ws := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r
		w.WriteHeader(500) // failures are swallowed (WAKE-004)
	})}
	ln := listen(t)
	go ws.Serve(ln)
	defer ws.Close()
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-w", WakeURL: "http://" + ln.Addr().String() + "/wake"})
	goIdleAway(t, s, clk, g)
	inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "w1", "x"), false)
	r := <-hits
	if r.Method != "GET" || r.Header.Get("Authorization") != "" || r.URL.Path != "/wake" {
		t.Fatalf("wake request %s %s", r.Method, r.URL)
	}
	inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "w2", "x"), false)
	clk.Advance(44 * time.Second)
	inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "w3", "x"), false)
	clk.Advance(2 * time.Second)
	inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "w4", "x"), false)
	<-hits
	s.wakes.Wait() // every wake request harbor started has been answered
	if n := len(hits); n != 0 {
		t.Fatalf("%d extra wake requests", n)
	}
}

func TestDuplicatePolicies(t *testing.T) {
	for _, pol := range []string{"allow", "replace", "reject"} {
		t.Run(pol, func(t *testing.T) {
			s, clk := newTest(t, Options{DuplicatePolicy: pol})
			g := enrollGW(t, s, GatewaySpec{ID: "gw-dup"})
			a := connect(t, s, clk, g)
			b := dialToken(t, s, g.token(clk))
			b.sendLoose(map[string]any{"type": "hello", "platform": PlatformSMS})
			switch pol {
			case "reject":
				if code, r := b.closed(); code != 4409 || r != "duplicate" {
					t.Fatalf("newer: %d %q", code, r)
				}
			case "replace":
				if code, r := a.closed(); code != 4409 || r != "replaced" {
					t.Fatalf("older: %d %q", code, r)
				}
			case "allow":
				b.next("descriptor", ofType("descriptor"))
				inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "to-newest", "x"), false)
				b.next("event on the newest", isMsg("to-newest"))
			}
		})
	}
}

func TestRotationRevocationAndFaults(t *testing.T) {
	s, clk := newTest(t, Options{})
	g := enrollGW(t, s, GatewaySpec{ID: "gw-rot"})
	old := g.token(clk)
	var out struct{ Secret string }
	ctl(t, s, "POST", "/gateways/gw-rot/rotate", map[string]any{"secret": "new-secret"}, &out)
	connect(t, s, clk, gwCreds{ID: g.ID, Secret: "new-secret", Platforms: g.Platforms}).close()
	p := dialToken(t, s, old)
	p.send(map[string]any{"type": "hello", "platform": PlatformSMS})
	p.next("descriptor with the previous secret", ofType("descriptor"))
	ctl(t, s, "POST", "/gateways/gw-rot/revoke", map[string]any{}, nil)
	if code, r := p.closed(); code != 4401 || r != "unauthorized" {
		t.Fatalf("revoked live socket: %d %q", code, r)
	}
	q := dialToken(t, s, old)
	if code, _ := q.closed(); code != 4401 {
		t.Fatalf("revoked token: %d", code)
	}
	h := enrollGW(t, s, GatewaySpec{ID: "gw-f"})
	ctl(t, s, "POST", "/faults", map[string]any{"refuseConnections": true}, nil)
	q = dialToken(t, s, h.token(clk))
	if code, _ := q.closed(); code != websocket.StatusTryAgainLater {
		t.Fatalf("refused: %d", code)
	}
	ctl(t, s, "DELETE", "/faults", nil, nil)
	connect(t, s, clk, h)
}

func TestCredentialsOnly(t *testing.T) {
	s, clk := newTest(t, Options{NoControl: true, Gateway: &GatewaySpec{ID: "fixed", Secret: "fixed-secret"}})
	if s.ControlURL() != "" {
		t.Fatal("control API in credentials-only mode")
	}
	g, ok := s.StartGateway()
	if !ok || g.ID != "fixed" || len(g.Platforms) != 2 {
		t.Fatalf("start gateway %+v", g)
	}
	p := connect(t, s, clk, gwCreds{ID: g.ID, Secret: g.Secret, Platforms: g.Platforms})
	if r := p.outbound(sendAct("harbor-lobby", "hi"), PlatformMail); r["success"] != true {
		t.Fatalf("send: %v", r)
	}
}
