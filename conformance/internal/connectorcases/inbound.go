package connectorcases

import (
	"encoding/json"
	"fmt"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 6: inbound, interrupts and passthrough. They
// need the testee control API to make a platform user "send" something.

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-001/inbound-shape",
	Reqs:  []string{"IN-001", "IN-002", "IN-007"},
	Text:  "a user message is delivered live as an inbound frame with an event object and a source naming a platform answered on the connection",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, ds := s.Connect()
	m := s.NewMessage("hello from a user")
	s.Inject(m)
	f := p.ExpectInbound("IN-001", m)
	ev, ok := f.Obj["event"].(map[string]any)
	if !ok {
		s.Failf("IN-001", "an object event", "%s", f)
	}
	if b, has := f.Obj["bufferId"]; has && f.Str("bufferId") == "" {
		s.Failf("IN-001", "bufferId, when present, a non-empty string", "bufferId %v", b)
	}
	src, ok := ev["source"].(map[string]any)
	if !ok {
		s.Failf("IN-002", "an object event.source", "%s", f)
	}
	for _, k := range []string{"platform", "chat_id", "chat_type", "user_id"} {
		if _, ok := src[k].(string); !ok {
			s.Failf("IN-002", "source."+k+" a string", "%v", src[k])
		}
	}
	ct := src["chat_type"].(string)
	valid := false
	for _, t := range contract.ChatTypes {
		valid = valid || ct == t
	}
	s.Check(valid, "IN-002", "chat_type one of dm, group, channel, thread", "%q", ct)
	answered := false
	for _, d := range ds {
		answered = answered || d.Platform == src["platform"]
	}
	s.Check(answered, "IN-007", "source.platform a platform answered with a descriptor on the connection", "%v", src["platform"])
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-003/message-type",
	Reqs:  []string{"IN-003", "IN-008"},
	Text:  "events carry a message_type of the contract and the platform message id",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("typed")
	s.Inject(m)
	f := p.Expect("IN-001", "an inbound frame", h.OfType(contract.TypeInbound))
	ev, _ := f.Obj["event"].(map[string]any)
	if mt, ok := ev["message_type"]; ok {
		valid := false
		for _, t := range contract.MessageTypes {
			valid = valid || mt == t
		}
		s.Check(valid, "IN-003", "message_type one of "+fmt.Sprint(contract.MessageTypes), "%v", mt)
	}
	s.Check(h.EventMessageID(f) != "", "IN-008", "the platform message id as message_id", "%s", f)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-011/interrupt-routing",
	Reqs:  []string{"IN-011", "IN-005", "SKEY-003"},
	Text:  "an interrupt for a session is answered by nothing and routed back as interrupt_inbound with that session key and its chat id",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("start a turn")
	s.Inject(m)
	f := p.ExpectInbound("IN-001", m)
	var ev contract.MessageEvent
	raw, _ := json.Marshal(f.Obj["event"])
	ev, err := contract.DecodeEvent(raw)
	if err != nil {
		s.Failf("IN-002", "an event that decodes", "%v", err)
	}
	key := contract.SessionKey(ev.Source, contract.DefaultSessionKeyOptions())
	s.Step("interrupt %s", key)
	reason := "conformance"
	p.Send(contract.Interrupt{SessionKey: key, Reason: &reason})
	ii := p.Expect("IN-011", "an interrupt_inbound for "+key, h.OfType(contract.TypeInterruptInbound))
	s.Check(ii.Str("session_key") == key, "IN-011", "session_key "+key, "%s", ii)
	_, isStr := ii.Obj["chat_id"].(string)
	s.Check(isStr, "IN-005", "a string chat_id", "%s", ii)
	s.Check(ii.Str("chat_id") == ev.Source.ChatID, "IN-011", "chat_id "+ev.Source.ChatID, "%s", ii)
	p.ExpectNone(s.Quiet(), "IN-011", "no reply to the interrupt", func(f h.RxFrame) bool {
		return f.Type == contract.TypeOutboundResult
	})
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-006/passthrough-shape",
	Reqs:  []string{"IN-006"},
	Text:  "a forwarded platform request arrives as passthrough_forward with string method, path, platform, botId, [name, value] headers and standard-base64 bodyB64",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	if err := s.Run.Conn.Ctl.InjectPassthrough(s.Ctx, s.Creds().GatewayID, s.Primary().Platform, []byte(`{"type":2,"data":{"name":"ping"}}`)); err != nil {
		s.Untestable("the control API cannot inject passthrough forwards: %v", err)
	}
	f := p.Expect("IN-006", "a passthrough_forward frame", h.OfType(contract.TypePassthroughForward))
	fw, ok := f.Obj["forward"].(map[string]any)
	if !ok {
		s.Failf("IN-006", "an object forward", "%s", f)
	}
	for _, k := range []string{"method", "path", "platform", "botId", "bodyB64"} {
		if _, ok := fw[k].(string); !ok {
			s.Failf("IN-006", "forward."+k+" a string", "%v", fw[k])
		}
	}
	hs, ok := fw["headers"].([]any)
	if !ok {
		s.Failf("IN-006", "forward.headers a list", "%v", fw["headers"])
	}
	for _, hv := range hs {
		pair, ok := hv.([]any)
		if !ok || len(pair) != 2 || !jsonKind(pair[0], "string") || !jsonKind(pair[1], "string") {
			s.Failf("IN-006", "each header a [name, value] pair of strings", "%v", hv)
		}
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-013/prompt-press",
	Reqs:  []string{"IN-013"},
	Text:  "a press on a prompt option arrives as an inbound event whose prompt_response names the prompt and the option, with the label and the prompt's message id when given",
	Needs: h.NeedControl,
}, func(s *h.S) {
	plat := usePlatformFor(s, contract.OpPrompt)
	p, _ := s.Connect()
	promptID := "c0nf02." + h.RandHex(4)
	a := baseAction(contract.OpPrompt, s.Chat())
	a["content"], a["prompt_kind"], a["prompt_id"], a["reply_to"] = "conformance: pick one", "choice", promptID, nil
	a["options"] = []any{map[string]any{"id": "left", "label": "Left"}, map[string]any{"id": "right", "label": "Right"}}
	res, _ := s.OutboundRaw(p, "OUT-006", a, plat)
	if !res.Success || res.MessageID == "" {
		s.Harness("the connector did not render the prompt (result %+v), so nothing can be pressed", res)
	}
	s.Step("press option right of prompt %s (message %s)", promptID, res.MessageID)
	if err := s.Run.Conn.Ctl.Press(s.Ctx, s.Creds().GatewayID, res.MessageID, "right"); err != nil {
		s.Untestable("the control API cannot press prompt options (POST /press): %v", err)
	}
	f := p.Expect("IN-013", "an inbound event for the press", h.OfType(contract.TypeInbound))
	ev, _ := f.Obj["event"].(map[string]any)
	pr, ok := ev["prompt_response"].(map[string]any)
	if !ok {
		s.Failf("IN-013", "an event with an object prompt_response", "%s", f)
	}
	s.Check(pr["prompt_id"] == promptID && pr["option_id"] == "right", "IN-013",
		fmt.Sprintf("prompt_response.prompt_id %q and option_id \"right\"", promptID), "%v", pr)
	if l, given := pr["label"]; given {
		s.Check(l == "Right", "IN-013", "label \"Right\", the pressed option's", "%v", l)
	}
	if m, given := pr["prompt_message_id"]; given {
		s.Check(m == res.MessageID, "IN-013", "prompt_message_id "+res.MessageID+", the prompt's message", "%v", m)
	}
	src, _ := ev["source"].(map[string]any)
	s.Check(src["chat_id"] == s.Chat(), "IN-013", "the press in the prompt's chat "+s.Chat(), "source %v", src)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-011/interrupt-other-instance",
	Reqs:  []string{"IN-011"},
	Text:  "with two instances of one tenant, an interrupt sent by one for a session the other owns goes to the owner as interrupt_inbound, and not back to the sender",
	Needs: h.NeedControl,
}, func(s *h.S) {
	owner, other := twoInstances(s)
	s.Cc.Creds = owner
	po, _ := s.Connect()
	m := s.NewMessage("a turn on the owner")
	s.Inject(m)
	f := po.ExpectInbound("IN-001", m)
	ev, err := contract.DecodeEvent(mustJSON(f.Obj["event"]))
	if err != nil {
		s.Failf("IN-002", "an event that decodes", "%v", err)
	}
	key := contract.SessionKey(ev.Source, contract.DefaultSessionKeyOptions())
	s.Cc.Creds = other
	px, _ := s.Connect()
	s.Step("the other instance interrupts %s", key)
	reason := "conformance"
	px.Send(contract.Interrupt{SessionKey: key, Reason: &reason})
	ii := po.Expect("IN-011", "an interrupt_inbound for "+key+" on the owning instance's socket", h.OfType(contract.TypeInterruptInbound))
	s.Check(ii.Str("session_key") == key, "IN-011", "session_key "+key, "%s", ii)
	px.ExpectNone(s.Quiet(), "IN-011", "no interrupt_inbound back to the sending instance", h.OfType(contract.TypeInterruptInbound))
})

