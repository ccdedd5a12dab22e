package conformance

import (
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 10: close codes.

var _ = connectorCase(Case{
	ID:   "RC-002/second-socket",
	Reqs: []string{"RC-002"},
	Text: "a second socket of one gateway instance is allowed, replaces the first (4409 \"replaced\") or is refused (4409 \"duplicate\"); never 4401 or HTTP 409",
}, func(s *S) {
	a, _ := s.connect()
	s.Step("open a second socket with the same credentials")
	r := s.dial(s.validToken())
	if r.p == nil {
		s.Failf("RC-002", "the second upgrade to complete (policy allow, replace or reject)", "HTTP %d", r.status)
	}
	b := r.p
	id := s.primary()
	b.hello(id.Platform, id.BotID)
	_, res := b.waitFor(s.within(1), ofType(contract.TypeDescriptor))
	switch res {
	case gotClose:
		code, reason := b.closeStatus()
		s.Check(code == contract.CloseConflict && reason == contract.ReasonDuplicate, "RC-002",
			`the newer socket closed 4409 "duplicate" (policy reject)`, "%s", b.closeDesc())
		s.Observe("policy reject")
		a.stayOpen(s.quiet(), "RC-002", "the older socket to stay open under policy reject")
		return
	case gotUnterminated:
		b.unterminated()
	case gotTimeout:
		s.Failf("HS-004", "a descriptor or a close on the second socket", "neither within %s", s.within(1))
	}
	_, ra := a.waitFor(s.quiet(), func(rxFrame) bool { return false })
	if ra == gotClose {
		code, reason := a.closeStatus()
		s.Check(code == contract.CloseConflict && reason == contract.ReasonReplaced, "RC-002",
			`the older socket closed 4409 "replaced" (policy replace)`, "%s", a.closeDesc())
		s.Observe("policy replace")
		return
	}
	s.Observe("policy allow")
	b.stayOpen(s.quiet(), "RC-002", "both sockets open under policy allow")
	if s.run.conn.ctl != nil {
		s.Step("deliveries go to the newest handshaked socket")
		m := s.newMessage("to the newest socket")
		s.inject(m)
		b.expectInbound("RC-002", m)
	}
})

var _ = connectorCase(Case{
	ID:     "RC-003/throttle-1013",
	global: true,
	Reqs:   []string{"RC-003", "RC-001"},
	Text:   "a connector that temporarily refuses a connection closes it 1013, never 4401",
	Needs:  NeedControl,
}, func(s *S) {
	ctl := s.run.conn.ctl
	if err := ctl.refuseConnections(s.ctx, true); err != nil {
		s.Untestable("the control API cannot make the connector refuse connections: %v", err)
	}
	s.cleanup(func() { _ = ctl.refuseConnections(s.ctx, false) })
	r := s.dial(s.validToken())
	if r.p == nil {
		s.Failf("RC-003", "the upgrade to complete, then close 1013", "HTTP %d", r.status)
	}
	id := s.primary()
	r.p.hello(id.Platform, id.BotID)
	code, _ := r.p.expectClose("RC-003", "close 1013", s.within(1))
	s.Check(code == contract.CloseTryAgainLater, "RC-003", "close 1013 for a temporary refusal", "%s", r.p.closeDesc())
	_ = ctl.refuseConnections(s.ctx, false)
	s.connect()
})
