package connectorcases

import (
	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 10: close codes.

var _ = h.ConnectorCase(h.Case{
	ID:   "RC-002/second-socket",
	Reqs: []string{"RC-002"},
	Text: "a second socket of one gateway instance is allowed, replaces the first (4409 \"replaced\") or is refused (4409 \"duplicate\"); never 4401 or HTTP 409",
}, func(s *h.S) {
	a, _ := s.Connect()
	s.Step("open a second socket with the same credentials")
	r := s.Dial(s.ValidToken())
	if r.P == nil {
		s.Failf("RC-002", "the second upgrade to complete (policy allow, replace or reject)", "HTTP %d", r.Status)
	}
	b := r.P
	id := s.Primary()
	b.Hello(id.Platform, id.BotID)
	_, res := b.WaitFor(s.Within(1), h.OfType(contract.TypeDescriptor))
	switch res {
	case h.GotClose:
		code, reason := b.CloseStatus()
		s.Check(code == contract.CloseConflict && reason == contract.ReasonDuplicate, "RC-002",
			`the newer socket closed 4409 "duplicate" (policy reject)`, "%s", b.CloseDesc())
		s.Observe("policy reject")
		a.StayOpen(s.Quiet(), "RC-002", "the older socket to stay open under policy reject")
		return
	case h.GotUnterminated:
		b.Unterminated()
	case h.GotTimeout:
		s.Failf("HS-004", "a descriptor or a close on the second socket", "neither within %s", s.Within(1))
	}
	_, ra := a.WaitFor(s.Quiet(), func(h.RxFrame) bool { return false })
	if ra == h.GotClose {
		code, reason := a.CloseStatus()
		s.Check(code == contract.CloseConflict && reason == contract.ReasonReplaced, "RC-002",
			`the older socket closed 4409 "replaced" (policy replace)`, "%s", a.CloseDesc())
		s.Observe("policy replace")
		return
	}
	s.Observe("policy allow")
	b.StayOpen(s.Quiet(), "RC-002", "both sockets open under policy allow")
	if s.Run.Conn.Ctl != nil {
		s.Step("deliveries go to the newest handshaked socket")
		m := s.NewMessage("to the newest socket")
		s.Inject(m)
		b.ExpectInbound("RC-002", m)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:     "RC-003/throttle-1013",
	Global: true,
	Reqs:   []string{"RC-003", "RC-001"},
	Text:   "a connector that temporarily refuses a connection closes it 1013, never 4401",
	Needs:  h.NeedControl,
}, func(s *h.S) {
	ctl := s.Run.Conn.Ctl
	if err := ctl.RefuseConnections(s.Ctx, true); err != nil {
		s.Untestable("the control API cannot make the connector refuse connections: %v", err)
	}
	s.Cleanup(func() { _ = ctl.RefuseConnections(s.Ctx, false) })
	r := s.Dial(s.ValidToken())
	if r.P == nil {
		s.Failf("RC-003", "the upgrade to complete, then close 1013", "HTTP %d", r.Status)
	}
	id := s.Primary()
	r.P.Hello(id.Platform, id.BotID)
	code, _ := r.P.ExpectClose("RC-003", "close 1013", s.Within(1))
	s.Check(code == contract.CloseTryAgainLater, "RC-003", "close 1013 for a temporary refusal", "%s", r.P.CloseDesc())
	_ = ctl.RefuseConnections(s.Ctx, false)
	s.Connect()
})
