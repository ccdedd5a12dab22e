package connectorcases

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 9: HTTP routes.

func routeURL(s *h.S, path string) string { return s.Run.Conn.Base + path }

var _ = h.ConnectorCase(h.Case{
	ID:      "HTTP-010/policy-bad-token",
	Refuses: true,
	Reqs:    []string{"HTTP-010", "HTTP-006"},
	Text:    "a policy declaration with a bad upgrade token is answered 401 with a JSON error body",
}, func(s *h.S) {
	if !s.FeatureInForce("policy") {
		s.NotApplicable("feature policy is not in force")
	}
	c := s.Creds()
	bad := contract.MintToken(c.GatewayID, "wrong-"+h.RandHex(6), s.Now().Add(time.Hour).Unix())
	body := h.JSONBody(contract.PolicyRequest{Platform: s.Primary().Platform, FreeResponseScopes: []string{}})
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathPolicy), bad, h.JSONHeader, body), 401, "HTTP-010", "a bad token")
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathPolicy), "", h.JSONHeader, body), 401, "HTTP-010", "no token")
})

var _ = h.ConnectorCase(h.Case{
	ID:   "HTTP-014/policy-accepted",
	Reqs: []string{"HTTP-014", "HTTP-006"},
	Text: "a valid policy declaration is answered 200 {\"ok\":true} and an invalid body 400 with a JSON error",
}, func(s *h.S) {
	body := h.JSONBody(contract.PolicyRequest{Platform: s.Primary().Platform, FreeResponseScopes: []string{}})
	r := s.HTTPDo(http.MethodPost, routeURL(s, contract.PathPolicy), s.ValidToken(), h.JSONHeader, body)
	if r.Status != 200 || r.JSON()["ok"] != true {
		s.Failf("HTTP-014", `200 {"ok":true}`, "HTTP %d %s", r.Status, h.Truncate(string(r.Body), 200))
	}
	bad := []byte(`{"requireAddress":"yes","freeResponseScopes":[],"allowOtherBots":false}`)
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathPolicy), s.ValidToken(), h.JSONHeader, bad), 400, "HTTP-014", "a body without platform")
})

// declarePolicy posts a policy for the case gateway's primary platform.
func declarePolicy(s *h.S, p contract.PolicyRequest) {
	if p.FreeResponseScopes == nil {
		p.FreeResponseScopes = []string{}
	}
	r := s.HTTPDo(http.MethodPost, routeURL(s, contract.PathPolicy), s.ValidToken(), h.JSONHeader, h.JSONBody(p))
	if r.Status != 200 {
		s.Failf("HTTP-014", "200 for a valid policy", "HTTP %d", r.Status)
	}
}

// delivered injects m and reports whether it arrived on p.
func delivered(s *h.S, p *h.Peer, m h.UserMessage) bool {
	s.Inject(m)
	_, r := p.WaitFor(s.Quiet(), s.IsMsg(m))
	return r == h.GotFrame
}

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-016/relevance-gate",
	Reqs:  []string{"HTTP-016", "HTTP-014"},
	Text:  "under requireAddress:true a group event is delivered only when addressed or in a free-response scope; a bot's event only under allowOtherBots; DMs always",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	plat := s.Primary().Platform
	declarePolicy(s, contract.PolicyRequest{Platform: plat, RequireAddress: true, FreeResponseScopes: []string{"conform-free"}})
	group := func(text string) h.UserMessage {
		m := s.NewMessage(text)
		m.ChatType = "group"
		return m
	}
	m := group("not addressed")
	s.Check(!delivered(s, p, m), "HTTP-016", "an unaddressed group event held back under requireAddress", "delivered")
	m = group("addressed")
	m.Addressed = true
	s.Check(delivered(s, p, m), "HTTP-016", "an addressed group event delivered", "not delivered")
	m = group("free scope")
	m.ChatID = "conform-free"
	s.Check(delivered(s, p, m), "HTTP-016", "a group event in a free-response chat delivered", "not delivered")
	m = group("in a free-response scope")
	m.ScopeID = "conform-free"
	s.Check(delivered(s, p, m), "HTTP-016", "a group event whose scope_id is a free-response scope delivered", "not delivered")
	m = s.NewMessage("direct")
	s.Check(delivered(s, p, m), "HTTP-016", "a DM always delivered", "not delivered")
	m = group("from a bot")
	m.Addressed, m.IsBot = true, true
	s.Check(!delivered(s, p, m), "HTTP-016", "a bot's event held back without allowOtherBots", "delivered")
	s.Step("allowOtherBots:true replaces the whole policy")
	declarePolicy(s, contract.PolicyRequest{Platform: plat, AllowOtherBots: true})
	m = group("bot, unaddressed")
	m.IsBot = true
	s.Check(delivered(s, p, m), "HTTP-014", "the new policy replacing the old one: a bot's unaddressed group event delivered", "not delivered")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-015/default-policy",
	Reqs:  []string{"HTTP-015"},
	Text:  "without a declared policy, unaddressed group events are delivered and bots' group events are not",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("group, undeclared policy")
	m.ChatType = "group"
	s.Check(delivered(s, p, m), "HTTP-015", "an unaddressed group event delivered (requireAddress:false)", "not delivered")
	m = s.NewMessage("bot, undeclared policy")
	m.ChatType, m.IsBot = "group", true
	s.Check(!delivered(s, p, m), "HTTP-015", "a bot's group event held back (allowOtherBots:false)", "delivered")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-016/bot-dm-passes",
	Reqs:  []string{"HTTP-016"},
	Text:  "a DM always passes the policy, a DM from a bot included",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("a bot writes in a DM")
	m.IsBot = true
	s.Inject(m)
	p.ExpectInbound("HTTP-016", m)
})

