package gatewaycases

import (
	"fmt"
	"slices"
	"strings"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 4 of the contract, Handshake and descriptor (HS-*).

var _ = h.GatewayCase(h.Case{
	ID:   "HS-003/hello-per-identity",
	Reqs: []string{"HS-003", "HS-001", "HS-002"},
	Text: "right after the socket opens the gateway sends one well-formed hello per identity, in configured order, without waiting for descriptors",
}, func(s *h.S) {
	// Not in alphabetical order, so a gateway that sorts its identities
	// shows.
	ids := []h.Identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	var hold *h.Holder
	g := s.Gateway(h.GWConfig{Identities: ids, Before: func(g *h.GWCase) { hold = g.Hold(contract.TypeDescriptor) }})
	for i, id := range ids {
		f := g.F.ExpectFrame("HS-003", fmt.Sprintf("hello %d of %d (%s) before any descriptor", i+1, len(ids), id.Platform), h.OfGWType(contract.TypeHello))
		s.Check(f.Conn == 1, "HS-003", "the hellos on the first connection", "hello on connection %d", f.Conn)
		s.Check(f.Str("platform") == id.Platform, "HS-003", fmt.Sprintf("hello %d for %q (configured order)", i+1, id.Platform), "%s", f)
		s.Check(f.Str("botId") == id.BotID, "HS-001", fmt.Sprintf("botId %q", id.BotID), "%s", f)
	}
	hold.ReleaseAll()
	g.Handshaked(1)
	g.F.ExpectNoFrame(s.Quiet(), "HS-003", "exactly one hello per identity", h.OfGWType(contract.TypeHello))
})

var _ = h.GatewayCase(h.Case{
	ID:   "HS-011/lenient-descriptor",
	Reqs: []string{"HS-011", "HS-020"},
	Text: "the gateway accepts a descriptor with unknown fields, absent optional fields and a later contract_version",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			for _, k := range contract.OptionalDescriptorFields {
				delete(d, k)
			}
			d["contract_version"] = 7
			d["x_conformance_future"] = map[string]any{"nested": []any{1, "two"}}
		})
	}})
	c := g.Handshaked(1)
	g.ProbeAck("HS-011", "after a lenient descriptor", func(b []byte) { c.Write(b, false, "") })
	s.Check(!c.IsClosed(), "HS-020", "the connection kept", "%s", h.CloseNote(c))
})

