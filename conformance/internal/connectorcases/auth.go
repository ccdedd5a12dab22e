package connectorcases

import (
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 3: upgrade authentication.

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-005/valid-token",
	Reqs: []string{"AUTH-005"},
	Text: "the connector accepts a canonical token signed with the gateway's secret",
}, func(s *h.S) {
	s.Connect()
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-002/missing-token",
	Reqs: []string{"AUTH-002", "AUTH-010"},
	Text: "the connector refuses an upgrade without a token: upgrade, then close 4401 \"unauthorized\"",
}, func(s *h.S) {
	s.ExpectRefusal(s.Dial(""), contract.ReasonUnauthorized)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-010/wrong-secret",
	Reqs: []string{"AUTH-010", "AUTH-005"},
	Text: "the connector refuses a token signed with a wrong secret: upgrade, then close 4401 \"unauthorized\"",
}, func(s *h.S) {
	c := s.Creds()
	tok := contract.MintToken(c.GatewayID, "not-the-secret-"+h.RandHex(8), s.Now().Add(time.Hour).Unix())
	s.ExpectRefusal(s.Dial(tok), contract.ReasonUnauthorized)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-010/unknown-gateway",
	Reqs: []string{"AUTH-010"},
	Text: "the connector refuses a token for a gateway id it does not know with close 4401 \"unauthorized\"",
}, func(s *h.S) {
	tok := contract.MintToken("conform-unknown-"+h.RandHex(6), s.Creds().Secret, s.Now().Add(time.Hour).Unix())
	s.ExpectRefusal(s.Dial(tok), contract.ReasonUnauthorized)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-010/malformed-token",
	Reqs: []string{"AUTH-010"},
	Text: "the connector refuses a malformed token with close 4401 \"unauthorized\"",
}, func(s *h.S) {
	s.ExpectRefusal(s.Dial("not.a-token"), contract.ReasonUnauthorized)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-006/expired",
	Reqs: []string{"AUTH-006", "AUTH-010"},
	Text: "the connector refuses a well-signed token whose exp has passed with close 4401 \"expired\"",
}, func(s *h.S) {
	c := s.Creds()
	tok := contract.MintToken(c.GatewayID, c.Secret, s.Now().Add(-2*time.Minute).Unix())
	s.ExpectRefusal(s.Dial(tok), contract.ReasonExpired)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-006/no-skew-allowance",
	Reqs: []string{"AUTH-006"},
	Text: "a token that expired ten seconds ago is refused: the connector adds no clock-skew allowance",
}, func(s *h.S) {
	// Ten seconds, not one: without a controllable clock the suite reads
	// its own, and two hosts' clocks may differ by a little. A connector
	// that forgives a late token forgives it by far more.
	c := s.Creds()
	r := s.Dial(contract.MintToken(c.GatewayID, c.Secret, s.Now().Add(-10*time.Second).Unix()))
	if r.P == nil {
		s.Failf("AUTH-010", "the upgrade to complete, then close 4401", "HTTP %d", r.Status)
	}
	code, _ := r.P.ExpectClose("AUTH-006", "a close 4401 of a token whose exp passed ten seconds ago", s.Within(1))
	s.Check(code == contract.CloseUnauthorized, "AUTH-006", "a close 4401 of a token whose exp passed ten seconds ago (no skew allowance)", "%s", r.P.CloseDesc())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-006/valid-at-exp",
	Reqs: []string{"AUTH-006"},
	Text: "a token is still valid in the very second its exp names",
}, func(s *h.S) {
	if t := s.Run.Conn; t.Ctl != nil && t.Info.Clock {
		s.NotApplicable("the connector's clock is controllable: AUTH-006/exp-boundary checks the boundary exactly")
	}
	// Without control of the connector's clock the suite reads its own:
	// it dials just after a second begins, with exp naming that second,
	// so the token is checked within it unless the two clocks are almost
	// a second apart. A refusal is tried once more before it counts.
	c := s.Creds()
	refused := ""
	for try := 0; try < 2; try++ {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		exp := time.Now().Unix()
		r := s.Dial(contract.MintToken(c.GatewayID, c.Secret, exp))
		if r.P == nil {
			s.Failf("AUTH-010", "the upgrade to complete", "HTTP %d", r.Status)
		}
		id := s.Primary()
		r.P.Hello(id.Platform, id.BotID)
		if _, res := r.P.WaitFor(s.Within(1), h.OfType(contract.TypeDescriptor)); res != h.GotClose {
			r.P.CloseNormal()
			return
		}
		refused = r.P.CloseDesc()
		r.P.CloseNow()
	}
	s.Failf("AUTH-006", "a token whose exp is the current second accepted (valid up to and including exp)",
		"refused twice, dialled within 100 ms after exp's second began: %s (unless the connector's clock runs a second ahead)", refused)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "AUTH-006/exp-boundary",
	Reqs:  []string{"AUTH-006"},
	Text:  "a token is valid in the very second named by exp and expired one second later, with no skew allowance",
	Needs: h.NeedClock,
}, func(s *h.S) {
	c := s.Creds()
	now := s.Now().Unix()
	s.Step("exp == now is accepted")
	p := s.MustDial("AUTH-006", contract.MintToken(c.GatewayID, c.Secret, now))
	s.Handshake(p, s.Primary())
	p.CloseNormal()
	s.Step("exp == now-1 is refused as expired")
	s.ExpectRefusal(s.Dial(contract.MintToken(c.GatewayID, c.Secret, now-1)), contract.ReasonExpired)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-007/exp-zero",
	Reqs: []string{"AUTH-007"},
	Text: "the connector accepts a token with exp 0 as never expiring",
}, func(s *h.S) {
	c := s.Creds()
	r := s.Dial(contract.MintToken(c.GatewayID, c.Secret, 0))
	if r.P == nil {
		s.Failf("AUTH-007", "the upgrade with an exp-0 token accepted", "HTTP %d", r.Status)
	}
	_, r2 := r.P.WaitFor(s.Quiet(), func(h.RxFrame) bool { return false })
	if r2 == h.GotClose {
		s.Failf("AUTH-007", "a token with exp 0 accepted", "%s", r.P.CloseDesc())
	}
	s.Handshake(r.P, s.Primary())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "AUTH-011/nothing-before-refusal",
	Reqs: []string{"AUTH-011"},
	Text: "on a refused socket the connector sends no frame and acts on no frame before the 4401 close",
}, func(s *h.S) {
	c := s.Creds()
	id := s.Primary()
	tok := contract.MintToken(c.GatewayID, "wrong-"+h.RandHex(8), s.Now().Add(time.Hour).Unix())
	r := s.Dial(tok)
	if r.P == nil {
		s.Failf("AUTH-010", "the upgrade to complete, then close 4401", "HTTP %d", r.Status)
	}
	r.P.Hello(id.Platform, id.BotID)
	r.P.Send(contract.Outbound{RequestID: h.NewRequestID(), Action: h.SendAction(s.Chat(), "must not be sent")})
	code, _ := r.P.ExpectClose("AUTH-010", "close 4401", s.Within(1))
	s.Check(code == contract.CloseUnauthorized, "AUTH-010", "close 4401", "%s", r.P.CloseDesc())
	if fs := r.P.All(); len(fs) > 0 {
		s.Failf("AUTH-011", "no frame before the 4401 close", "received %s", fs[0])
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "AUTH-005/rotation",
	Reqs:  []string{"AUTH-005"},
	Text:  "during a secret rotation the connector accepts tokens signed with the new and with the previous secret",
	Needs: h.NeedControl,
}, func(s *h.S) {
	c := s.Creds()
	newSecret, err := s.Run.Conn.Ctl.Rotate(s.Ctx, c.GatewayID)
	if err != nil {
		s.Untestable("the control API cannot rotate secrets: %v", err)
	}
	s.Tr.Redact(newSecret)
	exp := s.Now().Add(time.Hour).Unix()
	accepted := func(secret, which string) {
		p := s.MustDial("AUTH-005", contract.MintToken(c.GatewayID, secret, exp))
		id := s.Primary()
		p.Hello(id.Platform, id.BotID)
		if _, r := p.WaitFor(s.Within(1), h.OfType(contract.TypeDescriptor)); r == h.GotClose {
			code, reason := p.CloseStatus()
			s.Check(code != contract.CloseUnauthorized, "AUTH-005", "a token signed with the "+which+" secret accepted during the rotation",
				"close %d %q", code, reason)
		}
		p.CloseNormal()
	}
	s.Step("token signed with the new secret")
	accepted(newSecret, "new")
	s.Step("token signed with the previous secret")
	accepted(c.Secret, "previous")
	// Both were accepted; the handshake itself is judged as everywhere.
	s.Connect()
})

