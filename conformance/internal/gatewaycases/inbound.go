package gatewaycases

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 6 of the contract, Inbound, interrupts and passthrough (IN-*).

var _ = h.GatewayCase(h.Case{
	ID:    "IN-004/interrupt-frame",
	Reqs:  []string{"IN-004", "SKEY-001"},
	Text:  "an interrupt carries the chat's session key, computed by the contract's algorithm, and always the key reason",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("/interrupt")
	g.Inject(m)
	f := g.F.ExpectFrame("IN-004", "an interrupt frame for chat "+m.ChatID+" (echo profile: /interrupt)", h.OfGWType(contract.TypeInterrupt))
	_, hasReason := f.Obj["reason"]
	s.Check(hasReason, "IN-004", "the key reason (string or null) always present", "%s", f)
	src := contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType, UserID: m.UserID}
	want := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	s.Check(f.Str("session_key") == want, "SKEY-001", "session_key "+want, "%q", f.Str("session_key"))
})

var _ = h.GatewayCase(h.Case{
	ID:    "IN-012/interrupt-one-session",
	Reqs:  []string{"IN-012"},
	Text:  "interrupt_inbound cancels the running turn of exactly that session and no other",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	a, b := g.NewMessage("/slow 1500"), g.NewMessage("/slow 1500")
	g.Inject(a)
	g.Inject(b)
	time.Sleep(200 * time.Millisecond)
	key := contract.SessionKey(contract.SessionSource{Platform: a.Platform, ChatID: a.ChatID, ChatType: a.ChatType, UserID: a.UserID}, contract.DefaultSessionKeyOptions())
	s.Step("interrupt %s", key)
	if _, err := g.Sim.Interrupt(g.GatewayID, key, a.ChatID); err != nil {
		s.Harness("interrupt: %v", err)
	}
	g.F.ExpectFrame("IN-012", "the uninterrupted turn in "+b.ChatID+" to finish and reply", func(f h.GWFrame) bool {
		return h.OutboundFor(b.ChatID)(f) && f.Obj["action"].(map[string]any)["op"] == contract.OpSend
	})
	g.F.ExpectNoFrame(s.Quiet(), "IN-012", "no reply from the interrupted turn in "+a.ChatID, func(f h.GWFrame) bool {
		return h.OutboundFor(a.ChatID)(f) && f.Obj["action"].(map[string]any)["op"] == contract.OpSend
	})
})

var _ = h.GatewayCase(h.Case{
	ID:    "IN-012/group-interrupt-one-user",
	Reqs:  []string{"IN-012"},
	Text:  "in a group chat, where each user has a session of their own, an interrupt_inbound for one user's session leaves another user's turn running",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	chat := "conform-group-" + h.RandHex(3)
	a, b := g.NewMessage("/slow 1500"), g.NewMessage("/slow 1500")
	a.ChatID, b.ChatID = chat, chat
	a.ChatType, b.ChatType = "group", "group"
	a.UserID, b.UserID = "conform-user-a", "conform-user-b"
	a.Addressed, b.Addressed = true, true
	g.Inject(a)
	g.Inject(b)
	time.Sleep(200 * time.Millisecond)
	key := contract.SessionKey(contract.SessionSource{Platform: a.Platform, ChatID: chat, ChatType: "group", UserID: a.UserID}, contract.DefaultSessionKeyOptions())
	s.Step("interrupt user a's session %s", key)
	if _, err := g.Sim.Interrupt(g.GatewayID, key, chat); err != nil {
		s.Harness("interrupt: %v", err)
	}
	g.F.ExpectFrame("IN-012", "user b's uninterrupted turn in "+chat+" to finish and reply", func(f h.GWFrame) bool {
		return h.OutboundFor(chat)(f) && h.ActionOf(f)["op"] == contract.OpSend
	})
})

