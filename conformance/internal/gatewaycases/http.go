package gatewaycases

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 9 of the contract, HTTP routes (HTTP-*): the
// media routes, and the boot sequence's HTTP calls. The boot cases run for
// a gateway that declares the optional features of the gateway testee
// contract (docs/conformance-guide.md):
//
//   - provision: started with no GATEWAY_RELAY_SECRET and an identity
//     bearer (GATEWAY_RELAY_IDENTITY_TOKEN, or the suite's OAuth2
//     client-credentials endpoint in GATEWAY_RELAY_IDP_TOKEN_URL), the
//     gateway provisions itself at boot and then dials with the secret it
//     got;
//   - policy: started with {PLATFORM}_ALLOW_BOTS=all, it declares that
//     platform's relevance policy at boot.

var _ = h.GatewayCase(h.Case{
	ID:    "HTTP-019/media-upload",
	Reqs:  []string{"HTTP-019", "HTTP-009"},
	Text:  "an upload to /relay/media carries non-empty raw bytes, a Content-Type, an X-Media-Filename of at most 255 characters and an upgrade token",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	ask := g.NewMessage("/media")
	g.Inject(ask)
	up := g.F.AwaitRequests(1, s.Within(1), "HTTP-019", "a POST /relay/media (echo profile: /media)", h.IsMediaUpload)[0]
	checkUpgradeBearer(s, g, up, "HTTP-009")
	s.Check(up.Header.Get("Content-Type") != "", "HTTP-019", "a Content-Type header on the upload", "none")
	name := up.Header.Get(contract.HeaderMediaFilename)
	s.Check(name != "" && utf8.RuneCountInString(name) <= 255, "HTTP-019", "an "+contract.HeaderMediaFilename+" header of 1 to 255 characters",
		"%q (%d characters)", h.Truncate(name, 80), utf8.RuneCountInString(name))
	s.Check(len(up.Body) > 0 && len(up.Body) <= contract.MediaMaxBytes, "HTTP-019", "1 to 26,214,400 bytes of body", "%d bytes", len(up.Body))
})

// downloadOf matches the gateway's GET of rawURL.
func downloadOf(g *h.GWCase, rawURL string) func(h.GWHTTP) bool {
	server, path := "front", strings.TrimPrefix(rawURL, g.F.URL())
	if !strings.HasPrefix(rawURL, g.F.URL()+"/") {
		server, path = "elsewhere", strings.TrimPrefix(rawURL, g.F.ElsewhereURL())
	}
	return h.Route(server, http.MethodGet, path)
}

var _ = h.GatewayCase(h.Case{
	ID:    "HTTP-022/download-bearer",
	Reqs:  []string{"HTTP-022"},
	Text:  "the gateway sends its bearer when downloading the connector's own re-host, and none to another origin or to a path outside /relay/media/",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	u := g.AttachmentURLs("an attachment on another origin\n")
	m := g.NewMessage("/attachments")
	m.MediaURLs = []string{u.Own, u.Foreign, u.Sideways}
	g.Inject(m)
	own := g.F.AwaitRequests(1, s.Within(1), "HTTP-022", "a GET of the re-hosted attachment "+u.Own, downloadOf(g, u.Own))[0]
	checkUpgradeBearer(s, g, own, "HTTP-022")
	for _, url := range []string{u.Foreign, u.Sideways} {
		r := g.F.AwaitRequests(1, s.Within(1), "HTTP-022", "a GET of "+url+" (echo profile: /attachments fetches every media_url)", downloadOf(g, url))[0]
		s.Check(r.Header.Get("Authorization") == "", "HTTP-022", "no Authorization on "+url+", which is not the connector's re-host",
			"Authorization: Bearer %s", h.DescribeToken(r.Bearer()))
	}
	reply := g.ExpectReply("HTTP-022", m)
	s.Check(!strings.Contains(h.ContentOf(reply), "failed"), "HTTP-022", "every attachment fetched (echo profile: \"<n> bytes\" each)", "%q", h.ContentOf(reply))
})

var _ = h.GatewayCase(h.Case{
	ID:    "HTTP-023/empty-download-refused",
	Reqs:  []string{"HTTP-023"},
	Text:  "a media download whose body is empty is refused",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	u := g.AttachmentURLs("")
	m := g.NewMessage("/attachments")
	m.MediaURLs = []string{u.Foreign, u.Own}
	g.Inject(m)
	reply := h.ContentOf(g.ExpectReply("HTTP-023", m))
	// The echo profile names, per URL in order, "<n> bytes" or "failed";
	// it fixes no separator.
	fetched := fmt.Sprintf("%d bytes", len(u.OwnBody))
	i := strings.Index(reply, "failed")
	s.Check(i >= 0 && strings.Contains(reply[i:], fetched), "HTTP-023",
		"the empty download refused and the other fetched (echo profile: \"failed\", then \""+fetched+"\")", "%q", reply)
})

