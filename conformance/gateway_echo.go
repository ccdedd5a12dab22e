package conformance

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// Gateway cases that need the echo profile of the gateway testee contract:
// the gateway answers each text message with a send to the same chat whose
// content contains the text, and obeys a few commands (/interrupt, /slow,
// /reject; /stream, /react and /prompt are used by gateway_shaping.go). See
// docs/conformance-guide.md.

// isReplyTo matches the echo reply to m: a send to m's chat whose content
// contains m's text.
func isReplyTo(m userMessage) func(gwFrame) bool {
	return func(g gwFrame) bool {
		if g.Type != contract.TypeOutbound {
			return false
		}
		a, _ := g.Obj["action"].(map[string]any)
		content, _ := a["content"].(string)
		return a["op"] == contract.OpSend && a["chat_id"] == m.ChatID && strings.Contains(content, m.Text)
	}
}

// command sends an echo-profile command in a new chat and waits for the
// gateway's first action of op there, failing the case under id when none
// comes.
func (g *gwCase) command(id, cmd, op string) (userMessage, gwFrame) {
	g.s.rely(basicEcho)
	m := g.newMessage(cmd)
	g.inject(m)
	f := g.f.expectFrame(id, fmt.Sprintf("a %s action in %s (echo profile: %s where %s is advertised)", op, m.ChatID, cmd, op), func(f gwFrame) bool {
		return outboundFor(m.ChatID)(f) && actionOf(f)["op"] == op
	})
	return m, f
}

// outboundFor matches any outbound frame addressed to chat.
func outboundFor(chat string) func(gwFrame) bool {
	return func(g gwFrame) bool {
		if g.Type != contract.TypeOutbound {
			return false
		}
		a, _ := g.Obj["action"].(map[string]any)
		return a["chat_id"] == chat
	}
}

