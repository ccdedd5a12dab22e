package conformance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// Gateway cases on how a gateway shapes its actions to the descriptor:
// length limits in the descriptor's unit, optional ops and edits only where
// advertised, the metadata stamp, and prompt presses. They need the echo
// profile's /stream, /react and /prompt commands (docs/conformance-guide.md).

// actionOf returns the action of an outbound frame, or nil.
func actionOf(f gwFrame) map[string]any {
	a, _ := f.Obj["action"].(map[string]any)
	return a
}

// contentOf returns the content of an outbound frame's action.
func contentOf(f gwFrame) string {
	c, _ := actionOf(f)["content"].(string)
	return c
}

// actions returns the outbound frames the gateway sent toward chat (every
// chat when chat is ""), in order, keeping only ops when any are given.
func (g *gwCase) actions(chat string, ops ...string) []gwFrame {
	var out []gwFrame
	for _, f := range g.f.gwFramesOf(contract.TypeOutbound) {
		a := actionOf(f)
		if (chat == "" || a["chat_id"] == chat) && (len(ops) == 0 || slices.Contains(ops, fmt.Sprint(a["op"]))) {
			out = append(out, f)
		}
	}
	return out
}

// contents returns the contents of frames.
func contents(fs []gwFrame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = contentOf(f)
	}
	return out
}

// utf16Len is the length of s in UTF-16 code units, as len_unit utf16
// counts it: a character outside the Basic Multilingual Plane counts 2. An
// invalid UTF-8 byte counts 1, as the U+FFFD it becomes on the wire.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// partIndicator is the " (i/N)" a gateway may end each part of a split
// reply with, as the reference gateway does.
var partIndicator = regexp.MustCompile(` \(\d+/\d+\)$`)

// rejoin re-assembles the parts of a split reply by the echo profile's
// rule: in order, each without a trailing " (i/N)" indicator,
// concatenated.
func rejoin(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(partIndicator.ReplaceAllString(p, ""))
	}
	return b.String()
}

// injectPress delivers a press on option optionID of prompt promptID, as
// the event m (its text is "/<option id>").
func (g *gwCase) injectPress(m userMessage, promptID, optionID string) {
	m.Text = "/" + optionID
	var ev map[string]any
	_ = json.Unmarshal(eventJSON(m), &ev)
	ev["message_type"] = "command"
	ev["prompt_response"] = map[string]any{"prompt_id": promptID, "option_id": optionID}
	raw, _ := json.Marshal(ev)
	g.s.Logf("inject a press on %s:%s in %s/%s", promptID, optionID, m.Platform, m.ChatID)
	d, err := g.sim.InjectEvent(simulator.InjectRequest{GatewayID: g.gatewayID, Event: raw})
	if err != nil {
		g.s.Harness("inject a prompt press: %v", err)
	}
	g.s.Logf("delivery: %s %s", d.Mode, d.BufferID)
}

var _ = gatewayCase(Case{
	ID:    "OUT-031/utf16-limit",
	Reqs:  []string{"OUT-031"},
	Text:  "toward len_unit utf16 and max_message_length 64 every send, edit and draft content is at most 64 UTF-16 code units, astral characters counting two, and a long echo is split, not cut",
	Needs: NeedEcho,
}, func(s *S) {
	const limit = 64
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitUTF16
			d["max_message_length"] = limit
		})
	}})
	g.handshaked(1)
	long := g.newMessage(strings.Repeat("😀a", 60)) // 120 code points, 180 UTF-16 code units
	last := "end" + randHex(2)
	stream := g.newMessage("/stream " + strings.Repeat("😀bc ", 40) + last)
	g.inject(long)
	g.inject(stream)
	over := func() (gwFrame, int) {
		for _, f := range g.actions("", contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf16Len(contentOf(f)); n > limit {
				return f, n
			}
		}
		return gwFrame{}, 0
	}
	check := func() {
		if f, n := over(); n > 0 {
			s.Failf("OUT-031", fmt.Sprintf("every content at most %d UTF-16 code units (len_unit utf16)", limit), "%d UTF-16 code units in %s", n, f)
		}
	}
	s.Step("the split echo in %s and the streamed reply in %s", long.ChatID, stream.ChatID)
	done := g.f.await(s.within(1), func() bool {
		if _, n := over(); n > 0 {
			return true
		}
		return strings.Contains(rejoin(contents(g.actions(long.ChatID, contract.OpSend))), long.Text) &&
			slices.ContainsFunc(contents(g.actions(stream.ChatID)), func(c string) bool { return strings.Contains(c, last) })
	})
	check()
	if !done {
		s.Failf("OUT-031", "the echo of a 180-unit text as sends that re-join to contain it, and the streamed words (echo profile)",
			"within %s the gateway sent: %s", s.within(1), g.f.summary())
	}
	g.f.await(s.quiet(), func() bool { _, n := over(); return n > 0 })
	check()
})

