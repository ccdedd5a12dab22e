package simulator_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

func strp(s string) *string { return &s }

// validActions has one valid action per op.
func validActions() map[string]contract.Action {
	meta := map[string]any{"user_id": "u1"}
	return map[string]contract.Action{
		contract.OpSend:         {Op: contract.OpSend, ChatID: "c1", Content: "hi", Metadata: meta},
		contract.OpEdit:         {Op: contract.OpEdit, ChatID: "c1", MessageID: "m-9", Content: "hi2", Metadata: meta},
		contract.OpTyping:       {Op: contract.OpTyping, ChatID: "c1", Metadata: meta},
		contract.OpFollowUp:     {Op: contract.OpFollowUp, SessionKey: "agent:main:discord:dm:c1", Kind: "discord.interaction_token", Content: "later", Metadata: meta},
		contract.OpGetChatInfo:  {Op: contract.OpGetChatInfo, ChatID: "c1"},
		contract.OpDraft:        {Op: contract.OpDraft, ChatID: "c1", DraftID: 7, Content: "dr", Final: true, Metadata: meta},
		contract.OpTaskCard:     {Op: contract.OpTaskCard, ChatID: "c1", CardID: "turn:1", Chunks: []any{map[string]any{"t": "x"}}, Metadata: meta},
		contract.OpTaskCardStop: {Op: contract.OpTaskCardStop, ChatID: "c1", CardID: "turn:1", Metadata: meta},
		contract.OpDelete:       {Op: contract.OpDelete, ChatID: "c1", MessageID: "m-1", Metadata: meta},
		contract.OpSendMedia:    {Op: contract.OpSendMedia, ChatID: "c1", MediaKind: "image", SourceURL: "https://x.example/a.png", Content: "", Metadata: meta},
		contract.OpPrompt: {Op: contract.OpPrompt, ChatID: "c1", Content: "ok?", PromptKind: "approval", PromptID: "abc123.0000001",
			Options: []contract.PromptOption{{ID: "yes", Label: "Yes"}}, Metadata: meta},
		contract.OpReact:        {Op: contract.OpReact, ChatID: "c1", MessageID: "m-1", Emoji: "👍", Metadata: meta},
		contract.OpThreadCreate: {Op: contract.OpThreadCreate, ChatID: "c1", ThreadName: "handoff", Metadata: meta},
		contract.OpThreadRename: {Op: contract.OpThreadRename, ChatID: "c1", MessageID: "th-x", ThreadName: "renamed", Metadata: meta},
	}
}

func TestOutboundEveryOpAnswered(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	g := dialGW(t, s, "gw1")
	g.hello(s.Platforms()...)
	actions := validActions()
	needsID := map[string]bool{contract.OpSend: true, contract.OpEdit: true, contract.OpSendMedia: true, contract.OpPrompt: true, contract.OpFollowUp: true, contract.OpDraft: true}
	covered := map[string]bool{}
	for _, platform := range s.Platforms() {
		d, _ := s.Descriptor(platform)
		for _, op := range contract.AllOps {
			a := actions[op]
			id := g.sendOutbound(platform, a)
			f := g.expect(contract.TypeOutboundResult)
			if vs := contract.ValidateFrame([]byte(f.line + "\n")); len(vs) > 0 {
				t.Errorf("%s/%s: result breaks the contract: %v", platform, op, vs)
			}
			r := f.f.(contract.OutboundResult)
			if r.RequestID != id {
				t.Fatalf("requestId %s, want %s", r.RequestID, id)
			}
			if !d.SupportsOp(op) {
				if r.Result.Success || r.Result.Code != contract.CodeUnsupportedOp || r.Result.Error != "unsupported op: "+op {
					t.Errorf("%s/%s not advertised, got %+v", platform, op, r.Result)
				}
				continue
			}
			covered[op] = true
			if !r.Result.Success {
				t.Errorf("%s/%s failed: %+v", platform, op, r.Result)
				continue
			}
			if needsID[op] && r.Result.MessageID == "" {
				t.Errorf("%s/%s: no message_id", platform, op)
			}
			switch op {
			case contract.OpGetChatInfo:
				if r.Result.ChatInfo == nil || r.Result.ChatInfo.Name != "c1" || r.Result.ChatInfo.Type == "" {
					t.Errorf("get_chat_info = %+v", r.Result)
				}
			case contract.OpThreadCreate:
				if r.Result.ThreadID == "" {
					t.Errorf("thread_create without thread_id")
				}
			case contract.OpEdit:
				if r.Result.MessageID != "m-9" {
					t.Errorf("edit message_id %q", r.Result.MessageID)
				}
			}
		}
	}
	for _, op := range contract.AllOps {
		if !covered[op] {
			t.Errorf("no preset advertises %s, so its success shape went untested", op)
		}
	}
}