// expectReply waits for the echo reply to m.
func (g *gwCase) expectReply(id string, m userMessage) gwFrame {
	g.s.rely(basicEcho)
	return g.f.expectFrame(id, fmt.Sprintf("the echo reply to %q in chat %s (echo profile)", m.Text, m.ChatID), isReplyTo(m))
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

var _ = gatewayCase(Case{
	ID:    "OUT-001/request-ids",
	Reqs:  []string{"OUT-001", "OUT-003", "OUT-004", "OUT-005", "OUT-028"},
	Text:  "concurrent outbound frames carry distinct non-empty requestIds, a known op with its required keys, string platform/botId tags and no underscore metadata",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	if _, err := g.sim.Script(simulator.ResultScript{GatewayID: g.gatewayID, Op: contract.OpSend, Delay: time.Hour}); err != nil {
		s.Harness("script delayed results: %v", err)
	}
	var ms []userMessage
	for i := 0; i < 3; i++ {
		m := g.newMessage(fmt.Sprintf("concurrent %d", i+1))
		g.inject(m)
		ms = append(ms, m)
	}
	seen := map[string]string{}
	for _, m := range ms {
		f := g.expectReply("OUT-001", m)
		rid, isStr := f.Obj["requestId"].(string)
		s.Check(isStr && rid != "", "OUT-001", "a non-empty string requestId", "%s", f)
		if other, dup := seen[rid]; dup {
			s.Failf("OUT-001", "requestIds unique among pending calls", "requestId %s on the replies in chats %s and %s, both pending", rid, other, m.ChatID)
		}
		seen[rid] = m.ChatID
		a, _ := f.Obj["action"].(map[string]any)
		s.Check(contract.IsKnownOp(fmt.Sprint(a["op"])), "OUT-003", "an op of the contract", "%v", a["op"])
		if md, ok := a["metadata"].(map[string]any); ok {
			for k := range md {
				s.Check(!strings.HasPrefix(k, "_"), "OUT-028", "no metadata key starting with _", "key %q", k)
			}
		}
		if _, has := f.Obj["botId"]; has {
			_, hasPlat := f.Obj["platform"]
			s.Check(hasPlat, "OUT-005", "botId only together with platform", "%s", f)
		}
	}
	g.clk.Advance(time.Hour)
})

var _ = gatewayCase(Case{
	ID:    "OUT-002/request-id-format",
	Reqs:  []string{"OUT-002"},
	Text:  "requestId is 32 lowercase hex characters",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("format")
	g.inject(m)
	f := g.expectReply("OUT-001", m)
	s.Check(requestIDPattern.MatchString(f.str("requestId")), "OUT-002", "32 lowercase hex", "%q", f.str("requestId"))
})

var _ = gatewayCase(Case{
	ID:    "OUT-018/results-by-request-id",
	Reqs:  []string{"OUT-018"},
	Text:  "the gateway takes results in any order and ignores results for unknown or settled requestIds",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	// Replies (send) are held for the case to answer; anything else the
	// gateway asks (typing, ...) is answered at once.
	g.f.setIntercept(func(ic *gwConn, f gwFrame) bool {
		if f.Type != contract.TypeOutbound {
			return false
		}
		if a, _ := f.Obj["action"].(map[string]any); a["op"] != contract.OpSend {
			ic.writeFrame(contract.OutboundResult{RequestID: f.str("requestId"), Result: contract.Result{Success: true}})
		}
		return true
	})
	a, b := g.newMessage("first"), g.newMessage("second")
	g.inject(a)
	g.inject(b)
	fa := g.expectReply("OUT-001", a)
	fb := g.expectReply("OUT-001", b)
	s.Step("answer out of order, plus an unknown and a repeated requestId")
	res := func(rid, mid string) contract.Frame {
		return contract.OutboundResult{RequestID: rid, Result: contract.Result{Success: true, MessageID: mid}}
	}
	c.writeFrame(res(newRequestID(), "unknown"))
	c.writeFrame(res(fb.str("requestId"), "mb"))
	c.writeFrame(res(fa.str("requestId"), "ma"))
	c.writeFrame(res(fa.str("requestId"), "ma-again"))
	g.f.setIntercept(nil)
	s.Step("the gateway keeps working")
	m := g.newMessage("third")
	g.inject(m)
	g.expectReply("OUT-018", m)
	s.Check(!c.isClosed(), "OUT-018", "the connection kept", "%s", closeNote(c))
})

var _ = gatewayCase(Case{
	ID:    "HS-012/op-gating",
	Reqs:  []string{"HS-012", "HS-022"},
	Text:  "the gateway never sends an op the destination descriptor does not advertise",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend}
			d["supports_draft_streaming"] = false
		})
	}})
	g.handshaked(1)
	m := g.newMessage("gated")
	g.inject(m)
	g.expectReply("HS-012", m)
	g.f.await(s.quiet(), func() bool { return false })
	for _, f := range g.f.gwFramesOf(contract.TypeOutbound) {
		a, _ := f.Obj["action"].(map[string]any)
		if a["op"] != contract.OpSend {
			s.Failf("HS-012", "only ops in supported_ops [send]", "%s", f)
		}
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-011/no-reroute-after-decline",
	Reqs:  []string{"OUT-011"},
	Text:  "after an egress decline the gateway does not send the declined content through another op",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("declined content")
	if _, err := g.sim.Script(simulator.ResultScript{GatewayID: g.gatewayID, ChatID: m.ChatID, EgressDeclined: true}); err != nil {
		s.Harness("script a decline: %v", err)
	}
	g.inject(m)
	g.expectReply("OUT-001", m)
	g.f.expectNoFrame(s.quiet(), "OUT-011", "no other op carrying the declined content", func(f gwFrame) bool {
		if f.Type != contract.TypeOutbound {
			return false
		}
		a, _ := f.Obj["action"].(map[string]any)
		return a["op"] != contract.OpSend && a["op"] != contract.OpTyping && strings.Contains(string(f.Line), m.Text)
	})
})

