package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/relaykit/relaykit/contract"
)

// Connector cases that need more of the testee control API: faults,
// scripted answers, the outbound log and enrollment tokens.

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

var _ = connectorCase(Case{
	ID:    "OUT-013/default-platform",
	Reqs:  []string{"OUT-013"},
	Text:  "an untagged outbound goes to the platform of the first descriptor on the connection",
	Needs: NeedControl | NeedTwoPlatforms,
}, func(s *S) {
	ids := s.creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts one platform")
	}
	p := s.mustDial("AUTH-005", s.validToken())
	// Hello for the second identity first: it becomes the default.
	s.handshake(p, ids[1], ids[0])
	r, f := s.outbound(p, sendAction(s.chat(), "untagged"), "")
	if !r.Success {
		s.Untestable("the untagged send failed (code %q)", r.Code)
	}
	rid := f.str("requestId")
	recs, err := s.run.conn.ctl.outbound(s.ctx, s.creds().GatewayID)
	if err != nil {
		s.Untestable("the control API has no outbound log: %v", err)
	}
	for _, rec := range recs {
		if rec.RequestID == rid {
			s.Check(rec.ResolvedPlatform == ids[1].Platform, "OUT-013",
				"the action performed on "+ids[1].Platform+" (first hello)", "performed on %q", rec.ResolvedPlatform)
			return
		}
	}
	s.Harness("the outbound log has no record of request %s", rid)
})

var _ = connectorCase(Case{
	ID:    "OUT-011/decline-shape",
	Reqs:  []string{"OUT-011"},
	Text:  "an egress decline is success:false with code egress_declined and never ambiguous",
	Needs: NeedControl,
}, func(s *S) {
	p, _ := s.connect()
	chat := "conform-declined-" + randHex(3)
	if err := s.run.conn.ctl.declineNext(s.ctx, s.creds().GatewayID, chat); err != nil {
		s.Untestable("the control API cannot script an egress decline: %v", err)
	}
	r, f := s.outbound(p, sendAction(chat, "declined"), "")
	res, _ := f.Obj["result"].(map[string]any)
	s.Check(!r.Success && r.Code == contract.CodeEgressDeclined, "OUT-011", "success:false, code egress_declined", "%s", f)
	s.Check(res["ambiguous"] != true, "OUT-011", "a decline never marked ambiguous", "%s", f)
})

var _ = connectorCase(Case{
	ID:    "HTTP-002/provision-response",
	Reqs:  []string{"HTTP-002", "HTTP-012"},
	Text:  "a successful provision answers 200 with non-empty secret and gatewayId and string deliveryKey and tenant, and re-provisioning returns the same secret",
	Needs: NeedControl,
}, func(s *S) {
	t := s.run.conn
	if t.opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	gw := "conform-provisioned-" + randHex(4)
	secret := ""
	for i, plat := range t.info.platforms(2) {
		body := jsonBody(contract.ProvisionRequest{GatewayID: gw, Platform: plat, BotID: "conform-bot", RouteKeys: []string{}})
		r := s.httpDo(http.MethodPost, s.route(contract.PathProvision), t.opts.IdentityToken, jsonHeader, body)
		if r.Status != 200 {
			s.Failf("HTTP-012", "200 for a valid provision", "HTTP %d %s", r.Status, truncate(string(r.Body), 200))
		}
		var resp map[string]any
		_ = json.Unmarshal(r.Body, &resp)
		sec, _ := resp["secret"].(string)
		s.tr.Redact(sec)
		if vs := contract.ValidateBody(contract.BodyProvisionResponse, r.Body); len(vs) > 0 {
			s.Failf("HTTP-002", "a valid provision response", "%v", vs)
		}
		if i > 0 {
			s.Check(sec == secret, "HTTP-012", "the same secret when provisioning the gateway again", "a different secret")
		}
		secret = sec
	}
	s.Step("a body that fails validation is answered 400")
	s.checkErrorBody(s.httpDo(http.MethodPost, s.route(contract.PathProvision), t.opts.IdentityToken, jsonHeader, []byte(`{"gatewayId": 7}`)), 400, "HTTP-012", "an invalid body")
})