var mediaID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// upload posts media bytes with the case gateway's token.
func upload(s *h.S, data []byte, token string) h.HTTPResp {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}, contract.HeaderMediaFilename: {"conformance.bin"},
		"User-Agent": {contract.MediaUserAgent}}
	return s.HTTPDo(http.MethodPost, routeURL(s, contract.PathMedia), token, hdr, data)
}

var _ = h.ConnectorCase(h.Case{
	ID:   "HTTP-005/media-round-trip",
	Reqs: []string{"HTTP-005", "HTTP-020"},
	Text: "an upload is answered {id: 32 lowercase hex, size} and the media downloads with the uploader's bearer; an unknown id is 404",
}, func(s *h.S) {
	if !s.FeatureInForce("media") {
		s.NotApplicable("feature media is not in force")
	}
	data := bytes.Repeat([]byte("conformance "), 100)
	r := upload(s, data, s.ValidToken())
	if r.Status != 200 {
		s.Failf("HTTP-005", "200 for an upload", "HTTP %d %s", r.Status, h.Truncate(string(r.Body), 200))
	}
	if vs := contract.ValidateBody(contract.BodyMediaUploadResponse, r.Body); len(vs) > 0 {
		s.Failf("HTTP-005", "a valid media upload response", "%v", vs)
	}
	m := r.JSON()
	id, _ := m["id"].(string)
	s.Check(mediaID.MatchString(id), "HTTP-005", "id of 32 lowercase hex", "%q", id)
	s.Check(m["size"] == float64(len(data)), "HTTP-005", "size equal to the bytes uploaded", "%v", m["size"])
	d := s.HTTPDo(http.MethodGet, routeURL(s, contract.PathMedia+"/"+id), s.ValidToken(), nil, nil)
	s.Check(d.Status == 200 && bytes.Equal(d.Body, data), "HTTP-020", "200 with the uploaded bytes", "HTTP %d, %d bytes", d.Status, len(d.Body))
	u := s.HTTPDo(http.MethodGet, routeURL(s, contract.PathMedia+"/"+strings.Repeat("0", 32)), s.ValidToken(), nil, nil)
	s.Check(u.Status == 404, "HTTP-020", "404 for an unknown id", "HTTP %d", u.Status)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "HTTP-018/upload-limits",
	Reqs: []string{"HTTP-018", "HTTP-006"},
	Text: "an empty upload is answered 400 and one over 26,214,400 bytes 413, each with a JSON error",
}, func(s *h.S) {
	if !s.FeatureInForce("media") {
		s.NotApplicable("feature media is not in force")
	}
	s.CheckErrorBody(upload(s, nil, s.ValidToken()), 400, "HTTP-018", "an empty upload")
	s.CheckErrorBody(upload(s, make([]byte, contract.MediaMaxBytes+1), s.ValidToken()), 413, "HTTP-018", "an upload one byte over the limit")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-020/other-tenant-404",
	Reqs:  []string{"HTTP-020"},
	Text:  "media is 404 to a bearer of another tenant",
	Needs: h.NeedControl,
}, func(s *h.S) {
	if !s.FeatureInForce("media") {
		s.NotApplicable("feature media is not in force")
	}
	r := upload(s, []byte("tenant one"), s.ValidToken())
	id, _ := r.JSON()["id"].(string)
	if r.Status != 200 || id == "" {
		s.Failf("HTTP-005", "200 {id, size} for an upload", "HTTP %d", r.Status)
	}
	other, err := s.Run.Conn.CredsFor(s.Ctx, "other-tenant", &h.EnrollSpec{Tenant: "conform-other-" + h.RandHex(3)})
	if err != nil {
		s.Untestable("the control API cannot enroll a gateway of another tenant: %v", err)
	}
	s.Tr.Redact(other.Secret)
	tok := contract.MintToken(other.GatewayID, other.Secret, s.Now().Add(time.Hour).Unix())
	d := s.HTTPDo(http.MethodGet, routeURL(s, contract.PathMedia+"/"+id), tok, nil, nil)
	s.Check(d.Status == 404, "HTTP-020", "404 for another tenant's media", "HTTP %d", d.Status)
})

