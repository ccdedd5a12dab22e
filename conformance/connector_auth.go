package conformance

import (
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 3: upgrade authentication.

var _ = connectorCase(Case{
	ID:   "AUTH-005/valid-token",
	Reqs: []string{"AUTH-005"},
	Text: "the connector accepts a canonical token signed with the gateway's secret",
}, func(s *S) {
	s.connect()
})

var _ = connectorCase(Case{
	ID:   "AUTH-002/missing-token",
	Reqs: []string{"AUTH-002", "AUTH-010"},
	Text: "the connector refuses an upgrade without a token: upgrade, then close 4401 \"unauthorized\"",
}, func(s *S) {
	s.expectRefusal(s.dial(""), contract.ReasonUnauthorized)
})

var _ = connectorCase(Case{
	ID:   "AUTH-010/wrong-secret",
	Reqs: []string{"AUTH-010", "AUTH-005"},
	Text: "the connector refuses a token signed with a wrong secret: upgrade, then close 4401 \"unauthorized\"",
}, func(s *S) {
	c := s.creds()
	tok := contract.MintToken(c.GatewayID, "not-the-secret-"+randHex(8), s.now().Add(time.Hour).Unix())
	s.expectRefusal(s.dial(tok), contract.ReasonUnauthorized)
})

var _ = connectorCase(Case{
	ID:   "AUTH-010/unknown-gateway",
	Reqs: []string{"AUTH-010"},
	Text: "the connector refuses a token for a gateway id it does not know with close 4401 \"unauthorized\"",
}, func(s *S) {
	tok := contract.MintToken("conform-unknown-"+randHex(6), s.creds().Secret, s.now().Add(time.Hour).Unix())
	s.expectRefusal(s.dial(tok), contract.ReasonUnauthorized)
})

var _ = connectorCase(Case{
	ID:   "AUTH-010/malformed-token",
	Reqs: []string{"AUTH-010"},
	Text: "the connector refuses a malformed token with close 4401 \"unauthorized\"",
}, func(s *S) {
	s.expectRefusal(s.dial("not.a-token"), contract.ReasonUnauthorized)
})

var _ = connectorCase(Case{
	ID:   "AUTH-006/expired",
	Reqs: []string{"AUTH-006", "AUTH-010"},
	Text: "the connector refuses a well-signed token whose exp has passed with close 4401 \"expired\"",
}, func(s *S) {
	c := s.creds()
	tok := contract.MintToken(c.GatewayID, c.Secret, s.now().Add(-2*time.Minute).Unix())
	s.expectRefusal(s.dial(tok), contract.ReasonExpired)
})

var _ = connectorCase(Case{
	ID:   "AUTH-006/no-skew-allowance",
	Reqs: []string{"AUTH-006"},
	Text: "a token that expired ten seconds ago is refused: the connector adds no clock-skew allowance",
}, func(s *S) {
	// Ten seconds, not one: without a controllable clock the suite reads
	// its own, and two hosts' clocks may differ by a little. A connector
	// that forgives a late token forgives it by far more.
	c := s.creds()
	r := s.dial(contract.MintToken(c.GatewayID, c.Secret, s.now().Add(-10*time.Second).Unix()))
	if r.p == nil {
		s.Failf("AUTH-010", "the upgrade to complete, then close 4401", "HTTP %d", r.status)
	}
	code, _ := r.p.expectClose("AUTH-006", "a close 4401 of a token whose exp passed ten seconds ago", s.within(1))
	s.Check(code == contract.CloseUnauthorized, "AUTH-006", "a close 4401 of a token whose exp passed ten seconds ago (no skew allowance)", "%s", r.p.closeDesc())
})

var _ = connectorCase(Case{
	ID:    "AUTH-006/exp-boundary",
	Reqs:  []string{"AUTH-006"},
	Text:  "a token is valid in the very second named by exp and expired one second later, with no skew allowance",
	Needs: NeedClock,
}, func(s *S) {
	c := s.creds()
	now := s.now().Unix()
	s.Step("exp == now is accepted")
	p := s.mustDial("AUTH-006", contract.MintToken(c.GatewayID, c.Secret, now))
	s.handshake(p, s.primary())
	p.closeNormal()
	s.Step("exp == now-1 is refused as expired")
	s.expectRefusal(s.dial(contract.MintToken(c.GatewayID, c.Secret, now-1)), contract.ReasonExpired)
})

var _ = connectorCase(Case{
	ID:   "AUTH-007/exp-zero",
	Reqs: []string{"AUTH-007"},
	Text: "the connector accepts a token with exp 0 as never expiring",
}, func(s *S) {
	c := s.creds()
	r := s.dial(contract.MintToken(c.GatewayID, c.Secret, 0))
	if r.p == nil {
		s.Failf("AUTH-007", "the upgrade with an exp-0 token accepted", "HTTP %d", r.status)
	}
	_, r2 := r.p.waitFor(s.quiet(), func(rxFrame) bool { return false })
	if r2 == gotClose {
		s.Failf("AUTH-007", "a token with exp 0 accepted", "%s", r.p.closeDesc())
	}
	s.handshake(r.p, s.primary())
})

var _ = connectorCase(Case{
	ID:   "AUTH-011/nothing-before-refusal",
	Reqs: []string{"AUTH-011"},
	Text: "on a refused socket the connector sends no frame and acts on no frame before the 4401 close",
}, func(s *S) {
	c := s.creds()
	id := s.primary()
	tok := contract.MintToken(c.GatewayID, "wrong-"+randHex(8), s.now().Add(time.Hour).Unix())
	r := s.dial(tok)
	if r.p == nil {
		s.Failf("AUTH-010", "the upgrade to complete, then close 4401", "HTTP %d", r.status)
	}
	r.p.hello(id.Platform, id.BotID)
	r.p.send(contract.Outbound{RequestID: newRequestID(), Action: sendAction(s.chat(), "must not be sent")})
	code, _ := r.p.expectClose("AUTH-010", "close 4401", s.within(1))
	s.Check(code == contract.CloseUnauthorized, "AUTH-010", "close 4401", "%s", r.p.closeDesc())
	if fs := r.p.all(); len(fs) > 0 {
		s.Failf("AUTH-011", "no frame before the 4401 close", "received %s", fs[0])
	}
})

var _ = connectorCase(Case{
	ID:    "AUTH-005/rotation",
	Reqs:  []string{"AUTH-005"},
	Text:  "during a secret rotation the connector accepts tokens signed with the new and with the previous secret",
	Needs: NeedControl,
}, func(s *S) {
	c := s.creds()
	newSecret, err := s.run.conn.ctl.rotate(s.ctx, c.GatewayID)
	if err != nil {
		s.Untestable("the control API cannot rotate secrets: %v", err)
	}
	s.tr.Redact(newSecret)
	exp := s.now().Add(time.Hour).Unix()
	accepted := func(secret, which string) {
		p := s.mustDial("AUTH-005", contract.MintToken(c.GatewayID, secret, exp))
		id := s.primary()
		p.hello(id.Platform, id.BotID)
		if _, r := p.waitFor(s.within(1), ofType(contract.TypeDescriptor)); r == gotClose {
			code, reason := p.closeStatus()
			s.Check(code != contract.CloseUnauthorized, "AUTH-005", "a token signed with the "+which+" secret accepted during the rotation",
				"close %d %q", code, reason)
		}
		p.closeNormal()
	}
	s.Step("token signed with the new secret")
	accepted(newSecret, "new")
	s.Step("token signed with the previous secret")
	accepted(c.Secret, "previous")
	// Both were accepted; the handshake itself is judged as everywhere.
	s.connect()
})

var _ = connectorCase(Case{
	ID:    "AUTH-010/revoked",
	Reqs:  []string{"AUTH-010"},
	Text:  "after the gateway's secret is revoked the connector refuses its token with close 4401 \"unauthorized\"",
	Needs: NeedControl,
}, func(s *S) {
	c := s.creds()
	tok := s.validToken()
	if err := s.run.conn.ctl.revoke(s.ctx, c.GatewayID); err != nil {
		s.Untestable("the control API cannot revoke gateways: %v", err)
	}
	s.expectRefusal(s.dial(tok), contract.ReasonUnauthorized)
})

var _ = connectorCase(Case{
	ID:    "AUTH-012/revoked-live-socket",
	Reqs:  []string{"AUTH-012"},
	Text:  "revoking a gateway closes its live socket with 4401 unauthorized, the close a gateway reads as revocation",
	Needs: NeedControl,
}, func(s *S) {
	p, _ := s.connect()
	s.Step("revoke the gateway through the control API")
	if err := s.run.conn.ctl.revoke(s.ctx, s.creds().GatewayID); err != nil {
		if routeMissing(err) {
			s.Untestable("the control API cannot revoke a gateway: %v", err)
		}
		s.Harness("revoke %s: %v", s.creds().GatewayID, err)
	}
	code, reason := p.expectClose("AUTH-012", `a close 4401 "unauthorized" of the revoked gateway's socket`, s.within(1))
	s.Check(code == contract.CloseUnauthorized && reason == contract.ReasonUnauthorized, "AUTH-012",
		`close 4401 "unauthorized"`, "%s", p.closeDesc())
})