// Identities of the provision cases: two platforms, so one provision
// request per platform is visible.
var bootIdentities = []h.Identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}

// provisionConfig starts the gateway without a secret, with an identity
// bearer, and with GATEWAY_RELAY_URL in its ws://…/relay form so the HTTP
// routes must be derived from it (HTTP-007). answer scripts the answers to
// provision requests reaching the front.
func provisionConfig(s *h.S, idTok *string, answer func(g *h.GWCase, req h.GWHTTP) (h.HTTPAnswer, bool)) h.GWConfig {
	*idTok = "conform-identity-" + h.RandHex(16)
	s.Tr.Redact(*idTok)
	return h.GWConfig{
		Identities: bootIdentities,
		URL:        func(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/relay" },
		Before: func(g *h.GWCase) {
			g.F.SetIdentityToken(*idTok)
			g.F.SetOnHTTP(func(req h.GWHTTP) (h.HTTPAnswer, bool) { return answer(g, req) })
			g.ExtraEnv = map[string]string{
				"GATEWAY_RELAY_SECRET":            "",
				"GATEWAY_RELAY_IDENTITY_TOKEN":    *idTok,
				"GATEWAY_RELAY_IDP_TOKEN_URL":     g.F.URL() + h.IDPTokenPath,
				"GATEWAY_RELAY_IDP_CLIENT_ID":     "conform-client",
				"GATEWAY_RELAY_IDP_CLIENT_SECRET": "conform-client-secret",
			}
		},
	}
}

// provisionAnswer is a successful provision answer carrying the case's
// credentials, which the suite's connector already knows.
func provisionAnswer(g *h.GWCase, withSecret bool) h.HTTPAnswer {
	body := map[string]any{"deliveryKey": "conform-delivery", "tenant": "conform-tenant", "gatewayId": g.GatewayID, "routeKeys": []string{}}
	if withSecret {
		body["secret"] = g.Secret
	}
	b, _ := json.Marshal(body)
	return h.HTTPAnswer{Status: http.StatusOK, Body: string(b)}
}

var isProvision = h.Route("front", http.MethodPost, "/relay/provision")

var _ = h.GatewayCase(h.Case{
	ID:   "HTTP-011/provision-per-platform",
	Reqs: []string{"HTTP-011", "HTTP-001", "HTTP-007"},
	Text: "without a secret the gateway provisions once per fronted platform at <base>/relay/provision, with its identity bearer, one gateway id and a well-formed body, then dials with the secret it got",
}, func(s *h.S) {
	var idTok string
	g := s.Gateway(provisionConfig(s, &idTok, func(g *h.GWCase, req h.GWHTTP) (h.HTTPAnswer, bool) {
		if isProvision(req) {
			return provisionAnswer(g, true), true
		}
		return h.HTTPAnswer{}, false
	}))
	reqs := g.F.AwaitRequests(len(bootIdentities), g.StartTimeout(), "HTTP-007",
		fmt.Sprintf("%d POST /relay/provision requests on the base URL derived from ws://…/relay", len(bootIdentities)),
		func(h h.GWHTTP) bool { return h.Server == "front" && strings.HasSuffix(h.Path, "/provision") })
	var platforms []string
	for _, r := range reqs {
		s.Check(r.Method == http.MethodPost && r.Path == "/relay/provision", "HTTP-007", "POST /relay/provision (the base URL without its /relay, plus the route)", "%s", r)
		s.Check(r.Bearer() == idTok, "HTTP-011", "Authorization: Bearer <the identity token>", "%q", redactedAuth(r, idTok))
		for _, v := range contract.ValidateBody(contract.BodyProvisionRequest, r.Body) {
			s.Failf("HTTP-001", "a well-formed provision body", "%s: %s (%s) in %s", v.Field, v.Message, v.Requirement, r.Body)
		}
		var body contract.ProvisionRequest
		if err := json.Unmarshal(r.Body, &body); err != nil {
			s.Failf("HTTP-001", "a JSON provision body", "%v in %s", err, r.Body)
		}
		s.Check(body.GatewayID == g.GatewayID, "HTTP-011", "gatewayId "+g.GatewayID+" (GATEWAY_RELAY_ID) in every request", "%q", body.GatewayID)
		platforms = append(platforms, body.Platform)
	}
	slices.Sort(platforms)
	want := []string{}
	for _, id := range bootIdentities {
		want = append(want, id.Platform)
	}
	slices.Sort(want)
	s.Check(slices.Equal(platforms, want), "HTTP-011", fmt.Sprintf("one provision request per fronted platform %v", want), "requests for %v", platforms)
	g.Handshaked(1)
	s.CheckToken(g, g.F.Dial(1))
	g.F.Await(s.Quiet(), func() bool { return false })
	if n := len(g.F.Requests(isProvision)); n != len(bootIdentities) {
		s.Failf("HTTP-011", fmt.Sprintf("exactly %d provision requests", len(bootIdentities)), "%d", n)
	}
})

var _ = h.GatewayCase(h.Case{
	ID:   "HTTP-011/secretless-answer-is-failure",
	Reqs: []string{"HTTP-011"},
	Text: "a 2xx provision answer without a secret counts as a failure: the gateway dials with the secret of a later answer that has one",
}, func(s *h.S) {
	var idTok string
	g := s.Gateway(provisionConfig(s, &idTok, func(g *h.GWCase, req h.GWHTTP) (h.HTTPAnswer, bool) {
		if !isProvision(req) {
			return h.HTTPAnswer{}, false
		}
		// The first answer has no secret; every later one has.
		return provisionAnswer(g, req.N != g.F.Requests(isProvision)[0].N), true
	}))
	g.F.AwaitRequests(len(bootIdentities), g.StartTimeout(), "HTTP-011", "one provision request per fronted platform", isProvision)
	if !g.WaitDials(1, g.StartTimeout()) {
		s.Failf("HTTP-011", "a dial with the secret of the second provision answer", "no dial within %s; the first answer (200 without a secret) was taken as the credentials?", g.StartTimeout())
	}
	d := g.F.Dial(1)
	if _, err := contract.VerifyToken(d.Token, []string{g.Secret}, time.Now()); err != nil {
		s.Failf("HTTP-011", "an upgrade token signed with the secret of the provision answer that had one",
			"%s: %v (the answer without a secret was taken as success?)", h.DescribeToken(d.Token), err)
	}
	g.Handshaked(1)
})

var _ = h.GatewayCase(h.Case{
	ID:   "HTTP-008/redirect-drops-bearer",
	Reqs: []string{"HTTP-008", "HTTP-011"},
	Text: "a provision request redirected to another origin reaches it without Authorization",
}, func(s *h.S) {
	var idTok string
	g := s.Gateway(provisionConfig(s, &idTok, func(g *h.GWCase, req h.GWHTTP) (h.HTTPAnswer, bool) {
		switch {
		case isProvision(req):
			return h.HTTPAnswer{Status: http.StatusTemporaryRedirect, Location: g.F.ElsewhereURL() + "/relay/provision"}, true
		case req.Server == "elsewhere" && req.Method == http.MethodPost && req.Path == "/relay/provision":
			return provisionAnswer(g, true), true
		}
		return h.HTTPAnswer{}, false
	}))
	elsewhere := g.F.ElsewhereURL()
	first := g.F.AwaitRequests(1, g.StartTimeout(), "HTTP-011", "a provision request with the identity bearer", isProvision)[0]
	s.Check(first.Bearer() == idTok, "HTTP-011", "Authorization: Bearer <the identity token> on the front's origin", "%q", redactedAuth(first, idTok))
	// HTTP-008 binds a gateway that follows the redirect; one that does
	// not follow cross-origin redirects at all keeps its bearer too.
	followed := g.F.Await(s.Within(1), func() bool {
		return len(g.F.Requests(h.Route("elsewhere", http.MethodPost, "/relay/provision"))) > 0
	})
	if !followed {
		s.Observe("the gateway did not follow the redirect to %s: its bearer cannot reach another origin", elsewhere)
		return
	}
	g.Handshaked(1)
	for _, r := range g.F.Requests(func(h h.GWHTTP) bool { return h.Server == "elsewhere" }) {
		s.Check(r.Header.Get("Authorization") == "", "HTTP-008", "no Authorization header at another origin ("+elsewhere+")",
			"%s with Authorization: %s", r, redactedAuth(r, idTok))
	}
})

var _ = h.GatewayCase(h.Case{
	ID:   "HTTP-009/policy-token",
	Reqs: []string{"HTTP-009", "HTTP-004"},
	Text: "a gateway declaring a relevance policy posts a well-formed body to /relay/policy with a valid upgrade token as bearer",
}, func(s *h.S) {
	knob := strings.ToUpper(h.DefaultIdentity.Platform) + "_ALLOW_BOTS"
	g := s.Gateway(h.GWConfig{Env: map[string]string{knob: "all"}})
	r := g.F.AwaitRequests(1, g.StartTimeout(), "HTTP-004", "a POST /relay/policy for "+g.IDs[0].Platform+" ("+knob+"=all)",
		h.Route("front", http.MethodPost, "/relay/policy"))[0]
	checkUpgradeBearer(s, g, r, "HTTP-009")
	for _, v := range contract.ValidateBody(contract.BodyPolicyRequest, r.Body) {
		s.Failf("HTTP-004", "a well-formed policy body", "%s: %s (%s) in %s", v.Field, v.Message, v.Requirement, r.Body)
	}
	var p contract.PolicyRequest
	_ = json.Unmarshal(r.Body, &p)
	s.Check(p.Platform == g.IDs[0].Platform && p.AllowOtherBots, "HTTP-004", fmt.Sprintf("platform %q with allowOtherBots true", g.IDs[0].Platform), "%s", r.Body)
	g.Handshaked(1)
})

// redactedAuth shows a request's Authorization with the identity token
// masked.
func redactedAuth(r h.GWHTTP, idTok string) string {
	a := r.Header.Get("Authorization")
	if a == "" {
		return "(none)"
	}
	if tok := r.Bearer(); tok != "" {
		if tok == idTok {
			return "Bearer <the identity token>"
		}
		return "Bearer " + h.DescribeToken(tok)
	}
	return "<a non-bearer value>"
}

var _ = h.GatewayCase(h.Case{
	ID:   "HTTP-003/enroll",
	Reqs: []string{"HTTP-003"},
	Text: "without a secret and with an enrollment token the gateway enrolls with a body of the token and its gateway id, then dials with the secret it got",
}, func(s *h.S) {
	enrollToken := "conform-enroll-" + h.RandHex(8)
	isEnroll := h.Route("front", http.MethodPost, "/relay/enroll")
	g := s.Gateway(h.GWConfig{
		Env: map[string]string{"GATEWAY_RELAY_SECRET": "", "GATEWAY_RELAY_ENROLL_TOKEN": enrollToken},
		Before: func(g *h.GWCase) {
			g.F.SetOnHTTP(func(req h.GWHTTP) (h.HTTPAnswer, bool) {
				if !isEnroll(req) {
					return h.HTTPAnswer{}, false
				}
				b, _ := json.Marshal(contract.EnrollResponse{Secret: g.Secret, DeliveryKey: "conform-delivery", Tenant: "conform-tenant", GatewayID: g.GatewayID})
				return h.HTTPAnswer{Status: http.StatusOK, Body: string(b)}, true
			})
		},
	})
	r := g.F.AwaitRequests(1, g.StartTimeout(), "HTTP-003", "a POST /relay/enroll (GATEWAY_RELAY_ENROLL_TOKEN set, no secret)", isEnroll)[0]
	for _, v := range contract.ValidateBody(contract.BodyEnrollRequest, r.Body) {
		s.Failf("HTTP-003", "a well-formed enroll body", "%s: %s (%s) in %s", v.Field, v.Message, v.Requirement, r.Body)
	}
	var body contract.EnrollRequest
	_ = json.Unmarshal(r.Body, &body)
	s.Check(body.EnrollmentToken == enrollToken && body.GatewayID == g.GatewayID, "HTTP-003",
		fmt.Sprintf("enrollmentToken %q (GATEWAY_RELAY_ENROLL_TOKEN) and gatewayId %q (GATEWAY_RELAY_ID)", enrollToken, g.GatewayID), "%s", r.Body)
	g.Handshaked(1)
	s.CheckToken(g, g.F.Dial(1))
})

// checkUpgradeBearer fails the case under id unless req carries an
// unexpired upgrade token of the case's gateway, signed with its secret.
func checkUpgradeBearer(s *h.S, g *h.GWCase, req h.GWHTTP, id string) {
	tok := req.Bearer()
	if tok == "" {
		s.Failf(id, "Authorization: Bearer <upgrade token> on "+req.String(), "no bearer")
	}
	claims, _, err := contract.ParseToken(tok)
	if err != nil {
		s.Failf(id, "an upgrade token (section 3.2) as the bearer of "+req.String(), "a bearer that is not one: %v", err)
	}
	if _, err := contract.VerifyToken(tok, []string{g.Secret}, time.Now()); err != nil || claims.GatewayID != g.GatewayID {
		s.Failf(id, "an unexpired upgrade token for "+g.GatewayID+" signed with its secret on "+req.String(), "%s: %v", h.DescribeToken(tok), err)
	}
}