var _ = h.GatewayCase(h.Case{
	ID:   "HS-021/invalid-descriptor",
	Reqs: []string{"HS-021"},
	Text: "a descriptor missing a required field makes the gateway close 1002 \"invalid descriptor\" and reconnect",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) { delete(d, "label") })
	}})
	if !g.F.Await(s.Within(1), func() bool { c := g.F.Conn(1); return c != nil && c.IsClosed() }) {
		s.Failf("HS-021", "a close 1002 \"invalid descriptor\"", "the connection stayed open")
	}
	code, reason, by, _ := g.F.Conn(1).CloseInfo()
	s.Check(by == "gateway" && code == contract.CloseProtocolError && reason == contract.ReasonInvalidDescriptor, "HS-021",
		"the gateway closing 1002 \"invalid descriptor\"", "%s", h.CloseNote(g.F.Conn(1)))
	if !g.WaitDials(2, 2*h.KnobBackoffCap+5*time.Second) {
		s.Failf("HS-021", "a reconnect after the invalid descriptor", "no second dial")
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "HS-012/op-gating",
	Reqs:  []string{"HS-012", "HS-022"},
	Text:  "the gateway never sends an op the destination descriptor does not advertise",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend}
			d["supports_draft_streaming"] = false
		})
	}})
	g.Handshaked(1)
	m := g.NewMessage("gated")
	g.Inject(m)
	g.ExpectReply("HS-012", m)
	g.F.Await(s.Quiet(), func() bool { return false })
	for _, f := range g.F.GWFramesOf(contract.TypeOutbound) {
		a, _ := f.Obj["action"].(map[string]any)
		if a["op"] != contract.OpSend {
			s.Failf("HS-012", "only ops in supported_ops [send]", "%s", f)
		}
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "HS-012/optional-op-gating",
	Reqs:  []string{"HS-012"},
	Text:  "toward supported_ops [send] the gateway skips a reaction and streams and prompts by plain sends, even with supports_draft_streaming set",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend}
			d["supports_draft_streaming"] = true
		})
	}})
	g.Handshaked(1)
	react, stream, prompt := g.NewMessage("/react"), g.NewMessage("/stream one two"), g.NewMessage("/prompt")
	for _, m := range []h.UserMessage{react, stream, prompt} {
		g.Inject(m)
	}
	unadvertised := func() (h.GWFrame, bool) {
		for _, f := range g.Actions("") {
			if h.ActionOf(f)["op"] != contract.OpSend {
				return f, true
			}
		}
		return h.GWFrame{}, false
	}
	sent := func(chat string, parts ...string) bool {
		return slices.ContainsFunc(h.Contents(g.Actions(chat, contract.OpSend)), func(c string) bool {
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
	g.F.Await(s.Within(1), func() bool {
		if _, bad := unadvertised(); bad {
			return true
		}
		missing = missing[:0]
		if !sent(react.ChatID, react.Text) {
			missing = append(missing, "a send echoing /react in "+react.ChatID)
		}
		if !strings.Contains(h.Rejoin(h.Contents(g.Actions(stream.ChatID, contract.OpSend))), "one") ||
			!strings.Contains(h.Rejoin(h.Contents(g.Actions(stream.ChatID, contract.OpSend))), "two") {
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
		s.Failf("HS-012", "the fallbacks of the echo profile as plain sends", "missing %s; the gateway sent: %s", strings.Join(missing, ", "), g.F.Summary())
	}
	g.F.ExpectNoFrame(s.Quiet(), "HS-012", "only ops in supported_ops [send]", func(f h.GWFrame) bool {
		return f.Type == contract.TypeOutbound && h.ActionOf(f)["op"] != contract.OpSend
	})
})

var _ = h.GatewayCase(h.Case{
	ID:    "HS-024/edit-needs-supports-edit",
	Reqs:  []string{"HS-024"},
	Text:  "toward a descriptor with supports_edit false, edit being advertised in the legacy set, the gateway streams a reply by sends and never edits",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpFollowUp}
			d["supports_edit"] = false
			d["supports_draft_streaming"] = false
		})
	}})
	g.Handshaked(1)
	m := g.NewMessage("/stream one two three four")
	g.Inject(m)
	edited := func() bool { return len(g.Actions("", contract.OpEdit)) > 0 }
	s.Step("the streamed words as sends")
	done := g.F.Await(s.Within(1), func() bool {
		return edited() || strings.Contains(h.Rejoin(h.Contents(g.Actions(m.ChatID, contract.OpSend))), "one two three four")
	})
	g.F.ExpectNoFrame(s.Quiet(), "HS-024", "no edit toward supports_edit false", func(f h.GWFrame) bool {
		return f.Type == contract.TypeOutbound && h.ActionOf(f)["op"] == contract.OpEdit
	})
	if !done {
		s.Failf("HS-024", "the streamed words \"one two three four\" in sends (echo profile)", "the gateway sent: %s", g.F.Summary())
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "HS-022/draft-needs-streaming",
	Reqs:  []string{"HS-022"},
	Text:  "toward a descriptor that lists draft but has supports_draft_streaming false, the gateway streams without draft actions",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpDraft}
			d["supports_draft_streaming"] = false
		})
	}})
	g.Handshaked(1)
	last := "end" + h.RandHex(2)
	m := g.NewMessage("/stream one two " + last)
	g.Inject(m)
	g.F.Await(s.Within(1), func() bool {
		return slices.ContainsFunc(h.Contents(g.Actions(m.ChatID)), func(c string) bool { return strings.Contains(c, last) })
	})
	for _, f := range g.Actions(m.ChatID) {
		s.Check(h.ActionOf(f)["op"] != contract.OpDraft, "HS-022", "no draft without supports_draft_streaming", "%s", f)
	}
	if !slices.ContainsFunc(h.Contents(g.Actions(m.ChatID)), func(c string) bool { return strings.Contains(c, last) }) {
		s.Failf("HS-022", "the streamed words by send and edit (echo profile)", "within %s the gateway sent: %s", s.Within(1), g.F.Summary())
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "HS-022/gate-by-destination",
	Reqs:  []string{"HS-022", "HS-012"},
	Text:  "an action tagged for a platform whose descriptor lacks its op is not sent, even when the connection's default descriptor has it",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	ids := []h.Identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	g := s.Gateway(h.GWConfig{Identities: ids, Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			if d["platform"] == "discord" {
				d["supported_ops"] = []any{contract.OpSend}
			}
		})
	}})
	g.Handshaked(1)
	m := g.NewMessage("toward discord")
	m.Platform = "discord"
	g.Inject(m)
	g.ExpectReply("HS-022", m)
	g.F.ExpectNoFrame(s.Quiet(), "HS-022", "no action but send tagged for discord, whose descriptor lists only send", func(f h.GWFrame) bool {
		return f.Type == contract.TypeOutbound && f.Str("platform") == "discord" && h.ActionOf(f)["op"] != contract.OpSend
	})
	for _, f := range g.Actions(m.ChatID) {
		if f.Str("platform") == "discord" && h.ActionOf(f)["op"] != contract.OpSend {
			s.Failf("HS-022", "no action but send tagged for discord", "%s", f)
		}
	}
})