var _ = gatewayCase(Case{
	ID:    "HS-012/optional-op-gating",
	Reqs:  []string{"HS-012"},
	Text:  "toward supported_ops [send] the gateway skips a reaction and streams and prompts by plain sends, even with supports_draft_streaming set",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend}
			d["supports_draft_streaming"] = true
		})
	}})
	g.handshaked(1)
	react, stream, prompt := g.newMessage("/react"), g.newMessage("/stream one two"), g.newMessage("/prompt")
	for _, m := range []userMessage{react, stream, prompt} {
		g.inject(m)
	}
	unadvertised := func() (gwFrame, bool) {
		for _, f := range g.actions("") {
			if actionOf(f)["op"] != contract.OpSend {
				return f, true
			}
		}
		return gwFrame{}, false
	}
	sent := func(chat string, parts ...string) bool {
		return slices.ContainsFunc(contents(g.actions(chat, contract.OpSend)), func(c string) bool {
			for _, p := range parts {
				if !strings.Contains(c, p) {
					return false
				}
			}
			return true
		})
	}
	var missing []string
	s.Step("the echo of /react, the streamed words and the numbered prompt")
	g.f.await(s.within(1), func() bool {
		if _, bad := unadvertised(); bad {
			return true
		}
		missing = missing[:0]
		if !sent(react.ChatID, react.Text) {
			missing = append(missing, "a send echoing /react in "+react.ChatID)
		}
		if !strings.Contains(rejoin(contents(g.actions(stream.ChatID, contract.OpSend))), "one") ||
			!strings.Contains(rejoin(contents(g.actions(stream.ChatID, contract.OpSend))), "two") {
			// Plain sends may carry the words one message each.
			missing = append(missing, "sends with the streamed words in "+stream.ChatID)
		}
		if !sent(prompt.ChatID, "1. Apple", "2. Banana") {
			missing = append(missing, "a send with the numbered options in "+prompt.ChatID)
		}
		return len(missing) == 0
	})
	if f, bad := unadvertised(); bad {
		s.Failf("HS-012", "only ops in supported_ops [send]: the reaction skipped, the stream and the prompt as sends", "%s", f)
	}
	if len(missing) > 0 {
		s.Failf("HS-012", "the fallbacks of the echo profile as plain sends", "missing %s; the gateway sent: %s", strings.Join(missing, ", "), g.f.summary())
	}
	g.f.expectNoFrame(s.quiet(), "HS-012", "only ops in supported_ops [send]", func(f gwFrame) bool {
		return f.Type == contract.TypeOutbound && actionOf(f)["op"] != contract.OpSend
	})
})