// twoInstances enrolls two gateways of one fresh tenant, each its own
// instance, fronting the first served platform.
func twoInstances(s *h.S) (owner, other h.GWCreds) {
	t := s.Run.Conn
	tenant := "conform-tenant-" + h.RandHex(4)
	enroll := func(label string) h.GWCreds {
		c, err := t.Ctl.Enroll(s.Ctx, h.EnrollSpec{GatewayID: "conform-" + label + "-" + h.RandHex(4), Tenant: tenant,
			InstanceID: "conform-inst-" + label + "-" + h.RandHex(4), Platforms: t.Info.FirstPlatforms(1)})
		if err != nil {
			s.Harness("enroll instance %s of tenant %s: %v", label, tenant, err)
		}
		s.Tr.Redact(c.Secret)
		return c
	}
	return enroll("owner"), enroll("other")
}

// mustJSON marshals a decoded JSON value back to bytes.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-007/platform-not-helloed",
	Reqs:  []string{"IN-007"},
	Text:  "an event of a platform the gateway fronts but did not hello on this connection is not delivered on it",
	Needs: h.NeedControl | h.NeedTwoPlatforms,
}, func(s *h.S) {
	ids := s.Creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts fewer than two platforms")
	}
	s.Rely(h.BasicHandshake)
	p := s.MustDial("AUTH-005", s.ValidToken())
	s.Handshake(p, ids[0])
	m := s.NewMessage("for the platform without a hello")
	m.Platform = ids[1].Platform
	s.Inject(m)
	p.ExpectNone(s.Quiet(), "IN-007", "no inbound of "+m.Platform+", which no hello on this connection named", s.IsMsg(m))
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-007/backlog-of-another-platform",
	Reqs:  []string{"IN-007"},
	Text:  "a buffered entry of a platform the gateway did not hello on the new connection is not replayed on it",
	Needs: h.NeedControl | h.NeedTwoPlatforms,
}, func(s *h.S) {
	ids := s.Creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts fewer than two platforms")
	}
	ms := bufferedBacklog(s, 1) // on the first platform
	s.Rely(h.BasicHandshake)
	p := s.MustDial("AUTH-005", s.ValidToken())
	s.Handshake(p, ids[1])
	p.ExpectNone(s.Quiet(), "IN-007", "no replay of "+ms[0].Platform+"'s entry on a connection that helloed only "+ids[1].Platform, s.IsMsg(ms[0]))
})
