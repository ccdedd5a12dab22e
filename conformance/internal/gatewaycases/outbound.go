package gatewaycases

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 5 of the contract, Outbound actions and results (OUT-*).

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-001/request-ids",
	Reqs:  []string{"OUT-001", "OUT-003", "OUT-004", "OUT-005", "OUT-028"},
	Text:  "concurrent outbound frames carry distinct non-empty requestIds, a known op with its required keys, string platform/botId tags and no underscore metadata",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	if err := g.Script(h.ResultScript{Op: contract.OpSend, Delay: time.Hour}); err != nil {
		s.Harness("script delayed results: %v", err)
	}
	var ms []h.UserMessage
	for i := 0; i < 3; i++ {
		m := g.NewMessage(fmt.Sprintf("concurrent %d", i+1))
		g.Inject(m)
		ms = append(ms, m)
	}
	seen := map[string]string{}
	for _, m := range ms {
		f := g.ExpectReply("OUT-001", m)
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
	g.Clk.Advance(time.Hour)
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-002/request-id-format",
	Reqs:  []string{"OUT-002"},
	Text:  "requestId is 32 lowercase hex characters",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("format")
	g.Inject(m)
	f := g.ExpectReply("OUT-001", m)
	s.Check(requestIDPattern.MatchString(f.Str("requestId")), "OUT-002", "32 lowercase hex", "%q", f.Str("requestId"))
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-018/results-by-request-id",
	Reqs:  []string{"OUT-018"},
	Text:  "the gateway takes results in any order and ignores results for unknown or settled requestIds",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	// Replies (send) are held for the case to answer; anything else the
	// gateway asks (typing, ...) is answered at once.
	g.F.SetIntercept(func(ic *h.GWConn, f h.GWFrame) bool {
		if f.Type != contract.TypeOutbound {
			return false
		}
		if a, _ := f.Obj["action"].(map[string]any); a["op"] != contract.OpSend {
			ic.WriteFrame(contract.OutboundResult{RequestID: f.Str("requestId"), Result: contract.Result{Success: true}})
		}
		return true
	})
	a, b := g.NewMessage("first"), g.NewMessage("second")
	g.Inject(a)
	g.Inject(b)
	fa := g.ExpectReply("OUT-001", a)
	fb := g.ExpectReply("OUT-001", b)
	s.Step("answer out of order, plus an unknown and a repeated requestId")
	res := func(rid, mid string) contract.Frame {
		return contract.OutboundResult{RequestID: rid, Result: contract.Result{Success: true, MessageID: mid}}
	}
	c.WriteFrame(res(h.NewRequestID(), "unknown"))
	c.WriteFrame(res(fb.Str("requestId"), "mb"))
	c.WriteFrame(res(fa.Str("requestId"), "ma"))
	c.WriteFrame(res(fa.Str("requestId"), "ma-again"))
	g.F.SetIntercept(nil)
	s.Step("the gateway keeps working")
	m := g.NewMessage("third")
	g.Inject(m)
	g.ExpectReply("OUT-018", m)
	s.Check(!c.IsClosed(), "OUT-018", "the connection kept", "%s", h.CloseNote(c))
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-011/no-reroute-after-decline",
	Reqs:  []string{"OUT-011"},
	Text:  "after an egress decline the gateway does not send the declined content through another op",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("declined content")
	if err := g.Script(h.ResultScript{ChatID: m.ChatID, EgressDeclined: true}); err != nil {
		s.Harness("script a decline: %v", err)
	}
	g.Inject(m)
	g.ExpectReply("OUT-001", m)
	g.F.ExpectNoFrame(s.Quiet(), "OUT-011", "no other op carrying the declined content", func(f h.GWFrame) bool {
		if f.Type != contract.TypeOutbound {
			return false
		}
		a, _ := f.Obj["action"].(map[string]any)
		return a["op"] != contract.OpSend && a["op"] != contract.OpTyping && strings.Contains(string(f.Line), m.Text)
	})
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-011/no-fallback-after-decline",
	Reqs:  []string{"OUT-011"},
	Text:  "a declined send_media or prompt is final: the gateway sends no fallback (a link or numbered options) through another op",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	type attempt struct{ feature, cmd, op string }
	var tried []attempt
	for _, a := range []attempt{{"send_media", "/media", contract.OpSendMedia}, {"prompt", "/prompt", contract.OpPrompt}} {
		if s.FeatureInForce(a.feature) {
			tried = append(tried, a)
		}
	}
	if len(tried) == 0 {
		s.NotApplicable("neither send_media nor prompt is declared (--feature)")
	}
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	for _, a := range tried {
		m := g.NewMessage(a.cmd)
		if err := g.Script(h.ResultScript{ChatID: m.ChatID, Op: a.op, EgressDeclined: true}); err != nil {
			s.Harness("script a decline: %v", err)
		}
		g.Inject(m)
		g.F.ExpectFrame("OUT-011", fmt.Sprintf("a %s action in %s (echo profile: %s)", a.op, m.ChatID, a.cmd), func(f h.GWFrame) bool {
			return h.OutboundFor(m.ChatID)(f) && h.ActionOf(f)["op"] == a.op
		})
		g.F.ExpectNoFrame(s.Quiet(), "OUT-011", "no fallback send after the declined "+a.op, func(f h.GWFrame) bool {
			return h.OutboundFor(m.ChatID)(f) && h.ActionOf(f)["op"] == contract.OpSend
		})
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-028/no-internal-metadata",
	Reqs:  []string{"OUT-028"},
	Text:  "replies to a thread message in a group carry no metadata key that starts with _",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("in a thread")
	m.ChatType, m.ThreadID, m.ScopeID, m.Addressed = "group", "conform-thread-"+h.RandHex(3), "conform-scope", true
	g.Inject(m)
	f := g.ExpectReply("OUT-028", m)
	md, _ := h.ActionOf(f)["metadata"].(map[string]any)
	for k := range md {
		s.Check(!strings.HasPrefix(k, "_"), "OUT-028", "no metadata key starting with _", "key %q in %s", k, f)
	}
})

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

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-031/utf16-limit",
	Reqs:  []string{"OUT-031"},
	Text:  "toward len_unit utf16 and max_message_length 64 every send, edit and draft content is at most 64 UTF-16 code units, astral characters counting two, and a long echo is split, not cut",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	const limit = 64
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitUTF16
			d["max_message_length"] = limit
		})
	}})
	g.Handshaked(1)
	long := g.NewMessage(strings.Repeat("😀a", 60)) // 120 code points, 180 UTF-16 code units
	last := "end" + h.RandHex(2)
	stream := g.NewMessage("/stream " + strings.Repeat("😀bc ", 40) + last)
	g.Inject(long)
	g.Inject(stream)
	over := func() (h.GWFrame, int) {
		for _, f := range g.Actions("", contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf16Len(h.ContentOf(f)); n > limit {
				return f, n
			}
		}
		return h.GWFrame{}, 0
	}
	check := func() {
		if f, n := over(); n > 0 {
			s.Failf("OUT-031", fmt.Sprintf("every content at most %d UTF-16 code units (len_unit utf16)", limit), "%d UTF-16 code units in %s", n, f)
		}
	}
	s.Step("the split echo in %s and the streamed reply in %s", long.ChatID, stream.ChatID)
	done := g.F.Await(s.Within(1), func() bool {
		if _, n := over(); n > 0 {
			return true
		}
		return strings.Contains(h.Rejoin(h.Contents(g.Actions(long.ChatID, contract.OpSend))), long.Text) &&
			slices.ContainsFunc(h.Contents(g.Actions(stream.ChatID)), func(c string) bool { return strings.Contains(c, last) })
	})
	check()
	if !done {
		s.Failf("OUT-031", "the echo of a 180-unit text as sends that re-join to contain it, and the streamed words (echo profile)",
			"within %s the gateway sent: %s", s.Within(1), g.F.Summary())
	}
	g.F.Await(s.Quiet(), func() bool { _, n := over(); return n > 0 })
	check()
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-027/metadata-stamp",
	Reqs:  []string{"OUT-027"},
	Text:  "every action toward a chat carries the scope_id and user_id of the chat's latest inbound event in metadata",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	first := g.NewMessage("stamp one")
	first.ChatType, first.ScopeID, first.UserID = "group", "conform-scope-"+h.RandHex(3), "conform-user-1"
	second := first
	second.Text, second.MessageID, second.UserID = "stamp two", "m-"+h.RandHex(6), "conform-user-2"
	users := map[string]bool{first.UserID: true, second.UserID: true}
	stamped := func(f h.GWFrame, user string) {
		md, _ := h.ActionOf(f)["metadata"].(map[string]any)
		uid, _ := md["user_id"].(string)
		if md["scope_id"] != first.ScopeID || (user != "" && uid != user) || (user == "" && !users[uid]) {
			want := "user_id " + user
			if user == "" {
				want = "the user_id of one of the chat's events"
			}
			s.Failf("OUT-027", fmt.Sprintf("metadata with scope_id %s and %s", first.ScopeID, want), "%s", f)
		}
	}
	g.Inject(first)
	stamped(g.ExpectReply("OUT-027", first), first.UserID)
	g.Inject(second)
	stamped(g.ExpectReply("OUT-027", second), second.UserID)
	g.F.Await(s.Quiet(), func() bool { return false }) // the turns' last actions
	for _, f := range g.Actions(first.ChatID) {
		if h.ActionOf(f)["op"] != contract.OpGetChatInfo { // the one op without metadata
			stamped(f, "")
		}
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-024/prompt-shape",
	Reqs:  []string{"OUT-024"},
	Text:  "a prompt action has a known prompt_kind, prompt and option ids of at most 32 characters of [A-Za-z0-9_.-], known styles, and every hp1:<prompt_id>:<option_id> within 64 bytes",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	_, pf := g.Command("OUT-024", "/prompt", contract.OpPrompt)
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

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-031/per-platform-limit",
	Reqs:  []string{"OUT-031", "HS-022"},
	Text:  "with two platforms of different limits, each send is shaped by the descriptor of the platform it is addressed to (the connection default when untagged), not by another platform's",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	// The first identity is the connection default and has the larger
	// limit, so a gateway that shapes every action by the default
	// descriptor sends too much toward the second.
	limits := map[string]int{"telegram": 400, "discord": 40}
	ids := []h.Identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	g := s.Gateway(h.GWConfig{Identities: ids, Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			if n, ok := limits[fmt.Sprint(d["platform"])]; ok {
				d["max_message_length"] = n
				d["len_unit"] = contract.LenUnitChars
			}
		})
	}})
	g.Handshaked(1)
	m := g.NewMessage(strings.Repeat("word ", 30) + "end" + h.RandHex(2)) // 155 characters
	m.Platform = "discord"
	g.Inject(m)
	destination := func(f h.GWFrame) string {
		if p := f.Str("platform"); p != "" {
			return p
		}
		return ids[0].Platform
	}
	over := func() (h.GWFrame, int, int) {
		for _, f := range g.Actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			limit := limits[destination(f)]
			if n := utf8.RuneCountInString(h.ContentOf(f)); limit > 0 && n > limit {
				return f, n, limit
			}
		}
		return h.GWFrame{}, 0, 0
	}
	done := g.F.Await(s.Within(1), func() bool {
		if _, n, _ := over(); n > 0 {
			return true
		}
		return strings.Contains(h.Rejoin(h.Contents(g.Actions(m.ChatID, contract.OpSend))), m.Text)
	})
	if f, n, limit := over(); n > 0 {
		s.Failf("OUT-031", fmt.Sprintf("every content toward %s at most %d characters, that platform's limit", destination(f), limit),
			"%d characters in %s", n, f)
	}
	if !done {
		s.Failf("OUT-031", "the echo of a 155-character text as sends that re-join to contain it (echo profile)",
			"within %s the gateway sent: %s", s.Within(1), g.F.Summary())
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-031/code-block-split",
	Reqs:  []string{"OUT-031"},
	Text:  "a reply split inside a code block, fences reopened or not, keeps every part within max_message_length",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	const limit = 80
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitChars
			d["max_message_length"] = limit
			d["markdown_dialect"] = "markdown"
		})
	}})
	g.Handshaked(1)
	// One line too long for a part, inside a code block: the cut falls in
	// the block, and the fences a gateway adds around each part must fit.
	end := "done" + h.RandHex(2)
	m := g.NewMessage("code:\n```\n" + strings.Repeat("x", 150) + "\n```\n" + end)
	g.Inject(m)
	over := func() (h.GWFrame, int) {
		for _, f := range g.Actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf8.RuneCountInString(h.ContentOf(f)); n > limit {
				return f, n
			}
		}
		return h.GWFrame{}, 0
	}
	done := g.F.Await(s.Within(1), func() bool {
		if _, n := over(); n > 0 {
			return true
		}
		return slices.ContainsFunc(h.Contents(g.Actions(m.ChatID, contract.OpSend)), func(c string) bool { return strings.Contains(c, end) })
	})
	if f, n := over(); n > 0 {
		s.Failf("OUT-031", fmt.Sprintf("every part at most %d characters, fences included", limit), "%d characters in %s", n, f)
	}
	if !done {
		s.Failf("OUT-031", "the split echo of a code block (echo profile)", "within %s the gateway sent: %s", s.Within(1), g.F.Summary())
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-031/at-the-limit",
	Reqs:  []string{"OUT-031"},
	Text:  "replies one unit under, at and over max_message_length are each sent within it",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	const limit = 48
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["len_unit"] = contract.LenUnitChars
			d["max_message_length"] = limit
			d["markdown_dialect"] = "plain"
		})
	}})
	g.Handshaked(1)
	var ms []h.UserMessage
	for n := limit - 8; n <= limit+2; n++ {
		m := g.NewMessage(strings.Repeat("b", n-2) + fmt.Sprintf("%02d", n%100))
		g.Inject(m)
		ms = append(ms, m)
	}
	g.F.Await(s.Within(1), func() bool {
		for _, m := range ms {
			if !strings.Contains(h.Rejoin(h.Contents(g.Actions(m.ChatID, contract.OpSend))), m.Text) {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		for _, f := range g.Actions(m.ChatID, contract.OpSend, contract.OpEdit, contract.OpDraft) {
			if n := utf8.RuneCountInString(h.ContentOf(f)); n > limit {
				s.Failf("OUT-031", fmt.Sprintf("every content at most %d characters", limit), "%d characters in %s", n, f)
			}
		}
		if !strings.Contains(h.Rejoin(h.Contents(g.Actions(m.ChatID, contract.OpSend))), m.Text) {
			s.Failf("OUT-031", "the echo of a text near the limit as sends that re-join to contain it (echo profile)",
				"in %s the gateway sent: %s", m.ChatID, g.F.Summary())
		}
	}
})

// mediaBytes reads an item back from the case's connector as the case's
// gateway; ok is false when the connector has no such item for it.
func mediaBytes(g *h.GWCase, id string) (data []byte, ok bool) {
	req, _ := http.NewRequest(http.MethodGet, g.Sim.URL()+"/relay/media/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+contract.MintTokenTTL(g.GatewayID, g.Secret, time.Now(), time.Minute))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.S.Harness("read media back from the suite's connector: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, contract.MediaMaxBytes+1))
	if err != nil {
		g.S.Harness("read media back from the suite's connector: %v", err)
	}
	return b, resp.StatusCode == http.StatusOK
}

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-023/send-media",
	Reqs:  []string{"OUT-023"},
	Text:  "a send_media action names a known media_kind and, as source_url, the connector's re-host of the bytes the gateway uploaded",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	_, sm := g.Command("OUT-023", "/media", contract.OpSendMedia)
	a := h.ActionOf(sm)
	kind, _ := a["media_kind"].(string)
	s.Check(slices.Contains(contract.MediaKinds, kind), "OUT-023", "media_kind image, voice, audio, video or document", "%q", kind)
	src, _ := a["source_url"].(string)
	prefix := g.F.URL() + "/relay/media/"
	if !strings.HasPrefix(src, prefix) {
		s.Failf("OUT-023", "source_url on the connector's re-host, "+prefix+"<id> (echo profile: the file /media uploaded)", "%q", src)
	}
	ups := g.F.Requests(h.IsMediaUpload)
	if len(ups) == 0 {
		s.Failf("OUT-023", "a send_media of uploaded bytes", "no upload to /relay/media before it")
	}
	got, ok := mediaBytes(g, strings.TrimPrefix(src, prefix))
	s.Check(ok && bytes.Equal(got, ups[len(ups)-1].Body), "OUT-023", "source_url naming the item the gateway uploaded",
		"the connector has %s under that id", map[bool]string{true: fmt.Sprintf("%d other bytes", len(got)), false: "nothing"}[ok])
})

