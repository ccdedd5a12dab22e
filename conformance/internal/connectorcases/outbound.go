package connectorcases

import (
	"fmt"
	"slices"
	"strings"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 5: outbound actions and results.

// opCase describes how to exercise one op with a valid action.
type opCase struct {
	op     string
	reqs   []string
	action func(s *h.S, p *h.Peer) map[string]any
	check  func(s *h.S, r contract.Result, f h.RxFrame)
}

func baseAction(op, chat string) map[string]any {
	return map[string]any{"op": op, "chat_id": chat, "metadata": map[string]any{}}
}

// usePlatformFor makes the case's gateway front, first, a platform whose
// descriptor advertises op, and returns that platform.
func usePlatformFor(s *h.S, op string) string {
	t := s.Run.Conn
	plat := t.OpPlatform(op)
	if plat == "" {
		return "" // forced on: use the default platform
	}
	ids := s.Creds().Identities
	for i, id := range ids {
		if id.Platform == plat {
			ids[0], ids[i] = ids[i], ids[0]
			return plat
		}
	}
	if t.Ctl == nil {
		s.Untestable("no configured platform advertises %s", op)
	}
	creds, err := t.CredsFor(s.Ctx, h.Slug(s.C.ID), &h.EnrollSpec{Platforms: []string{plat}})
	if err != nil {
		s.Harness("enroll a gateway fronting %s: %v", plat, err)
	}
	s.Tr.Redact(creds.Secret)
	s.Cc.Creds = creds
	return plat
}

// sentMessage sends a message and returns its id, for ops that act on an
// existing message.
func sentMessage(s *h.S, p *h.Peer) string {
	r, f := s.Outbound(p, h.SendAction(s.Chat(), "conformance: target message"), s.Primary().Platform)
	if !r.Success {
		s.Untestable("a send to chat %q failed (code %q), so no message to act on; give a chat the gateway may post to", s.Chat(), r.Code)
	}
	if r.MessageID == "" {
		s.Failf("OUT-010", "a successful send result with a string message_id", "%s", f)
	}
	return r.MessageID
}

func needMessageID(s *h.S, r contract.Result, f h.RxFrame) {
	if _, ok := f.Obj["result"].(map[string]any)["message_id"].(string); !ok || r.MessageID == "" {
		s.Failf("OUT-010", "a successful result with a string message_id", "%s", f)
	}
}

var opCases = []opCase{
	{op: contract.OpSend, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("send", s.Chat())
			a["content"], a["reply_to"] = "conformance: send", nil
			return a
		}, check: needMessageID},
	{op: contract.OpEdit, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("edit", s.Chat())
			a["message_id"], a["content"] = sentMessage(s, p), "conformance: edited"
			return a
		}, check: needMessageID},
	{op: contract.OpTyping, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any { return baseAction("typing", s.Chat()) }},
	{op: contract.OpFollowUp, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			id := s.Primary()
			key := contract.SessionKey(contract.SessionSource{Platform: id.Platform, ChatID: s.Chat(), ChatType: "dm"}, contract.DefaultSessionKeyOptions())
			return map[string]any{"op": "follow_up", "session_key": key, "kind": id.Platform + ".message",
				"content": "conformance: follow-up", "metadata": map[string]any{}}
		}, check: needMessageID},
	{op: contract.OpGetChatInfo, reqs: []string{"OUT-019", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			return map[string]any{"op": "get_chat_info", "chat_id": s.Chat()}
		}, check: func(s *h.S, r contract.Result, f h.RxFrame) {
			ci, ok := f.Obj["result"].(map[string]any)["chat_info"].(map[string]any)
			if !ok {
				s.Failf("OUT-019", "chat_info nested as an object", "%s", f)
			}
			_, n := ci["name"].(string)
			_, t := ci["type"].(string)
			s.Check(n && t, "OUT-019", "chat_info with string name and type", "%s", f)
		}},
	{op: contract.OpDraft, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("draft", s.Chat())
			a["draft_id"], a["content"], a["final"] = 1, "conformance: draft", true
			return a
		}, check: needMessageID},
	{op: contract.OpTaskCard, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("task_card", s.Chat())
			a["card_id"], a["chunks"] = "turn:conformance", []any{map[string]any{"text": "step"}}
			return a
		}},
	{op: contract.OpTaskCardStop, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("task_card_stop", s.Chat())
			a["card_id"] = "turn:conformance"
			return a
		}},
	{op: contract.OpDelete, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("delete", s.Chat())
			a["message_id"] = sentMessage(s, p)
			return a
		}},
	{op: contract.OpSendMedia, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("send_media", s.Chat())
			a["media_kind"], a["source_url"], a["content"], a["reply_to"] = "image", "https://example.com/conformance.png", "", nil
			return a
		}, check: needMessageID},
	{op: contract.OpPrompt, reqs: []string{"OUT-010", "OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("prompt", s.Chat())
			a["content"], a["prompt_kind"], a["prompt_id"], a["reply_to"] = "conformance: choose", "choice", "c0nf01.0000aaaa", nil
			a["options"] = []any{map[string]any{"id": "yes", "label": "Yes", "style": "primary"}, map[string]any{"id": "no", "label": "No"}}
			return a
		}, check: needMessageID},
	{op: contract.OpReact, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("react", s.Chat())
			a["message_id"], a["emoji"], a["remove"] = sentMessage(s, p), "👍", false
			return a
		}},
	{op: contract.OpThreadCreate, reqs: []string{"OUT-025", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("thread_create", s.Chat())
			a["thread_name"] = "conformance"
			return a
		}, check: func(s *h.S, r contract.Result, f h.RxFrame) {
			if _, ok := f.Obj["result"].(map[string]any)["thread_id"].(string); !ok {
				s.Failf("OUT-025", "a successful thread_create result with a string thread_id", "%s", f)
			}
		}},
	{op: contract.OpThreadRename, reqs: []string{"OUT-007", "OUT-009"},
		action: func(s *h.S, p *h.Peer) map[string]any {
			a := baseAction("thread_rename", s.Chat())
			a["message_id"], a["thread_name"] = "conformance-thread", "conformance renamed"
			return a
		}},
}