var _ = h.ConnectorCase(h.Case{
	ID:    "AUTH-010/revoked",
	Reqs:  []string{"AUTH-010"},
	Text:  "after the gateway's secret is revoked the connector refuses its token with close 4401 \"unauthorized\"",
	Needs: h.NeedControl,
}, func(s *h.S) {
	c := s.Creds()
	tok := s.ValidToken()
	if err := s.Run.Conn.Ctl.Revoke(s.Ctx, c.GatewayID); err != nil {
		s.Untestable("the control API cannot revoke gateways: %v", err)
	}
	s.ExpectRefusal(s.Dial(tok), contract.ReasonUnauthorized)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "AUTH-012/revoked-live-socket",
	Reqs:  []string{"AUTH-012"},
	Text:  "revoking a gateway closes its live socket with 4401 unauthorized, the close a gateway reads as revocation",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	s.Step("revoke the gateway through the control API")
	if err := s.Run.Conn.Ctl.Revoke(s.Ctx, s.Creds().GatewayID); err != nil {
		if routeMissing(err) {
			s.Untestable("the control API cannot revoke a gateway: %v", err)
		}
		s.Harness("revoke %s: %v", s.Creds().GatewayID, err)
	}
	code, reason := p.ExpectClose("AUTH-012", `a close 4401 "unauthorized" of the revoked gateway's socket`, s.Within(1))
	s.Check(code == contract.CloseUnauthorized && reason == contract.ReasonUnauthorized, "AUTH-012",
		`close 4401 "unauthorized"`, "%s", p.CloseDesc())
})