// The table of pending calls: requestIds stay distinct while identical
// actions are pending, and a result for a settled requestId resolves
// nothing.

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-001/identical-pending-actions",
	Reqs:  []string{"OUT-001"},
	Text:  "identical actions pending at once (the same words twice in one chat, and in two threads of one group chat) carry distinct requestIds",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	// Two messages of one DM are one session, which a gateway may run one
	// turn at a time; two threads of one group chat are two sessions under
	// any session options, so their turns may run at once. Either way the
	// same user's same words make the actions they cause identical or
	// nearly so (a typing indicator for the chat, say).
	dm := g.NewMessage("the same words")
	group := "conform-group-" + h.RandHex(3)
	ms := []h.UserMessage{dm, dm}
	ms[1].MessageID = "m-" + h.RandHex(6)
	for i := 1; i <= 2; i++ {
		m := g.NewMessage("the same words")
		m.ChatID, m.ChatType, m.ScopeID, m.Addressed = group, "group", "conform-scope", true
		m.ThreadID = fmt.Sprintf("conform-thread-%d-%s", i, h.RandHex(2))
		ms = append(ms, m)
	}
	// Every action in the two chats stays pending: the case answers none
	// until it has judged the requestIds.
	inChats := func(f h.GWFrame) bool { return h.OutboundFor(dm.ChatID)(f) || h.OutboundFor(group)(f) }
	g.F.SetIntercept(func(_ *h.GWConn, f h.GWFrame) bool { return inChats(f) })
	for _, m := range ms {
		g.Inject(m)
	}
	pending := func() []h.GWFrame {
		var out []h.GWFrame
		for _, f := range g.F.GWFramesOf(contract.TypeOutbound) {
			if inChats(f) {
				out = append(out, f)
			}
		}
		return out
	}
	// The case judges once two identical actions (the same action object
	// for the same platform, the requestId aside) are pending, or, when
	// none come, with what is pending at the end of the wait. Waiting on
	// a count instead judged too early on a loaded machine: one thread's
	// turn could fill it before the other thread's twin arrived.
	identicalPair := func() bool {
		seen := map[string]bool{}
		for _, f := range pending() {
			k, _ := json.Marshal(h.ActionOf(f))
			key := f.Str("platform") + "\x00" + string(k)
			if seen[key] {
				return true
			}
			seen[key] = true
		}
		return false
	}
	if !g.F.Await(s.Within(0.5), identicalPair) {
		s.Observe("no two identical actions pending at once in %s and %s (%d pending): the gateway runs one turn at a time or makes each action differ", dm.ChatID, group, len(pending()))
	}
	held := pending()
	seen := map[string]h.GWFrame{}
	for _, f := range held {
		rid := f.Str("requestId")
		if other, dup := seen[rid]; dup {
			s.Failf("OUT-001", "requestIds unique among pending calls", "requestId %q on both %s and %s, pending at once", rid, other, f)
		}
		seen[rid] = f
	}
	s.Step("answer the held actions")
	g.F.SetIntercept(nil)
	for _, f := range held {
		c.WriteFrame(contract.OutboundResult{RequestID: f.Str("requestId"), Result: contract.Result{Success: true, MessageID: "m-" + h.RandHex(4)}})
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-018/settled-id-resolves-nothing",
	Reqs:  []string{"OUT-018"},
	Text:  "a second result for a settled requestId is ignored: a streamed reply's edits name the message id of its own send's result, never one a stale or another call's result carried",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	// Streaming by send and edits (no drafts) makes the gateway show which
	// result it took for its send: the edits name that result's message
	// id.
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.RewriteDescriptors(func(d map[string]any) {
			d["supported_ops"] = []any{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpReact}
			d["supports_edit"] = true
			d["supports_draft_streaming"] = false
		})
	}})
	c := g.Handshaked(1)
	// Sends are held for the case to answer; anything else (typing,
	// edits, reactions) is answered at once.
	g.F.SetIntercept(func(ic *h.GWConn, f h.GWFrame) bool {
		if f.Type != contract.TypeOutbound {
			return false
		}
		if h.ActionOf(f)["op"] != contract.OpSend {
			ic.WriteFrame(contract.OutboundResult{RequestID: f.Str("requestId"), Result: contract.Result{Success: true, MessageID: "m-" + h.RandHex(4)}})
		}
		return true
	})
	prev := g.NewMessage("settles first")
	g.Inject(prev)
	settled := g.ExpectReply("OUT-001", prev)
	c.WriteFrame(contract.OutboundResult{RequestID: settled.Str("requestId"), Result: contract.Result{Success: true, MessageID: "m-" + h.RandHex(4)}})
	// A gateway that keeps settled calls in its table shows it only when
	// the stale entry now serves the held call (a pooled call object,
	// say), which is up to its scheduler: several rounds give it several
	// chances.
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		m := g.NewMessage("/stream one two three")
		g.Inject(m)
		send := g.F.ExpectFrame("OUT-001", "the streamed reply's send in "+m.ChatID+" (echo profile: /stream)", func(f h.GWFrame) bool {
			return h.OutboundFor(m.ChatID)(f) && h.ActionOf(f)["op"] == contract.OpSend
		})
		// With a reused requestId the stale result is the send's own: that
		// breaks OUT-001, which this case does not judge.
		s.Check(send.Str("requestId") != settled.Str("requestId"), "OUT-001", "requestIds unique among pending calls",
			"the send in %s reuses the settled requestId %s", m.ChatID, settled.Str("requestId"))
		stale, real := "stale-"+h.RandHex(4), "real-"+h.RandHex(4)
		s.Step("round %d: resend the settled result of %s naming message %s, then answer the send %s with %s", round, settled.Str("requestId"), stale, send.Str("requestId"), real)
		c.WriteFrame(contract.OutboundResult{RequestID: settled.Str("requestId"), Result: contract.Result{Success: true, MessageID: stale}})
		c.WriteFrame(contract.OutboundResult{RequestID: send.Str("requestId"), Result: contract.Result{Success: true, MessageID: real}})
		g.F.ExpectFrame("OUT-018", "an edit of the streamed reply in "+m.ChatID, func(f h.GWFrame) bool {
			return h.OutboundFor(m.ChatID)(f) && h.ActionOf(f)["op"] == contract.OpEdit
		})
		g.F.Await(s.Quiet(), func() bool { return false })
		// Every edit names the id the send's own result carried: any other
		// (the stale result's, or one another call's result carried) means
		// a result resolved a call it was not for.
		for _, f := range g.Actions(m.ChatID, contract.OpEdit) {
			if id, _ := h.ActionOf(f)["message_id"].(string); id != real {
				s.Failf("OUT-018", "edits of the message its send's own result named ("+real+"), the stale result for "+settled.Str("requestId")+" ignored",
					"the gateway edited %q: %s", id, f)
			}
		}
		settled = send
	}
	g.F.SetIntercept(nil)
})