var _ = h.GatewayCase(h.Case{
	ID:    "IN-010/events-without-id",
	Reqs:  []string{"IN-010"},
	Text:  "events without a message id are never dropped as replays: two of them in one chat are both answered",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	a, b := g.NewMessage("first without an id"), g.NewMessage("second without an id")
	b.ChatID = a.ChatID
	a.MessageID, b.MessageID = "", ""
	g.Inject(a)
	g.ExpectReply("IN-010", a)
	g.Inject(b)
	g.ExpectReply("IN-010", b)
})

var _ = h.GatewayCase(h.Case{
	ID:    "IN-010/replay-key",
	Reqs:  []string{"IN-010"},
	Text:  "the replay key is platform, chat and message id: the same message id in another chat is a new event, and a replay after a hundred later events is still dropped",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	a := g.NewMessage("first chat")
	b := g.NewMessage("second chat, same message id")
	b.MessageID = a.MessageID
	g.Inject(a)
	g.ExpectReply("IN-010", a)
	g.Inject(b)
	g.ExpectReply("IN-010", b)
	s.Step("a hundred later events, then a replay of the first")
	// One at a time, each answered before the next: a gateway may bound
	// its concurrent turns.
	for i := 0; i < 100; i++ {
		m := g.NewMessage(fmt.Sprintf("filler %d", i))
		g.Inject(m)
		g.ExpectReply("IN-010", m)
	}
	replay := "conform-" + h.RandHex(4)
	c.Write(h.RawInbound(a, replay), false, "")
	g.F.ExpectFrame("IDLE-013", "an inbound_ack for the replay "+replay, h.AckFor(replay))
	// The first reply was taken above: any other is a second turn.
	g.F.ExpectNoFrame(s.Quiet(), "IN-010", "no second reply to "+a.MessageID+" (a replay within the last 512 events)", h.IsReplyTo(a))
})

// injectPress delivers a press on option optionID of prompt promptID, as
// the event m (its text is "/<option id>").
func injectPress(g *h.GWCase, m h.UserMessage, promptID, optionID string) {
	m.Text = "/" + optionID
	var ev map[string]any
	_ = json.Unmarshal(h.EventJSON(m), &ev)
	ev["message_type"] = "command"
	ev["prompt_response"] = map[string]any{"prompt_id": promptID, "option_id": optionID}
	raw, _ := json.Marshal(ev)
	g.S.Logf("inject a press on %s:%s in %s/%s", promptID, optionID, m.Platform, m.ChatID)
	d, err := g.InjectEvent(raw)
	if err != nil {
		g.S.Harness("inject a prompt press: %v", err)
	}
	g.S.Logf("delivery: %s %s", d.Mode, d.BufferID)
}

var _ = h.GatewayCase(h.Case{
	ID:    "IN-014/foreign-prompt-press",
	Reqs:  []string{"IN-014"},
	Text:  "a press on a prompt id the gateway did not mint starts no turn and gets no answer, while a press on its own prompt is answered",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	ask, pf := g.Command("IN-014", "/prompt", contract.OpPrompt)
	a := h.ActionOf(pf)
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
	foreign := "conform-other." + h.RandHex(4)
	if foreign == own {
		s.Harness("the gateway minted the suite's foreign prompt id %s", own)
	}
	elsewhere := g.NewMessage("")
	s.Step("press %s on the foreign prompt %s in %s", optID, foreign, elsewhere.ChatID)
	injectPress(g, elsewhere, foreign, optID)
	s.Step("press %s on the gateway's own prompt %s", optID, own)
	press := ask
	press.MessageID = "m-" + h.RandHex(6)
	injectPress(g, press, own, optID)
	g.F.ExpectFrame("IN-014", fmt.Sprintf("the answer to the press on its own prompt: a send with \"chose %s\" in %s (echo profile)", label, ask.ChatID),
		func(f h.GWFrame) bool {
			return h.OutboundFor(ask.ChatID)(f) && h.ActionOf(f)["op"] == contract.OpSend && strings.Contains(h.ContentOf(f), "chose "+label)
		})
	g.F.ExpectNoFrame(s.Quiet(), "IN-014", "no outbound action toward "+elsewhere.ChatID+", where only the foreign press happened", h.OutboundFor(elsewhere.ChatID))
})