func TestOutboundPlatformRouting(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord", "telegram", "slack"}})
	g := dialGW(t, s, "gw1")
	// Before any descriptor, nothing is fronted on the connection.
	if r := g.call("", validActions()[contract.OpSend]); r.Success || r.Code != contract.CodePlatformNotFronted {
		t.Fatalf("before hello: %+v", r)
	}
	g.hello("telegram", "discord")
	// Untagged goes to the first descriptor's platform (OUT-013): telegram
	// advertises draft, discord does not.
	if r := g.call("", validActions()[contract.OpDraft]); !r.Success {
		t.Fatalf("untagged draft: %+v", r)
	}
	if r := g.call("discord", validActions()[contract.OpDraft]); r.Code != contract.CodeUnsupportedOp {
		t.Fatalf("discord draft: %+v", r)
	}
	// slack is fronted by the gateway but got no hello on this connection.
	r := g.call("slack", validActions()[contract.OpSend])
	if r.Success || r.Code != contract.CodePlatformNotFronted || !strings.Contains(r.Error, "slack") {
		t.Fatalf("slack: %+v", r)
	}
	recs := s.Outbound("gw1")
	if len(recs) != 4 || recs[1].ResolvedPlatform != "telegram" || recs[1].Platform != "" || recs[2].Platform != "discord" {
		t.Fatalf("records = %+v", recs)
	}
	for i, rec := range recs {
		if !rec.Answered || rec.Result == nil || (i > 0 && rec.Seq <= recs[i-1].Seq) {
			t.Fatalf("record %d = %+v", i, rec)
		}
	}
}

func TestOutboundInvalidAction(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	for name, c := range map[string]struct{ action, field string }{
		"missing content":    {`{"op":"send","chat_id":"c","reply_to":null,"metadata":{}}`, "action.content"},
		"content a number":   {`{"op":"send","chat_id":"c","content":5,"reply_to":null,"metadata":{}}`, "content"},
		"missing reply_to":   {`{"op":"send","chat_id":"c","content":"x","metadata":{}}`, "action.reply_to"},
		"react without bool": {`{"op":"react","chat_id":"c","message_id":"m","emoji":"x","metadata":{}}`, "action.remove"},
	} {
		t.Run(name, func(t *testing.T) {
			g.sendText(`{"type":"outbound","requestId":"r-` + strings.ReplaceAll(name, " ", "-") + `","action":` + c.action + "}\n")
			r := g.expect(contract.TypeOutboundResult).f.(contract.OutboundResult)
			if r.Result.Success || r.Result.Code != contract.CodeInvalidAction || !strings.Contains(r.Result.Error, c.field) {
				t.Fatalf("result %+v, want invalid_action naming %s", r.Result, c.field)
			}
		})
	}
	// A mistyped key outside the action is named by the decoder's typed
	// error, without its frame prefix.
	g.sendText(`{"type":"outbound","requestId":"r-platform","platform":5,"action":{"op":"typing","chat_id":"c","metadata":{}}}` + "\n")
	if r := g.expect(contract.TypeOutboundResult).f.(contract.OutboundResult); r.Result.Code != contract.CodeInvalidAction ||
		r.Result.Error != "invalid action: platform: wrong type (number)" {
		t.Fatalf("mistyped platform: %+v", r.Result)
	}
	// Unknown action and metadata keys are ignored (OUT-016).
	g.sendText(`{"type":"outbound","requestId":"extra","action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{"zzz":1},"future":true}}` + "\n")
	if r := g.expect(contract.TypeOutboundResult).f.(contract.OutboundResult); !r.Result.Success {
		t.Fatalf("extra keys: %+v", r.Result)
	}
	// An outbound without requestId cannot be answered; nothing comes back.
	g.sendText(`{"type":"outbound","action":{"op":"typing","chat_id":"c","metadata":{}}}` + "\n")
	g.expectQuiet()
}

func TestDraftSealIsIdempotent(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"telegram"}})
	g := dialGW(t, s, "gw1")
	g.hello("telegram")
	a := validActions()[contract.OpDraft]
	first := g.call("", a)
	again := g.call("", a)
	if first.MessageID == "" || first.MessageID != again.MessageID {
		t.Fatalf("seal ids %q and %q", first.MessageID, again.MessageID)
	}
	a.DraftID++
	if other := g.call("", a); other.MessageID == first.MessageID {
		t.Fatal("another draft got the same id")
	}
}

