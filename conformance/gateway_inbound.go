package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 6 of the contract, Inbound, interrupts and passthrough (IN-*).

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

// injectPress delivers a press on option optionID of prompt promptID, as
// the event m (its text is "/<option id>").
func injectPress(g *gwCase, m userMessage, promptID, optionID string) {
	m.Text = "/" + optionID
	var ev map[string]any
	_ = json.Unmarshal(eventJSON(m), &ev)
	ev["message_type"] = "command"
	ev["prompt_response"] = map[string]any{"prompt_id": promptID, "option_id": optionID}
	raw, _ := json.Marshal(ev)
	g.s.Logf("inject a press on %s:%s in %s/%s", promptID, optionID, m.Platform, m.ChatID)
	d, err := g.injectEvent(raw)
	if err != nil {
		g.s.Harness("inject a prompt press: %v", err)
	}
	g.s.Logf("delivery: %s %s", d.Mode, d.BufferID)
}

var _ = gatewayCase(Case{
	ID:    "IN-014/foreign-prompt-press",
	Reqs:  []string{"IN-014"},
	Text:  "a press on a prompt id the gateway did not mint starts no turn and gets no answer, while a press on its own prompt is answered",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	ask, pf := g.command("IN-014", "/prompt", contract.OpPrompt)
	a := actionOf(pf)
	own, _ := a["prompt_id"].(string)
	opts, _ := a["options"].([]any)
	if own == "" || len(opts) == 0 {
		s.Harness("the prompt frame has no prompt_id or options: %s", pf)
	}
	opt, _ := opts[len(opts)-1].(map[string]any)
	optID, _ := opt["id"].(string)
	label, _ := opt["label"].(string)
	// An id in the reference's "<owner nonce>.<8 hex>" form whose owner no
	// gateway process mints: another process's prompt.
	foreign := "conform-other." + randHex(4)
	if foreign == own {
		s.Harness("the gateway minted the suite's foreign prompt id %s", own)
	}
	elsewhere := g.newMessage("")
	s.Step("press %s on the foreign prompt %s in %s", optID, foreign, elsewhere.ChatID)
	injectPress(g, elsewhere, foreign, optID)
	s.Step("press %s on the gateway's own prompt %s", optID, own)
	press := ask
	press.MessageID = "m-" + randHex(6)
	injectPress(g, press, own, optID)
	g.f.expectFrame("IN-014", fmt.Sprintf("the answer to the press on its own prompt: a send with \"chose %s\" in %s (echo profile)", label, ask.ChatID),
		func(f gwFrame) bool {
			return outboundFor(ask.ChatID)(f) && actionOf(f)["op"] == contract.OpSend && strings.Contains(contentOf(f), "chose "+label)
		})
	g.f.expectNoFrame(s.quiet(), "IN-014", "no outbound action toward "+elsewhere.ChatID+", where only the foreign press happened", outboundFor(elsewhere.ChatID))
})