var _ = gatewayCase(Case{
	ID:    "HS-024/edit-needs-supports-edit",
	Reqs:  []string{"HS-024"},
	Text:  "toward a descriptor with supports_edit false, edit being advertised in the legacy set, the gateway streams a reply by sends and never edits",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpFollowUp}
			d["supports_edit"] = false
			d["supports_draft_streaming"] = false
		})
	}})
	g.handshaked(1)
	m := g.newMessage("/stream one two three four")
	g.inject(m)
	edited := func() bool { return len(g.actions("", contract.OpEdit)) > 0 }
	s.Step("the streamed words as sends")
	done := g.f.await(s.within(1), func() bool {
		return edited() || strings.Contains(rejoin(contents(g.actions(m.ChatID, contract.OpSend))), "one two three four")
	})
	g.f.expectNoFrame(s.quiet(), "HS-024", "no edit toward supports_edit false", func(f gwFrame) bool {
		return f.Type == contract.TypeOutbound && actionOf(f)["op"] == contract.OpEdit
	})
	if !done {
		s.Failf("HS-024", "the streamed words \"one two three four\" in sends (echo profile)", "the gateway sent: %s", g.f.summary())
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-027/metadata-stamp",
	Reqs:  []string{"OUT-027"},
	Text:  "every action toward a chat carries the scope_id and user_id of the chat's latest inbound event in metadata",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	first := g.newMessage("stamp one")
	first.ChatType, first.ScopeID, first.UserID = "group", "conform-scope-"+randHex(3), "conform-user-1"
	second := first
	second.Text, second.MessageID, second.UserID = "stamp two", "m-"+randHex(6), "conform-user-2"
	users := map[string]bool{first.UserID: true, second.UserID: true}
	stamped := func(f gwFrame, user string) {
		md, _ := actionOf(f)["metadata"].(map[string]any)
		uid, _ := md["user_id"].(string)
		if md["scope_id"] != first.ScopeID || (user != "" && uid != user) || (user == "" && !users[uid]) {
			want := "user_id " + user
			if user == "" {
				want = "the user_id of one of the chat's events"
			}
			s.Failf("OUT-027", fmt.Sprintf("metadata with scope_id %s and %s", first.ScopeID, want), "%s", f)
		}
	}
	g.inject(first)
	stamped(g.expectReply("OUT-027", first), first.UserID)
	g.inject(second)
	stamped(g.expectReply("OUT-027", second), second.UserID)
	g.f.await(s.quiet(), func() bool { return false }) // the turns' last actions
	for _, f := range g.actions(first.ChatID) {
		if actionOf(f)["op"] != contract.OpGetChatInfo { // the one op without metadata
			stamped(f, "")
		}
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-024/prompt-shape",
	Reqs:  []string{"OUT-024"},
	Text:  "a prompt action has a known prompt_kind, prompt and option ids of at most 32 characters of [A-Za-z0-9_.-], known styles, and every hp1:<prompt_id>:<option_id> within 64 bytes",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	_, pf := g.command("OUT-024", "/prompt", contract.OpPrompt)
	// The frame's hygiene check reports the same rules when it flushes;
	// checking here names the prompt's fields in this case's own verdict.
	var broken []string
	for _, v := range contract.ValidateFrame(pf.Line) {
		if v.Requirement == "OUT-024" {
			broken = append(broken, v.Field+": "+v.Message)
		}
	}
	s.Check(len(broken) == 0, "OUT-024", "prompt_kind, prompt_id, option ids and styles within the contract's alphabet, lengths and values",
		"%s in %s", strings.Join(broken, "; "), pf.Line)
})

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
	g.injectPress(elsewhere, foreign, optID)
	s.Step("press %s on the gateway's own prompt %s", optID, own)
	press := ask
	press.MessageID = "m-" + randHex(6)
	g.injectPress(press, own, optID)
	g.f.expectFrame("IN-014", fmt.Sprintf("the answer to the press on its own prompt: a send with \"chose %s\" in %s (echo profile)", label, ask.ChatID),
		func(f gwFrame) bool {
			return outboundFor(ask.ChatID)(f) && actionOf(f)["op"] == contract.OpSend && strings.Contains(contentOf(f), "chose "+label)
		})
	g.f.expectNoFrame(s.quiet(), "IN-014", "no outbound action toward "+elsewhere.ChatID+", where only the foreign press happened", outboundFor(elsewhere.ChatID))
})

var _ = gatewayCase(Case{
	ID:    "OUT-031/per-platform-limit",
	Reqs:  []string{"OUT-031", "HS-022"},
	Text:  "with two platforms of different limits, each send is shaped by the descriptor of the platform it is addressed to (the connection default when untagged), not by another platform's",
	Needs: NeedEcho,
}, func(s *S) {
	// The first identity is the connection default and has the larger
	// limit, so a gateway that shapes every action by the default
	// descriptor sends too much toward the second.
	limits := map[string]int{"telegram": 400, "discord": 40}
	ids := []identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	g := s.gateway(gwConfig{Identities: ids, Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			if n, ok := limits[fmt.Sprint(d["platform"])]; ok {
				d["max_message_length"] = n
				d["len_unit"] = contract.LenUnitChars
			}
		})
	}})
	g.handshaked(1)
	m := g.newMessage(strings.Repeat("word ", 30) + "end" + randHex(2)) // 155 characters
	m.Platform = "discord"
	g.inject(m)
	destination := func(f gwFrame) string {
		if p := f.str("platform"); p != "" {
			return p
		}
		return ids[0].Platform
	}
	over := func() (gwFrame, int, int) {
		for _, f := range g.actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			limit := limits[destination(f)]
			if n := utf8.RuneCountInString(contentOf(f)); limit > 0 && n > limit {
				return f, n, limit
			}
		}
		return gwFrame{}, 0, 0
	}
	done := g.f.await(s.within(1), func() bool {
		if _, n, _ := over(); n > 0 {
			return true
		}
		return strings.Contains(rejoin(contents(g.actions(m.ChatID, contract.OpSend))), m.Text)
	})
	if f, n, limit := over(); n > 0 {
		s.Failf("OUT-031", fmt.Sprintf("every content toward %s at most %d characters, that platform's limit", destination(f), limit),
			"%d characters in %s", n, f)
	}
	if !done {
		s.Failf("OUT-031", "the echo of a 155-character text as sends that re-join to contain it (echo profile)",
			"within %s the gateway sent: %s", s.within(1), g.f.summary())
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-031/code-block-split",
	Reqs:  []string{"OUT-031"},
	Text:  "a reply split inside a code block, fences reopened or not, keeps every part within max_message_length",
	Needs: NeedEcho,
}, func(s *S) {
	const limit = 80
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitChars
			d["max_message_length"] = limit
			d["markdown_dialect"] = "markdown"
		})
	}})
	g.handshaked(1)
	// One line too long for a part, inside a code block: the cut falls in
	// the block, and the fences a gateway adds around each part must fit.
	end := "done" + randHex(2)
	m := g.newMessage("code:\n```\n" + strings.Repeat("x", 150) + "\n```\n" + end)
	g.inject(m)
	over := func() (gwFrame, int) {
		for _, f := range g.actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf8.RuneCountInString(contentOf(f)); n > limit {
				return f, n
			}
		}
		return gwFrame{}, 0
	}
	done := g.f.await(s.within(1), func() bool {
		if _, n := over(); n > 0 {
			return true
		}
		return slices.ContainsFunc(contents(g.actions(m.ChatID, contract.OpSend)), func(c string) bool { return strings.Contains(c, end) })
	})
	if f, n := over(); n > 0 {
		s.Failf("OUT-031", fmt.Sprintf("every part at most %d characters, fences included", limit), "%d characters in %s", n, f)
	}
	if !done {
		s.Failf("OUT-031", "the split echo of a code block (echo profile)", "within %s the gateway sent: %s", s.within(1), g.f.summary())
	}
})