func TestThreadRenameConditions(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	created := g.call("", validActions()[contract.OpThreadCreate])
	skipped := func(r contract.Result) bool { return string(r.Extra["skipped"]) == "true" }
	rename := contract.Action{Op: contract.OpThreadRename, ChatID: "c1", ThreadName: "n2", Metadata: map[string]any{}}

	rename.MessageID, rename.OnlyIfConnectorCreated = "foreign", true
	if r := g.call("", rename); !r.Success || !skipped(r) {
		t.Fatalf("foreign thread: %+v", r)
	}
	rename.MessageID = created.ThreadID
	if r := g.call("", rename); !r.Success || skipped(r) {
		t.Fatalf("own thread: %+v", r)
	}
	rename.OnlyIfConnectorCreated, rename.OnlyIfCurrentName, rename.ThreadName = false, "handoff", "n3"
	if r := g.call("", rename); !r.Success || !skipped(r) {
		t.Fatalf("name changed meanwhile: %+v", r)
	}
	rename.OnlyIfCurrentName = "n2"
	if r := g.call("", rename); !r.Success || skipped(r) {
		t.Fatalf("current name matches: %+v", r)
	}
}

func TestGetChatInfoFromDeliveredEvents(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	inject(t, s, "gw1", eventWith("discord", "chan9", "x", map[string]any{"chat_type": "group", "chat_name": "general"}))
	g.expect(contract.TypeInbound)
	r := g.call("", contract.Action{Op: contract.OpGetChatInfo, ChatID: "chan9"})
	if r.ChatInfo == nil || *r.ChatInfo != (contract.ChatInfo{Name: "general", Type: "group"}) {
		t.Fatalf("chat info %+v", r.ChatInfo)
	}
}

func TestResultScripts(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	send := validActions()[contract.OpSend]

	must := func(id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	must(s.Script(simulator.ResultScript{Op: "send", ChatID: "limited", Fail: &simulator.ScriptFailure{Error: "slow down", Code: contract.CodeRateLimited}, Times: 1}))
	must(s.Script(simulator.ResultScript{Op: "send", ChatID: "declined", EgressDeclined: true}))
	must(s.Script(simulator.ResultScript{Op: "send", ChatID: "raw", Result: json.RawMessage(`{"success":true,"message_id":42,"extra":"x"}`)}))
	must(s.Script(simulator.ResultScript{Op: "send", ChatID: "black-hole", NeverAnswer: true}))
	must(s.Script(simulator.ResultScript{Op: "send", ChatID: "slow", Delay: 5 * time.Second}))

	send.ChatID = "limited"
	if r := g.call("", send); r.Success || r.Code != contract.CodeRateLimited || r.Error != "slow down" {
		t.Fatalf("scripted failure: %+v", r)
	}
	if r := g.call("", send); !r.Success {
		t.Fatalf("Times: 1 should have run out: %+v", r)
	}
	send.ChatID = "declined"
	r := g.call("", send)
	if r.Success || r.Code != contract.CodeEgressDeclined || r.Ambiguous ||
		r.Error != "discord egress declined: target is not an approved destination for this connection" {
		t.Fatalf("decline: %+v", r)
	}
	send.ChatID = "raw"
	if r := g.call("", send); r.MessageID != "42" || string(r.Extra["extra"]) != `"x"` {
		t.Fatalf("raw: %+v", r)
	}
	send.ChatID = "black-hole"
	g.sendOutbound("", send)
	g.expectQuiet()

	send.ChatID = "slow"
	slowID := g.sendOutbound("", send)
	g.expectQuiet() // the barrier's answer overtook the delayed one
	waitManualTimers(t, m, 1)
	m.Advance(5 * time.Second)
	if r := g.expect(contract.TypeOutboundResult).f.(contract.OutboundResult); r.RequestID != slowID || !r.Result.Success {
		t.Fatalf("delayed: %+v", r)
	}
	if sc := s.Scripts(); len(sc) != 5 || sc[0].Used != 1 {
		t.Fatalf("scripts = %+v", sc)
	}
	var never simulator.OutboundRecord
	for _, rec := range s.Outbound("gw1") {
		if strings.Contains(string(rec.Action), "black-hole") {
			never = rec
		}
	}
	if never.Answered || never.ScriptID == "" {
		t.Fatalf("never-answered record %+v", never)
	}
	s.ClearScripts()
	if _, err := s.Script(simulator.ResultScript{Result: json.RawMessage(`[1]`)}); err == nil {
		t.Fatal("non-object result accepted")
	}
}