var _ = connectorCase(Case{
	ID:    "HTTP-013/enroll-single-use",
	Reqs:  []string{"HTTP-013"},
	Text:  "enroll answers 200 for a fresh enrollment token and 403 when the same token is used again",
	Needs: NeedControl,
}, func(s *S) {
	t := s.run.conn
	if t.opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	tok, err := t.ctl.enrollmentToken(s.ctx, t.opts.IdentityTenant)
	if err != nil {
		s.Untestable("the control API cannot issue enrollment tokens: %v", err)
	}
	s.tr.Redact(tok)
	body := jsonBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + randHex(4)})
	r := s.httpDo(http.MethodPost, s.route(contract.PathEnroll), t.opts.IdentityToken, jsonHeader, body)
	if r.Status != 200 {
		s.Failf("HTTP-013", "200 for a valid enrollment", "HTTP %d %s", r.Status, truncate(string(r.Body), 200))
	}
	var resp map[string]any
	_ = json.Unmarshal(r.Body, &resp)
	if sec, _ := resp["secret"].(string); sec != "" {
		s.tr.Redact(sec)
	}
	s.Step("the enrollment token is single-use")
	body2 := jsonBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + randHex(4)})
	s.checkErrorBody(s.httpDo(http.MethodPost, s.route(contract.PathEnroll), t.opts.IdentityToken, jsonHeader, body2), 403, "HTTP-013", "a used enrollment token")
})

var _ = connectorCase(Case{
	ID:    "HTTP-013/other-tenants-token",
	Reqs:  []string{"HTTP-013"},
	Text:  "an enrollment token issued for another tenant is refused with 403 and enrolls nothing",
	Needs: NeedControl,
}, func(s *S) {
	t := s.run.conn
	if t.opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	other := "conform-other-" + randHex(4)
	tok, err := t.ctl.enrollmentToken(s.ctx, other)
	if err != nil {
		s.Untestable("the control API cannot issue enrollment tokens: %v", err)
	}
	s.tr.Redact(tok)
	s.Step("redeem tenant %s's enrollment token with the identity bearer of another tenant", other)
	body := jsonBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + randHex(4)})
	s.checkErrorBody(s.httpDo(http.MethodPost, s.route(contract.PathEnroll), t.opts.IdentityToken, jsonHeader, body), 403, "HTTP-013", "another tenant's enrollment token")
})

var _ = connectorCase(Case{
	ID:    "HTTP-012/other-tenants-gateway",
	Reqs:  []string{"HTTP-012"},
	Text:  "provisioning a gateway id that belongs to another tenant answers 409 and hands out no secret",
	Needs: NeedControl,
}, func(s *S) {
	t := s.run.conn
	if t.opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	tenant := "conform-other-" + randHex(4)
	if tenant == t.opts.IdentityTenant {
		tenant += "x"
	}
	other, err := t.ctl.enroll(s.ctx, enrollSpec{GatewayID: "conform-owned-" + randHex(4), Tenant: tenant, Platforms: t.info.platforms(1)})
	if err != nil {
		s.Harness("enroll a gateway of tenant %s: %v", tenant, err)
	}
	s.tr.Redact(other.Secret)
	s.Step("provision %s with the identity bearer of another tenant", other.GatewayID)
	body := jsonBody(contract.ProvisionRequest{GatewayID: other.GatewayID, Platform: t.info.platforms(1)[0], BotID: "conform-bot", RouteKeys: []string{}})
	r := s.httpDo(http.MethodPost, s.route(contract.PathProvision), t.opts.IdentityToken, jsonHeader, body)
	if bytes.Contains(r.Body, []byte(other.Secret)) {
		s.Failf("HTTP-012", "no secret of another tenant's gateway in the answer", "HTTP %d with the other tenant's secret", r.Status)
	}
	s.Check(r.Status == http.StatusConflict, "HTTP-012", "409 for a gateway id that belongs to another tenant", "HTTP %d %s", r.Status, truncate(string(r.Body), 200))
})