var _ = gatewayCase(Case{
	ID:    "HS-022/draft-needs-streaming",
	Reqs:  []string{"HS-022"},
	Text:  "toward a descriptor that lists draft but has supports_draft_streaming false, the gateway streams without draft actions",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpDraft}
			d["supports_draft_streaming"] = false
		})
	}})
	g.handshaked(1)
	last := "end" + randHex(2)
	m := g.newMessage("/stream one two " + last)
	g.inject(m)
	g.f.await(s.within(1), func() bool {
		return slices.ContainsFunc(contents(g.actions(m.ChatID)), func(c string) bool { return strings.Contains(c, last) })
	})
	for _, f := range g.actions(m.ChatID) {
		s.Check(actionOf(f)["op"] != contract.OpDraft, "HS-022", "no draft without supports_draft_streaming", "%s", f)
	}
	if !slices.ContainsFunc(contents(g.actions(m.ChatID)), func(c string) bool { return strings.Contains(c, last) }) {
		s.Failf("HS-022", "the streamed words by send and edit (echo profile)", "within %s the gateway sent: %s", s.within(1), g.f.summary())
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-031/at-the-limit",
	Reqs:  []string{"OUT-031"},
	Text:  "replies one unit under, at and over max_message_length are each sent within it",
	Needs: NeedEcho,
}, func(s *S) {
	const limit = 48
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitChars
			d["max_message_length"] = limit
			d["markdown_dialect"] = "plain"
		})
	}})
	g.handshaked(1)
	var ms []userMessage
	for n := limit - 8; n <= limit+2; n++ {
		m := g.newMessage(strings.Repeat("b", n-2) + fmt.Sprintf("%02d", n%100))
		g.inject(m)
		ms = append(ms, m)
	}
	g.f.await(s.within(1), func() bool {
		for _, m := range ms {
			if !strings.Contains(rejoin(contents(g.actions(m.ChatID, contract.OpSend))), m.Text) {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		for _, f := range g.actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf8.RuneCountInString(contentOf(f)); n > limit {
				s.Failf("OUT-031", fmt.Sprintf("every content at most %d characters", limit), "%d characters in %s", n, f)
			}
		}
		if !strings.Contains(rejoin(contents(g.actions(m.ChatID, contract.OpSend))), m.Text) {
			s.Failf("OUT-031", "the echo of a text near the limit as sends that re-join to contain it (echo profile)",
				"in %s the gateway sent: %s", m.ChatID, g.f.summary())
		}
	}
})

var _ = gatewayCase(Case{
	ID:    "HS-022/gate-by-destination",
	Reqs:  []string{"HS-022", "HS-012"},
	Text:  "an action tagged for a platform whose descriptor lacks its op is not sent, even when the connection's default descriptor has it",
	Needs: NeedEcho,
}, func(s *S) {
	ids := []identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	g := s.gateway(gwConfig{Identities: ids, Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			if d["platform"] == "discord" {
				d["supported_ops"] = []any{contract.OpSend}
			}
		})
	}})
	g.handshaked(1)
	m := g.newMessage("toward discord")
	m.Platform = "discord"
	g.inject(m)
	g.expectReply("HS-022", m)
	g.f.expectNoFrame(s.quiet(), "HS-022", "no action but send tagged for discord, whose descriptor lists only send", func(f gwFrame) bool {
		return f.Type == contract.TypeOutbound && f.str("platform") == "discord" && actionOf(f)["op"] != contract.OpSend
	})
	for _, f := range g.actions(m.ChatID) {
		if f.str("platform") == "discord" && actionOf(f)["op"] != contract.OpSend {
			s.Failf("HS-022", "no action but send tagged for discord", "%s", f)
		}
	}
})