func init() {
	for _, oc := range opCases {
		oc := oc
		h.ConnectorCase(h.Case{
			ID:   oc.reqs[0] + "/op-" + strings.ReplaceAll(oc.op, "_", "-"),
			Reqs: oc.reqs,
			Text: fmt.Sprintf("an advertised %s action gets exactly one well-formed outbound_result, never unsupported_op", oc.op),
			Op:   oc.op,
		}, func(s *h.S) {
			plat := usePlatformFor(s, oc.op)
			p, _ := s.Connect()
			a := oc.action(s, p)
			rid := h.NewRequestID()
			fr := map[string]any{"type": contract.TypeOutbound, "requestId": rid, "action": a}
			if plat != "" {
				fr["platform"] = plat
			}
			p.SendJSON(fr)
			r, f := s.AwaitResult(p, rid)
			// The op is advertised: unsupported_op is reserved for ops
			// that are not (OUT-009).
			s.CheckAdvertisedOp(oc.op, plat, r, f)
			s.ExpectOneResult(p, rid, s.Quiet())
			if !r.Success {
				if oc.check != nil {
					s.Untestable("the %s action failed (code %q, error %q), so its success shape cannot be checked (a connector may refuse chats, messages or sessions it has not seen; name a chat it accepts with --chat-id)",
						oc.op, r.Code, r.Error)
				}
				return
			}
			if oc.check != nil {
				oc.check(s, r, f)
			}
		})
	}
}

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-006/one-result",
	Reqs: []string{"OUT-006", "OUT-007"},
	Text: "every outbound gets exactly one outbound_result with its requestId, a result object and a boolean success",
}, func(s *h.S) {
	p, _ := s.Connect()
	rids := []string{h.NewRequestID(), h.NewRequestID(), h.NewRequestID()}
	for i, rid := range rids {
		p.Send(contract.Outbound{RequestID: rid, Action: h.SendAction(s.Chat(), fmt.Sprintf("conformance %d", i))})
	}
	for _, rid := range rids {
		s.AwaitResult(p, rid)
	}
	for _, rid := range rids {
		s.ExpectOneResult(p, rid, s.Quiet())
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-009/unknown-op",
	Reqs: []string{"OUT-009"},
	Text: "an action with an op the contract does not define gets success:false with code unsupported_op",
}, func(s *h.S) {
	p, _ := s.Connect()
	r, f := s.OutboundRaw(p, "OUT-009", map[string]any{"op": "x_conform_no_such_op", "chat_id": s.Chat(), "metadata": map[string]any{}}, "")
	s.Check(!r.Success && r.Code == contract.CodeUnsupportedOp, "OUT-009", "success:false, code unsupported_op", "%s", f)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-009/unadvertised-op",
	Reqs: []string{"OUT-009"},
	Text: "an action with an op the descriptor does not advertise gets success:false with code unsupported_op",
}, func(s *h.S) {
	p, ds := s.Connect()
	op := unadvertised(ds[0])
	if op == "" {
		s.Untestable("the descriptor advertises every op of the contract")
	}
	// Tagged with the platform whose descriptor lacks the op, so that the
	// case does not depend on which platform is the default (OUT-013).
	a := baseAction(op, s.Chat())
	r, f := s.OutboundRaw(p, "OUT-009", a, ds[0].Platform)
	s.Check(!r.Success && r.Code == contract.CodeUnsupportedOp, "OUT-009",
		fmt.Sprintf("success:false, code unsupported_op for the unadvertised op %s", op), "%s", f)
})