var _ = h.ConnectorCase(h.Case{
	ID:      "HTTP-012/provision-no-bearer",
	Refuses: true,
	Reqs:    []string{"HTTP-012", "HTTP-006"},
	Text:    "a provision request without an identity bearer is answered 401 with a JSON error",
}, func(s *h.S) {
	if !s.FeatureInForce("provision") {
		s.NotApplicable("feature provision is not in force")
	}
	body := h.JSONBody(contract.ProvisionRequest{GatewayID: "conform-" + h.RandHex(4), Platform: s.Primary().Platform, RouteKeys: []string{}})
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathProvision), "", h.JSONHeader, body), 401, "HTTP-012", "no identity bearer")
})

var _ = h.ConnectorCase(h.Case{
	ID:      "HTTP-013/enroll-no-bearer",
	Refuses: true,
	Reqs:    []string{"HTTP-013", "HTTP-006"},
	Text:    "an enroll request without an identity bearer is answered 401 with a JSON error",
}, func(s *h.S) {
	if !s.FeatureInForce("enroll") {
		s.NotApplicable("feature enroll is not in force")
	}
	body := h.JSONBody(contract.EnrollRequest{EnrollmentToken: "conform-" + h.RandHex(8), GatewayID: "conform-" + h.RandHex(4)})
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathEnroll), "", h.JSONHeader, body), 401, "HTTP-013", "no identity bearer")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-014/policy-replaced",
	Reqs:  []string{"HTTP-014"},
	Text:  "a second policy replaces the first whole: its free-response scopes are not added to the earlier ones",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	plat := s.Primary().Platform
	declarePolicy(s, contract.PolicyRequest{Platform: plat, RequireAddress: true, FreeResponseScopes: []string{"conform-first"}})
	declarePolicy(s, contract.PolicyRequest{Platform: plat, RequireAddress: true, FreeResponseScopes: []string{"conform-second"}})
	m := s.NewMessage("in the first scope, unaddressed")
	m.ChatType, m.ChatID = "group", "conform-first"
	s.Check(!delivered(s, p, m), "HTTP-014", "the first policy's scope gone once replaced: an unaddressed event there held back", "delivered")
	m = s.NewMessage("in the second scope, unaddressed")
	m.ChatType, m.ChatID = "group", "conform-second"
	s.Check(delivered(s, p, m), "HTTP-014", "the second policy's scope in force", "not delivered")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-002/provision-response",
	Reqs:  []string{"HTTP-002", "HTTP-012"},
	Text:  "a successful provision answers 200 with non-empty secret and gatewayId and string deliveryKey and tenant, and re-provisioning returns the same secret",
	Needs: h.NeedControl,
}, func(s *h.S) {
	t := s.Run.Conn
	if t.Opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	gw := "conform-provisioned-" + h.RandHex(4)
	secret := ""
	for i, plat := range t.Info.FirstPlatforms(2) {
		body := h.JSONBody(contract.ProvisionRequest{GatewayID: gw, Platform: plat, BotID: "conform-bot", RouteKeys: []string{}})
		r := s.HTTPDo(http.MethodPost, routeURL(s, contract.PathProvision), t.Opts.IdentityToken, h.JSONHeader, body)
		if r.Status != 200 {
			s.Failf("HTTP-012", "200 for a valid provision", "HTTP %d %s", r.Status, h.Truncate(string(r.Body), 200))
		}
		var resp map[string]any
		_ = json.Unmarshal(r.Body, &resp)
		sec, _ := resp["secret"].(string)
		s.Tr.Redact(sec)
		if vs := contract.ValidateBody(contract.BodyProvisionResponse, r.Body); len(vs) > 0 {
			s.Failf("HTTP-002", "a valid provision response", "%v", vs)
		}
		if i > 0 {
			s.Check(sec == secret, "HTTP-012", "the same secret when provisioning the gateway again", "a different secret")
		}
		secret = sec
	}
	s.Step("a body that fails validation is answered 400")
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathProvision), t.Opts.IdentityToken, h.JSONHeader, []byte(`{"gatewayId": 7}`)), 400, "HTTP-012", "an invalid body")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-013/enroll-single-use",
	Reqs:  []string{"HTTP-013"},
	Text:  "enroll answers 200 for a fresh enrollment token and 403 when the same token is used again",
	Needs: h.NeedControl,
}, func(s *h.S) {
	t := s.Run.Conn
	if t.Opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	tok, err := t.Ctl.EnrollmentToken(s.Ctx, t.Opts.IdentityTenant)
	if err != nil {
		s.Untestable("the control API cannot issue enrollment tokens: %v", err)
	}
	s.Tr.Redact(tok)
	body := h.JSONBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + h.RandHex(4)})
	r := s.HTTPDo(http.MethodPost, routeURL(s, contract.PathEnroll), t.Opts.IdentityToken, h.JSONHeader, body)
	if r.Status != 200 {
		s.Failf("HTTP-013", "200 for a valid enrollment", "HTTP %d %s", r.Status, h.Truncate(string(r.Body), 200))
	}
	var resp map[string]any
	_ = json.Unmarshal(r.Body, &resp)
	if sec, _ := resp["secret"].(string); sec != "" {
		s.Tr.Redact(sec)
	}
	s.Step("the enrollment token is single-use")
	body2 := h.JSONBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + h.RandHex(4)})
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathEnroll), t.Opts.IdentityToken, h.JSONHeader, body2), 403, "HTTP-013", "a used enrollment token")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-013/other-tenants-token",
	Reqs:  []string{"HTTP-013"},
	Text:  "an enrollment token issued for another tenant is refused with 403 and enrolls nothing",
	Needs: h.NeedControl,
}, func(s *h.S) {
	t := s.Run.Conn
	if t.Opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	other := "conform-other-" + h.RandHex(4)
	tok, err := t.Ctl.EnrollmentToken(s.Ctx, other)
	if err != nil {
		s.Untestable("the control API cannot issue enrollment tokens: %v", err)
	}
	s.Tr.Redact(tok)
	s.Step("redeem tenant %s's enrollment token with the identity bearer of another tenant", other)
	body := h.JSONBody(contract.EnrollRequest{EnrollmentToken: tok, GatewayID: "conform-enrolled-" + h.RandHex(4)})
	s.CheckErrorBody(s.HTTPDo(http.MethodPost, routeURL(s, contract.PathEnroll), t.Opts.IdentityToken, h.JSONHeader, body), 403, "HTTP-013", "another tenant's enrollment token")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "HTTP-012/other-tenants-gateway",
	Reqs:  []string{"HTTP-012"},
	Text:  "provisioning a gateway id that belongs to another tenant answers 409 and hands out no secret",
	Needs: h.NeedControl,
}, func(s *h.S) {
	t := s.Run.Conn
	if t.Opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	tenant := "conform-other-" + h.RandHex(4)
	if tenant == t.Opts.IdentityTenant {
		tenant += "x"
	}
	other, err := t.Ctl.Enroll(s.Ctx, h.EnrollSpec{GatewayID: "conform-owned-" + h.RandHex(4), Tenant: tenant, Platforms: t.Info.FirstPlatforms(1)})
	if err != nil {
		s.Harness("enroll a gateway of tenant %s: %v", tenant, err)
	}
	s.Tr.Redact(other.Secret)
	s.Step("provision %s with the identity bearer of another tenant", other.GatewayID)
	body := h.JSONBody(contract.ProvisionRequest{GatewayID: other.GatewayID, Platform: t.Info.FirstPlatforms(1)[0], BotID: "conform-bot", RouteKeys: []string{}})
	r := s.HTTPDo(http.MethodPost, routeURL(s, contract.PathProvision), t.Opts.IdentityToken, h.JSONHeader, body)
	if bytes.Contains(r.Body, []byte(other.Secret)) {
		s.Failf("HTTP-012", "no secret of another tenant's gateway in the answer", "HTTP %d with the other tenant's secret", r.Status)
	}
	s.Check(r.Status == http.StatusConflict, "HTTP-012", "409 for a gateway id that belongs to another tenant", "HTTP %d %s", r.Status, h.Truncate(string(r.Body), 200))
})