var _ = gatewayCase(Case{
	ID:    "IN-004/interrupt-frame",
	Reqs:  []string{"IN-004", "SKEY-001"},
	Text:  "an interrupt carries the chat's session key, computed by the contract's algorithm, and always the key reason",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("/interrupt")
	g.inject(m)
	f := g.f.expectFrame("IN-004", "an interrupt frame for chat "+m.ChatID+" (echo profile: /interrupt)", ofGwType(contract.TypeInterrupt))
	_, hasReason := f.Obj["reason"]
	s.Check(hasReason, "IN-004", "the key reason (string or null) always present", "%s", f)
	src := contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType, UserID: m.UserID}
	want := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	s.Check(f.str("session_key") == want, "SKEY-001", "session_key "+want, "%q", f.str("session_key"))
})

var _ = gatewayCase(Case{
	ID:    "IN-012/interrupt-one-session",
	Reqs:  []string{"IN-012"},
	Text:  "interrupt_inbound cancels the running turn of exactly that session and no other",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	a, b := g.newMessage("/slow 1500"), g.newMessage("/slow 1500")
	g.inject(a)
	g.inject(b)
	time.Sleep(200 * time.Millisecond)
	key := contract.SessionKey(contract.SessionSource{Platform: a.Platform, ChatID: a.ChatID, ChatType: a.ChatType, UserID: a.UserID}, contract.DefaultSessionKeyOptions())
	s.Step("interrupt %s", key)
	if _, err := g.sim.Interrupt(g.gatewayID, key, a.ChatID); err != nil {
		s.Harness("interrupt: %v", err)
	}
	g.f.expectFrame("IN-012", "the uninterrupted turn in "+b.ChatID+" to finish and reply", func(f gwFrame) bool {
		return outboundFor(b.ChatID)(f) && f.Obj["action"].(map[string]any)["op"] == contract.OpSend
	})
	g.f.expectNoFrame(s.quiet(), "IN-012", "no reply from the interrupted turn in "+a.ChatID, func(f gwFrame) bool {
		return outboundFor(a.ChatID)(f) && f.Obj["action"].(map[string]any)["op"] == contract.OpSend
	})
})

var _ = gatewayCase(Case{
	ID:    "IN-012/group-interrupt-one-user",
	Reqs:  []string{"IN-012"},
	Text:  "in a group chat, where each user has a session of their own, an interrupt_inbound for one user's session leaves another user's turn running",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	chat := "conform-group-" + randHex(3)
	a, b := g.newMessage("/slow 1500"), g.newMessage("/slow 1500")
	a.ChatID, b.ChatID = chat, chat
	a.ChatType, b.ChatType = "group", "group"
	a.UserID, b.UserID = "conform-user-a", "conform-user-b"
	a.Addressed, b.Addressed = true, true
	g.inject(a)
	g.inject(b)
	time.Sleep(200 * time.Millisecond)
	key := contract.SessionKey(contract.SessionSource{Platform: a.Platform, ChatID: chat, ChatType: "group", UserID: a.UserID}, contract.DefaultSessionKeyOptions())
	s.Step("interrupt user a's session %s", key)
	if _, err := g.sim.Interrupt(g.gatewayID, key, chat); err != nil {
		s.Harness("interrupt: %v", err)
	}
	g.f.expectFrame("IN-012", "user b's uninterrupted turn in "+chat+" to finish and reply", func(f gwFrame) bool {
		return outboundFor(chat)(f) && actionOf(f)["op"] == contract.OpSend
	})
})

var _ = gatewayCase(Case{
	ID:    "IN-010/events-without-id",
	Reqs:  []string{"IN-010"},
	Text:  "events without a message id are never dropped as replays: two of them in one chat are both answered",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	a, b := g.newMessage("first without an id"), g.newMessage("second without an id")
	b.ChatID = a.ChatID
	a.MessageID, b.MessageID = "", ""
	g.inject(a)
	g.expectReply("IN-010", a)
	g.inject(b)
	g.expectReply("IN-010", b)
})