// unadvertised returns an op of the contract the descriptor does not allow.
func unadvertised(d contract.CapabilityDescriptor) string {
	for _, op := range contract.AllOps {
		if !d.SupportsOp(op) {
			return op
		}
	}
	return ""
}

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-014/unsupported-error-text",
	Reqs: []string{"OUT-014", "OUT-008"},
	Text: "an unsupported_op failure reads \"unsupported op: <op>\"",
}, func(s *h.S) {
	p, _ := s.Connect()
	op := "x_conform_no_such_op"
	r, f := s.OutboundRaw(p, "OUT-009", map[string]any{"op": op, "chat_id": s.Chat(), "metadata": map[string]any{}}, "")
	if r.Success || r.Code != contract.CodeUnsupportedOp {
		s.Untestable("the connector did not answer unsupported_op (see OUT-009/unknown-op)")
	}
	s.Check(r.Error == "unsupported op: "+op, "OUT-014", fmt.Sprintf("error %q", "unsupported op: "+op), "%s", f)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-009/unfronted-platform",
	Reqs: []string{"OUT-009"},
	Text: "an action tagged with a platform the connection does not front gets success:false with code platform_not_fronted",
}, func(s *h.S) {
	p, _ := s.Connect()
	r, f := s.OutboundRaw(p, "OUT-009", map[string]any{"op": "send", "chat_id": s.Chat(), "content": "x", "reply_to": nil, "metadata": map[string]any{}},
		"conform-unfronted")
	s.Check(!r.Success && r.Code == contract.CodePlatformNotFronted, "OUT-009", "success:false, code platform_not_fronted", "%s", f)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-015/invalid-action",
	Reqs: []string{"OUT-015"},
	Text: "an action missing a required key gets success:false with code invalid_action",
}, func(s *h.S) {
	p, _ := s.Connect()
	r, f := s.OutboundRaw(p, "OUT-015", map[string]any{"op": "send", "chat_id": s.Chat(), "reply_to": nil, "metadata": map[string]any{}}, "")
	s.Check(!r.Success && r.Code == contract.CodeInvalidAction, "OUT-015", "success:false, code invalid_action for a send without content", "%s", f)
	s.Check(r.Error != "", "OUT-015", "an error naming the key", "%s", f)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-016/unknown-keys",
	Reqs: []string{"OUT-016"},
	Text: "unknown action keys and metadata keys are ignored",
}, func(s *h.S) {
	p, _ := s.Connect()
	plain, _ := s.Outbound(p, h.SendAction(s.Chat(), "plain"), "")
	a := map[string]any{"op": "send", "chat_id": s.Chat(), "content": "extra keys", "reply_to": nil,
		"x_conform_extra": map[string]any{"n": 1}, "metadata": map[string]any{"x_conform_hint": true}}
	r, f := s.OutboundRaw(p, "OUT-006", a, "")
	if r.Success != plain.Success || r.Code == contract.CodeInvalidAction {
		s.Failf("OUT-016", fmt.Sprintf("the same answer as without the unknown keys (success:%v)", plain.Success), "%s", f)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-008/failure-shape",
	Reqs: []string{"OUT-008"},
	Text: "a failed result carries a string error and, when present, a code from the contract's list",
}, func(s *h.S) {
	p, _ := s.Connect()
	r, f := s.OutboundRaw(p, "OUT-009", map[string]any{"op": "x_conform_no_such_op", "chat_id": s.Chat(), "metadata": map[string]any{}}, "")
	if r.Success {
		s.Untestable("the connector did not fail the unknown op (see OUT-009/unknown-op)")
	}
	res := f.Obj["result"].(map[string]any)
	if _, ok := res["error"].(string); !ok {
		s.Failf("OUT-008", "a string error on a failed result", "%s", f)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-021/draft-seal-idempotent",
	Reqs: []string{"OUT-021"},
	Text: "repeating a draft with final:true for the same chat and draft_id creates no second message and returns the same message_id",
	Op:   contract.OpDraft,
}, func(s *h.S) {
	plat := usePlatformFor(s, contract.OpDraft)
	p, _ := s.Connect()
	a := baseAction("draft", s.Chat())
	a["draft_id"], a["content"], a["final"] = 7, "conformance: sealed", true
	r1, f1 := s.OutboundRaw(p, "OUT-006", a, plat)
	if !r1.Success {
		s.Untestable("the draft seal failed (code %q)", r1.Code)
	}
	r2, f2 := s.OutboundRaw(p, "OUT-006", a, plat)
	s.Check(r2.Success && r2.MessageID == r1.MessageID, "OUT-021", "the same message_id "+r1.MessageID, "first %s, then %s", f1, f2)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-006/unknown-chat-result",
	Reqs: []string{"OUT-006", "OUT-007"},
	Text: "a send to a chat the connector does not know still gets exactly one outbound_result (a failure is fine)",
}, func(s *h.S) {
	p, _ := s.Connect()
	chat := "conform-no-such-chat-" + h.RandHex(4)
	rid := h.NewRequestID()
	p.Send(contract.Outbound{RequestID: rid, Action: h.SendAction(chat, "conformance: to nowhere")})
	s.AwaitResult(p, rid)
	s.ExpectOneResult(p, rid, s.Quiet())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-009/advertised-ops",
	Reqs: []string{"OUT-009"},
	Text: "on every fronted platform, each op its descriptor advertises (the legacy send, edit, typing and follow_up when supported_ops is empty) is carried out or fails with a code other than unsupported_op",
}, func(s *h.S) {
	t := s.Run.Conn
	tried := 0
	// One connection, the configured identities in their order: the
	// default platform stays the first, and each action is tagged with the
	// platform it is for, so a connector that gates tagged actions on the
	// default descriptor shows.
	p, _ := s.Connect()
	for _, d := range t.Probe {
		if !slices.ContainsFunc(s.Creds().Identities, func(id h.Identity) bool { return id.Platform == d.Platform }) {
			continue
		}
		s.Step("every op advertised on %s", d.Platform)
		for _, op := range d.Ops() {
			oc, ok := opCaseFor(op)
			if !ok {
				continue
			}
			if op == contract.OpDraft && !d.SupportsDraftStreaming {
				continue // gated on the flag as well (HS-022)
			}
			rid := h.NewRequestID()
			p.SendJSON(map[string]any{"type": contract.TypeOutbound, "requestId": rid, "action": oc.action(s, p), "platform": d.Platform})
			r, f := s.AwaitResult(p, rid)
			if !r.Success && r.Code == contract.CodeUnsupportedOp {
				s.Failf("OUT-009", fmt.Sprintf("op %q, which the %s descriptor advertises, carried out or failed with another code", op, d.Platform),
					"unsupported_op: %s", f)
			}
			tried++
		}
	}
	if tried == 0 {
		s.Untestable("the case's gateway fronts none of the probed platforms")
	}
})

// opCaseFor returns how to exercise op with a valid action.
func opCaseFor(op string) (opCase, bool) {
	for _, oc := range opCases {
		if oc.op == op {
			return oc, true
		}
	}
	return opCase{}, false
}

var _ = h.ConnectorCase(h.Case{
	ID:   "OUT-026/conditional-rename",
	Reqs: []string{"OUT-026"},
	Text: "a thread_rename whose only_if_current_name does not hold is answered success:true (and leaves the name alone)",
	Op:   contract.OpThreadRename,
}, func(s *h.S) {
	plat := usePlatformFor(s, contract.OpThreadRename)
	p, ds := s.Connect()
	if !ds[0].SupportsOp(contract.OpThreadCreate) {
		s.Untestable("the platform advertising thread_rename does not advertise thread_create, so no thread of known name can be made")
	}
	a := baseAction(contract.OpThreadCreate, s.Chat())
	a["thread_name"] = "conformance"
	r, f := s.OutboundRaw(p, "OUT-025", a, plat)
	if !r.Success || r.ThreadID == "" {
		s.Untestable("thread_create did not succeed (%s), so there is no thread to rename", f)
	}
	ren := baseAction(contract.OpThreadRename, s.Chat())
	ren["message_id"], ren["thread_name"], ren["only_if_current_name"] = r.ThreadID, "conformance renamed", "not the current name"
	r2, f2 := s.OutboundRaw(p, "OUT-006", ren, plat)
	s.Check(r2.Success, "OUT-026", "success:true for a rename whose only_if_current_name does not hold", "%s", f2)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "OUT-013/default-platform",
	Reqs:  []string{"OUT-013"},
	Text:  "an untagged outbound goes to the platform of the first descriptor on the connection",
	Needs: h.NeedControl | h.NeedTwoPlatforms,
}, func(s *h.S) {
	ids := s.Creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts one platform")
	}
	p := s.MustDial("AUTH-005", s.ValidToken())
	// Hello for the second identity first: it becomes the default.
	s.Handshake(p, ids[1], ids[0])
	r, f := s.Outbound(p, h.SendAction(s.Chat(), "untagged"), "")
	if !r.Success {
		s.Untestable("the untagged send failed (code %q)", r.Code)
	}
	rid := f.Str("requestId")
	recs, err := s.Run.Conn.Ctl.Outbound(s.Ctx, s.Creds().GatewayID)
	if err != nil {
		s.Untestable("the control API has no outbound log: %v", err)
	}
	for _, rec := range recs {
		if rec.RequestID == rid {
			s.Check(rec.ResolvedPlatform == ids[1].Platform, "OUT-013",
				"the action performed on "+ids[1].Platform+" (first hello)", "performed on %q", rec.ResolvedPlatform)
			return
		}
	}
	s.Harness("the outbound log has no record of request %s", rid)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "OUT-011/decline-shape",
	Reqs:  []string{"OUT-011"},
	Text:  "an egress decline is success:false with code egress_declined and never ambiguous",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	chat := "conform-declined-" + h.RandHex(3)
	if err := s.Run.Conn.Ctl.DeclineNext(s.Ctx, s.Creds().GatewayID, chat); err != nil {
		s.Untestable("the control API cannot script an egress decline: %v", err)
	}
	r, f := s.Outbound(p, h.SendAction(chat, "declined"), "")
	res, _ := f.Obj["result"].(map[string]any)
	s.Check(!r.Success && r.Code == contract.CodeEgressDeclined, "OUT-011", "success:false, code egress_declined", "%s", f)
	s.Check(res["ambiguous"] != true, "OUT-011", "a decline never marked ambiguous", "%s", f)
})
