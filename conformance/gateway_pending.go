package conformance

import (
	"fmt"

	"github.com/relaykit/relaykit/contract"
)

// Gateway cases on the table of pending calls: requestIds stay distinct
// while identical actions are pending, and a result for a settled
// requestId resolves nothing.

var _ = gatewayCase(Case{
	ID:    "OUT-001/identical-pending-actions",
	Reqs:  []string{"OUT-001"},
	Text:  "identical actions pending at once (the same words twice in one chat, and in two threads of one group chat) carry distinct requestIds",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	// Two messages of one DM are one session, which a gateway may run one
	// turn at a time; two threads of one group chat are two sessions under
	// any session options, so their turns may run at once. Either way the
	// same words make the actions they cause identical or nearly so.
	dm := g.newMessage("the same words")
	group := "conform-group-" + randHex(3)
	ms := []userMessage{dm, dm}
	ms[1].MessageID = "m-" + randHex(6)
	for i := 1; i <= 2; i++ {
		m := g.newMessage("the same words")
		m.ChatID, m.ChatType, m.ScopeID, m.Addressed = group, "group", "conform-scope", true
		m.ThreadID = fmt.Sprintf("conform-thread-%d-%s", i, randHex(2))
		m.UserID = fmt.Sprintf("conform-user-%d", i)
		ms = append(ms, m)
	}
	// Every action in the two chats stays pending: the case answers none
	// until it has judged the requestIds.
	inChats := func(f gwFrame) bool { return outboundFor(dm.ChatID)(f) || outboundFor(group)(f) }
	g.f.setIntercept(func(_ *gwConn, f gwFrame) bool { return inChats(f) })
	for _, m := range ms {
		g.inject(m)
	}
	pending := func() []gwFrame {
		var out []gwFrame
		for _, f := range g.f.gwFramesOf(contract.TypeOutbound) {
			if inChats(f) {
				out = append(out, f)
			}
		}
		return out
	}
	g.f.await(s.within(0.5), func() bool {
		return len(g.actions(dm.ChatID)) >= 2 && len(g.actions(group)) >= 2
	})
	held := pending()
	if len(held) < 2 {
		s.Observe("%d action(s) pending at once in %s and %s: the gateway runs one turn at a time", len(held), dm.ChatID, group)
	}
	seen := map[string]gwFrame{}
	for _, f := range held {
		rid := f.str("requestId")
		if other, dup := seen[rid]; dup {
			s.Failf("OUT-001", "requestIds unique among pending calls", "requestId %q on both %s and %s, pending at once", rid, other, f)
		}
		seen[rid] = f
	}
	s.Step("answer the held actions")
	g.f.setIntercept(nil)
	for _, f := range held {
		c.writeFrame(contract.OutboundResult{RequestID: f.str("requestId"), Result: contract.Result{Success: true, MessageID: "m-" + randHex(4)}})
	}
})

var _ = gatewayCase(Case{
	ID:    "OUT-018/settled-id-resolves-nothing",
	Reqs:  []string{"OUT-018"},
	Text:  "a second result for a settled requestId is ignored: it does not resolve the call pending after it",
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
		if actionOf(f)["op"] != contract.OpSend {
			ic.writeFrame(contract.OutboundResult{RequestID: f.str("requestId"), Result: contract.Result{Success: true}})
		}
		return true
	})
	a := g.newMessage("settles first")
	g.inject(a)
	fa := g.expectReply("OUT-001", a)
	c.writeFrame(contract.OutboundResult{RequestID: fa.str("requestId"), Result: contract.Result{Success: true, MessageID: "ma"}})

	b := g.newMessage("held second")
	g.inject(b)
	fb := g.expectReply("OUT-001", b)
	// With a reused requestId the stale result is b's own: that breaks
	// OUT-001, which this case does not judge.
	s.Check(fb.str("requestId") != fa.str("requestId"), "OUT-001", "requestIds unique among pending calls",
		"the reply in %s reuses the settled requestId %s", b.ChatID, fa.str("requestId"))
	// What the turn sent before its reply (typing, a reaction) is not
	// what this case judges.
	for {
		if _, ok := g.f.take(outboundFor(b.ChatID)); !ok {
			break
		}
	}
	s.Step("resend the settled result of %s as a failure while the reply in %s is pending", fa.str("requestId"), b.ChatID)
	c.writeFrame(contract.OutboundResult{RequestID: fa.str("requestId"), Result: contract.Result{Success: false, Error: "a stale failure", Code: contract.CodeInternal}})
	// Until its own result comes, the reply in b's chat is pending: any
	// action there but a typing indicator means the gateway took the stale
	// result for it.
	g.f.expectNoFrame(s.quiet(), "OUT-018", "no further action in "+b.ChatID+" while its reply's own result is held (the stale result for "+fa.str("requestId")+" is ignored)", func(f gwFrame) bool {
		return outboundFor(b.ChatID)(f) && actionOf(f)["op"] != contract.OpTyping
	})
	g.f.setIntercept(nil)
	c.writeFrame(contract.OutboundResult{RequestID: fb.str("requestId"), Result: contract.Result{Success: true, MessageID: "mb"}})
	s.Step("the gateway keeps working")
	m := g.newMessage("third")
	g.inject(m)
	g.expectReply("OUT-018", m)
})