var _ = gatewayCase(Case{
	ID:    "IDLE-014/no-ack-unadmitted",
	Reqs:  []string{"IDLE-014"},
	Text:  "a buffered event the gateway fails to admit is not acked, so it replays",
	Needs: NeedEcho,
}, func(s *S) {
	var okID, rejectID string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		okID = g.inject(g.newMessage("admitted")).BufferID
		rejectID = g.inject(g.newMessage("/reject")).BufferID
	}})
	g.handshaked(1)
	g.f.expectFrame("IDLE-013", "an inbound_ack for the admitted event "+okID, ackFor(okID))
	g.f.expectNoFrame(s.quiet(), "IDLE-014", "no inbound_ack for the event the gateway failed to admit ("+rejectID+", /reject)", ackFor(rejectID))
})

var _ = gatewayCase(Case{
	ID:   "IDLE-015/ack-buffered-passthrough",
	Reqs: []string{"IDLE-015"},
	Text: "the gateway acks a buffered passthrough_forward exactly once",
}, func(s *S) {
	var bid string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		fw := contract.Forward{Platform: g.ids[0].Platform, Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"type":1}`)}
		d, err := g.sim.Passthrough(g.gatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.handshaked(1)
	g.f.expectFrame("IDLE-015", "an inbound_ack for the buffered forward "+bid, ackFor(bid))
	g.f.expectNoFrame(s.quiet(), "IDLE-015", "exactly one ack", ackFor(bid))
})

var _ = gatewayCase(Case{
	ID:    "IDLE-015/no-ack-unadmitted-forward",
	Reqs:  []string{"IDLE-015"},
	Text:  "a buffered passthrough_forward whose work the gateway fails to admit (a Discord /reject slash command, echo profile) is not acked",
	Needs: NeedEcho,
}, func(s *S) {
	g, bid := s.discordForwardBuffered(`{"type":2,"id":"conform-interaction","guild_id":"conform-guild","channel_id":"conform-chat-reject","data":{"name":"reject","options":[]},"member":{"user":{"id":"conform-user"}}}`)
	g.f.expectNoFrame(s.within(0.5), "IDLE-015", "no inbound_ack for the forward the gateway failed to admit ("+bid+", /reject)", ackFor(bid))
})

var _ = gatewayCase(Case{
	ID:    "SKEY-001/group-session-key",
	Reqs:  []string{"SKEY-001"},
	Text:  "the session key of a Discord group message with a guild scope is computed by the contract's algorithm (the scope belongs to Slack keys only)",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Identities: []identity{{Platform: "discord", BotID: "conform-discord"}}})
	g.handshaked(1)
	m := g.newMessage("/interrupt")
	m.ChatType, m.ScopeID, m.Addressed = "group", "conform-guild", true
	g.inject(m)
	f := g.f.expectFrame("SKEY-001", "an interrupt frame for chat "+m.ChatID+" (echo profile: /interrupt)", ofGwType(contract.TypeInterrupt))
	src := contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType, UserID: m.UserID, ScopeID: m.ScopeID}
	want := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	s.Check(f.str("session_key") == want, "SKEY-001", "session_key "+want, "%q", f.str("session_key"))
})

var _ = gatewayCase(Case{
	ID:    "OUT-011/no-fallback-after-decline",
	Reqs:  []string{"OUT-011"},
	Text:  "a declined send_media or prompt is final: the gateway sends no fallback (a link or numbered options) through another op",
	Needs: NeedEcho,
}, func(s *S) {
	type attempt struct{ feature, cmd, op string }
	var tried []attempt
	for _, a := range []attempt{{"send_media", "/media", contract.OpSendMedia}, {"prompt", "/prompt", contract.OpPrompt}} {
		if s.featureInForce(a.feature) {
			tried = append(tried, a)
		}
	}
	if len(tried) == 0 {
		s.NotApplicable("neither send_media nor prompt is declared (--feature)")
	}
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	for _, a := range tried {
		m := g.newMessage(a.cmd)
		if _, err := g.sim.Script(simulator.ResultScript{GatewayID: g.gatewayID, ChatID: m.ChatID, Op: a.op, EgressDeclined: true}); err != nil {
			s.Harness("script a decline: %v", err)
		}
		g.inject(m)
		g.f.expectFrame("OUT-011", fmt.Sprintf("a %s action in %s (echo profile: %s)", a.op, m.ChatID, a.cmd), func(f gwFrame) bool {
			return outboundFor(m.ChatID)(f) && actionOf(f)["op"] == a.op
		})
		g.f.expectNoFrame(s.quiet(), "OUT-011", "no fallback send after the declined "+a.op, func(f gwFrame) bool {
			return outboundFor(m.ChatID)(f) && actionOf(f)["op"] == contract.OpSend
		})
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-028/no-internal-metadata",
	Reqs:  []string{"OUT-028"},
	Text:  "replies to a thread message in a group carry no metadata key that starts with _",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("in a thread")
	m.ChatType, m.ThreadID, m.ScopeID, m.Addressed = "group", "conform-thread-"+randHex(3), "conform-scope", true
	g.inject(m)
	f := g.expectReply("OUT-028", m)
	md, _ := actionOf(f)["metadata"].(map[string]any)
	for k := range md {
		s.Check(!strings.HasPrefix(k, "_"), "OUT-028", "no metadata key starting with _", "key %q in %s", k, f)
	}
})

var _ = gatewayCase(Case{
	ID:    "IN-010/replay-key",
	Reqs:  []string{"IN-010"},
	Text:  "the replay key is platform, chat and message id: the same message id in another chat is a new event, and a replay after a hundred later events is still dropped",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	a := g.newMessage("first chat")
	b := g.newMessage("second chat, same message id")
	b.MessageID = a.MessageID
	g.inject(a)
	g.expectReply("IN-010", a)
	g.inject(b)
	g.expectReply("IN-010", b)
	s.Step("a hundred later events, then a replay of the first")
	// One at a time, each answered before the next: a gateway may bound
	// its concurrent turns.
	for i := 0; i < 100; i++ {
		m := g.newMessage(fmt.Sprintf("filler %d", i))
		g.inject(m)
		g.expectReply("IN-010", m)
	}
	replay := "conform-" + randHex(4)
	c.write(rawInbound(a, replay), false, "")
	g.f.expectFrame("IDLE-013", "an inbound_ack for the replay "+replay, ackFor(replay))
	// The first reply was taken above: any other is a second turn.
	g.f.expectNoFrame(s.quiet(), "IN-010", "no second reply to "+a.MessageID+" (a replay within the last 512 events)", isReplyTo(a))
})

var _ = gatewayCase(Case{
	ID:   "IDLE-015/press-forward-acked",
	Reqs: []string{"IDLE-015"},
	Text: "a buffered passthrough_forward of a Discord button press is acked once admitted, a press on a prompt of another process included",
}, func(s *S) {
	g, bid := s.discordForwardBuffered(`{"type":3,"id":"conform-press","guild_id":"conform-guild","channel_id":"conform-chat-press","data":{"custom_id":"hp1:conform-other.` + randHex(4) + `:yes"},"message":{"id":"conform-msg"},"member":{"user":{"id":"conform-user"}}}`)
	g.f.expectFrame("IDLE-015", "an inbound_ack for the buffered press forward "+bid, ackFor(bid))
	g.f.expectNoFrame(s.quiet(), "IDLE-015", "exactly one ack", ackFor(bid))
})

// discordForwardBuffered buffers a Discord interaction (body) as a
// passthrough_forward before a gateway fronting discord starts, waits for
// its handshake and returns it with the forward's buffer id.
func (s *S) discordForwardBuffered(body string) (*gwCase, string) {
	var bid string
	discord := []identity{{Platform: "discord", BotID: "conform-discord"}}
	g := s.gateway(gwConfig{Identities: discord, Before: func(g *gwCase) {
		fw := contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(body)}
		d, err := g.sim.Passthrough(g.gatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.handshaked(1)
	return g, bid
}
