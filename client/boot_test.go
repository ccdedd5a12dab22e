package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// httpRec records requests to one route.
type httpRec struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	header http.Header
	body   map[string]any
	raw    string
}

func (h *httpRec) add(r *http.Request) recorded {
	b, _ := io.ReadAll(r.Body)
	rec := recorded{header: r.Header.Clone(), raw: string(b)}
	_ = json.Unmarshal(b, &rec.body)
	h.mu.Lock()
	h.reqs = append(h.reqs, rec)
	h.mu.Unlock()
	return rec
}

func (h *httpRec) all() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

// record serves path on tc: every request is recorded and answered 200
// with answer.
func record(tc *connector, path string, answer any) *httpRec {
	var rec httpRec
	tc.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeJSON(w, 200, answer)
	})
	return &rec
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

const secret64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func bootOpts(tc *connector) client.Options {
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.GatewayID, o.Config.Secret = "", ""
	return o
}

func boot(t *testing.T, o client.Options) (*client.Client, client.BootReport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, rep, err := client.Boot(ctx, o)
	if c != nil {
		t.Cleanup(func() { closeClient(t, c) })
	}
	if err != nil {
		t.Fatalf("Boot: %v\n%v", err, rep.Steps)
	}
	return c, rep
}

func outcome(t *testing.T, rep client.BootReport, step, platform string) client.BootStep {
	t.Helper()
	s, ok := rep.Step(step, platform)
	if !ok {
		t.Fatalf("no %s[%s] step in %v", step, platform, rep.Steps)
	}
	return s
}

func TestBootProvisionsEachPlatformToleratingFailure(t *testing.T) {
	tc := newConnector(t)
	var prov, pol httpRec
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
		rec := prov.add(r)
		if rec.body["platform"] == "discord" {
			writeJSON(w, 503, contract.ErrorBody{Error: "busy"})
			return
		}
		writeJSON(w, 200, contract.ProvisionResponse{Secret: secret64, DeliveryKey: "dk", Tenant: "t1", GatewayID: "gw-prov", RouteKeys: []string{}})
	})
	tc.mux.HandleFunc("/relay/policy", func(w http.ResponseWriter, r *http.Request) {
		pol.add(r)
		writeJSON(w, 200, contract.PolicyResponse{OK: true})
	})
	o := bootOpts(tc)
	o.Config.GatewayID = "gw-mine"
	o.Config.IdentityToken = "id-token"
	o.Config.Platforms = []client.Identity{{Platform: "discord", BotID: "d1"}, {Platform: "telegram", BotID: "t1"}}
	c, rep := boot(t, o)

	if s := outcome(t, rep, client.StepProvision, "discord"); s.Outcome != client.OutcomeFailed || !strings.Contains(s.Err.Error(), "HTTP 503: busy") {
		t.Errorf("provision discord = %v", s)
	}
	if s := outcome(t, rep, client.StepProvision, "telegram"); s.Outcome != client.OutcomeOK {
		t.Errorf("provision telegram = %v", s)
	}
	if s := outcome(t, rep, client.StepEnroll, ""); s.Outcome != client.OutcomeSkipped {
		t.Errorf("enroll = %v", s)
	}
	if s := outcome(t, rep, client.StepPolicy, "discord"); s.Outcome != client.OutcomeOK {
		t.Errorf("policy discord = %v", s)
	}
	if s := outcome(t, rep, client.StepPolicy, "telegram"); s.Outcome != client.OutcomeSkipped {
		t.Errorf("policy telegram = %v", s)
	}
	if s := outcome(t, rep, client.StepConnect, ""); s.Outcome != client.OutcomeOK {
		t.Errorf("connect = %v", s)
	}

	reqs := prov.all()
	if len(reqs) != 2 {
		t.Fatalf("%d provision requests, want one per platform", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("Authorization") != "Bearer id-token" || r.header.Get("Content-Type") != "application/json" || r.header.Get("Accept") != "application/json" {
			t.Errorf("headers = %v", r.header)
		}
		if _, ok := r.body["instanceId"]; ok {
			t.Errorf("instanceId sent though unset: %s", r.raw)
		}
		if _, ok := r.body["wakeUrl"]; ok {
			t.Errorf("wakeUrl sent though unset: %s", r.raw)
		}
		if vs := contract.ValidateBody(contract.BodyProvisionRequest, []byte(r.raw)); len(vs) > 0 {
			t.Errorf("provision body %s: %v", r.raw, vs)
		}
	}
	want := map[string]any{"gatewayId": "gw-mine", "platform": "telegram", "botId": "t1", "gatewayEndpoint": "", "routeKeys": []any{}}
	if d := cmp.Diff(want, reqs[1].body); d != "" {
		t.Errorf("telegram body:\n%s", d)
	}
	if c.GatewayID() != "gw-prov" {
		t.Errorf("gateway id = %q, want the provisioned one", c.GatewayID())
	}
	// The dial and the policy POST authenticate with the provisioned secret.
	for _, a := range append(tc.Authz(), pol.all()[0].header.Get("Authorization")) {
		claims, err := contract.VerifyToken(strings.TrimPrefix(a, "Bearer "), []string{secret64}, epoch)
		if err != nil || claims.GatewayID != "gw-prov" {
			t.Errorf("bearer %q: %v %+v", a, err, claims)
		}
	}
	p := pol.all()[0]
	if d := cmp.Diff(map[string]any{"platform": "discord", "requireAddress": false, "freeResponseScopes": []any{}, "allowOtherBots": false}, p.body); d != "" {
		t.Errorf("policy body:\n%s", d)
	}
}

func TestBootProvisionSendsOptionalFieldsWhenSet(t *testing.T) {
	tc := newConnector(t)
	prov := record(tc, "/relay/provision", contract.ProvisionResponse{Secret: secret64, GatewayID: "gw-x"})
	o := bootOpts(tc)
	o.Config.IdentityToken = "id"
	o.Config.InstanceID = "inst-1"
	o.Config.WakeURL = "https://wake.example/w"
	o.Config.Endpoint = "https://agent.example"
	o.Config.RouteKeys = []string{"k1", "k2"}
	boot(t, o)
	b := prov.all()[0].body
	if b["instanceId"] != "inst-1" || b["wakeUrl"] != "https://wake.example/w" || b["gatewayEndpoint"] != "https://agent.example" {
		t.Fatalf("body = %v", b)
	}
	if d := cmp.Diff([]any{"k1", "k2"}, b["routeKeys"]); d != "" {
		t.Fatal(d)
	}
	if b["platform"] != "relay" {
		t.Fatalf("platform = %v", b["platform"])
	}
}

func TestBootPinnedSecretSkipsProvisioning(t *testing.T) {
	tc := newConnector(t)
	var prov httpRec
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) { prov.add(r) })
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.IdentityToken = "id"
	_, rep := boot(t, o)
	if s := outcome(t, rep, client.StepProvision, ""); s.Outcome != client.OutcomeSkipped {
		t.Fatalf("provision = %v", s)
	}
	if len(prov.all()) != 0 {
		t.Fatal("provisioned despite a pinned secret")
	}
}

func TestBootProvisionFailuresAreSoft(t *testing.T) {
	tc := newConnector(t)
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"gatewayId": "gw-x", "deliveryKey": "dk"}) // no secret
	})
	// No identity token at all.
	_, rep := boot(t, bootOpts(tc))
	if s := outcome(t, rep, client.StepProvision, ""); s.Outcome != client.OutcomeFailed || !strings.Contains(s.Err.Error(), "identity token") {
		t.Fatalf("provision without identity = %v", s)
	}
	if s := outcome(t, rep, client.StepPolicy, ""); s.Outcome != client.OutcomeSkipped {
		t.Fatalf("policy without secret = %v", s)
	}
	if tc.Authz()[0] != "" {
		t.Fatal("dialled with a bearer without credentials")
	}
	// A 2xx answer without a secret is a failure, and leaves no credentials.
	tc2 := newConnector(t)
	tc2.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"gatewayId": "gw-x", "deliveryKey": "dk"})
	})
	o := bootOpts(tc2)
	o.Config.IdentityToken = "id"
	c, rep := boot(t, o)
	if s := outcome(t, rep, client.StepProvision, ""); s.Outcome != client.OutcomeFailed || !strings.Contains(s.Err.Error(), "no secret") {
		t.Fatalf("provision without secret = %v", s)
	}
	if c.GatewayID() != "" || tc2.Authz()[0] != "" {
		t.Fatal("credentials kept from a failed provision")
	}
}

// provisionElsewhere starts a server on another origin that records the
// requests it gets and answers each as a successful provision.
func provisionElsewhere(t *testing.T) (*httptest.Server, *httpRec) {
	t.Helper()
	var rec httpRec
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeJSON(w, 200, contract.ProvisionResponse{Secret: secret64, GatewayID: "gw-x"})
	}))
	t.Cleanup(srv.Close)
	return srv, &rec
}

func TestProvisionNeverForwardsTheBearerAcrossOrigins(t *testing.T) {
	elsewhere, other := provisionElsewhere(t)
	tc := newConnector(t)
	var same httpRec
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hop") == "" {
			http.Redirect(w, r, "/relay/provision?hop=1", http.StatusTemporaryRedirect)
			return
		}
		same.add(r)
		http.Redirect(w, r, elsewhere.URL+"/relay/provision", http.StatusTemporaryRedirect)
	})
	o := bootOpts(tc)
	o.Config.IdentityToken = "id-token"
	boot(t, o)
	if got := same.all()[0].header.Get("Authorization"); got != "Bearer id-token" {
		t.Errorf("same-origin redirect dropped the bearer: %q", got)
	}
	reqs := other.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests reached the other origin", len(reqs))
	}
	if got := reqs[0].header.Get("Authorization"); got != "" {
		t.Fatalf("bearer forwarded to another origin: %q", got)
	}
}

func TestBootEnroll(t *testing.T) {
	tc := newConnector(t)
	var enr, prov httpRec
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) { prov.add(r) })
	tc.mux.HandleFunc("/relay/enroll", func(w http.ResponseWriter, r *http.Request) {
		enr.add(r)
		writeJSON(w, 200, contract.EnrollResponse{Secret: secret64, DeliveryKey: "dk", Tenant: "t", GatewayID: "gw-enrolled"})
	})
	o := bootOpts(tc)
	o.Config.GatewayID = "gw-me"
	o.Config.EnrollToken = "enroll-1"
	o.Config.IdentityToken = "id"
	c, rep := boot(t, o)
	if s := outcome(t, rep, client.StepProvision, ""); s.Outcome != client.OutcomeSkipped {
		t.Errorf("provision = %v", s)
	}
	if s := outcome(t, rep, client.StepEnroll, ""); s.Outcome != client.OutcomeOK {
		t.Fatalf("enroll = %v", s)
	}
	if len(prov.all()) != 0 {
		t.Error("provisioned on the enroll path")
	}
	r := enr.all()[0]
	if d := cmp.Diff(map[string]any{"enrollmentToken": "enroll-1", "gatewayId": "gw-me"}, r.body); d != "" {
		t.Error(d)
	}
	if c.GatewayID() != "gw-enrolled" {
		t.Errorf("gateway id = %s", c.GatewayID())
	}
	// A refused enrollment token fails softly with a clear reason.
	tc2 := newConnector(t)
	tc2.mux.HandleFunc("/relay/enroll", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, contract.ErrorBody{Error: "token used"})
	})
	o = bootOpts(tc2)
	o.Config.EnrollToken = "used"
	_, rep = boot(t, o)
	if s := outcome(t, rep, client.StepEnroll, ""); s.Outcome != client.OutcomeFailed || !strings.Contains(s.Err.Error(), "enrollment token invalid") {
		t.Fatalf("refused enroll = %v", s)
	}
}

func TestBootPolicyFailureNeverBlocks(t *testing.T) {
	tc := newConnector(t)
	tc.mux.HandleFunc("/relay/policy", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, contract.PolicyResponse{OK: true}) // only 200 is success
	})
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.Platforms = []client.Identity{{Platform: "discord"}, {Platform: "relay"}}
	_, rep := boot(t, o)
	if s := outcome(t, rep, client.StepPolicy, "discord"); s.Outcome != client.OutcomeFailed {
		t.Fatalf("policy = %v", s)
	}
	if s := outcome(t, rep, client.StepPolicy, "relay"); s.Outcome != client.OutcomeSkipped {
		t.Fatalf("relay policy = %v", s)
	}
	if s := outcome(t, rep, client.StepConnect, ""); s.Outcome != client.OutcomeOK {
		t.Fatalf("connect = %v", s)
	}
}

func TestBootIdPClientCredentials(t *testing.T) {
	var tokReq httpRec
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		tokReq.mu.Lock()
		tokReq.reqs = append(tokReq.reqs, recorded{raw: r.Form.Encode()})
		tokReq.mu.Unlock()
		writeJSON(w, 200, map[string]string{"access_token": "from-idp", "token_type": "bearer"})
	}))
	defer idp.Close()
	tc := newConnector(t)
	prov := record(tc, "/relay/provision", contract.ProvisionResponse{Secret: secret64, GatewayID: "gw-x"})
	o := bootOpts(tc)
	o.Config.IdP = client.IdP{TokenURL: idp.URL, ClientID: "cid", ClientSecret: "csec", Scope: "relay"}
	boot(t, o)
	if got := prov.all()[0].header.Get("Authorization"); got != "Bearer from-idp" {
		t.Fatalf("provision bearer = %q", got)
	}
	if got := tokReq.all()[0].raw; got != "client_id=cid&client_secret=csec&grant_type=client_credentials&scope=relay" {
		t.Fatalf("token form = %q", got)
	}
}

func TestBootResolvesEnvironment(t *testing.T) {
	tc := newConnector(t)
	env := map[string]string{
		client.EnvURL:       tc.URL() + "/",
		client.EnvID:        "gw-env",
		client.EnvSecret:    secret64,
		client.EnvPlatforms: "telegram",
		client.EnvBotIDs:    `{"telegram":{"botId":"123456"}}`,
	}
	o := client.Options{Clock: clock.NewManual(epoch), PingInterval: -1, Getenv: envFunc(env), ConfigPath: "-"}
	c, rep := boot(t, o)
	if s := outcome(t, rep, client.StepConfig, ""); s.Outcome != client.OutcomeOK {
		t.Fatalf("config = %v", s)
	}
	if c.GatewayID() != "gw-env" || c.Identities()[0].BotID != "123456" {
		t.Fatalf("client = %s %+v", c.GatewayID(), c.Identities())
	}
	_ = time.Second
}

// The boot deviations each break the one HTTP rule they name; the gateway
// suite's HTTP-008, HTTP-011 and HTTP-009 cases catch them.

func TestDevBearerOnRedirect(t *testing.T) {
	elsewhere, other := provisionElsewhere(t)
	tc := newConnector(t)
	tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/relay/provision", http.StatusTemporaryRedirect)
	})
	o := bootOpts(tc)
	o.Config.IdentityToken = "id-token"
	o = withDeviations(t, o, deviation.ClientBearerOnRedirect)
	boot(t, o)
	reqs := other.all()
	if len(reqs) != 1 || reqs[0].header.Get("Authorization") != "Bearer id-token" {
		t.Fatalf("with bearer-on-redirect the other origin should get the bearer: %d requests %v", len(reqs), reqs)
	}
}

func TestDevAcceptSecretlessProvision(t *testing.T) {
	// run boots against a connector whose discord answer has no secret
	// and returns the discord provision step and the first dial's bearer.
	run := func(devs ...deviation.ID) (client.BootStep, string) {
		tc := newConnector(t)
		tc.mux.HandleFunc("/relay/provision", func(w http.ResponseWriter, r *http.Request) {
			rec := (&httpRec{}).add(r)
			if rec.body["platform"] == "discord" {
				writeJSON(w, 200, map[string]any{"gatewayId": "gw-x", "deliveryKey": "dk"}) // no secret
				return
			}
			writeJSON(w, 200, contract.ProvisionResponse{Secret: secret64, GatewayID: "gw-x"})
		})
		o := bootOpts(tc)
		o.Config.IdentityToken = "id"
		o.Config.Platforms = []client.Identity{{Platform: "discord"}, {Platform: "telegram"}}
		o = withDeviations(t, o, devs...)
		c, rep := boot(t, o)
		closeClient(t, c)
		return outcome(t, rep, client.StepProvision, "discord"), tc.Authz()[0]
	}
	step, authz := run()
	if _, err := contract.VerifyToken(strings.TrimPrefix(authz, "Bearer "), []string{secret64}, epoch); step.Outcome != client.OutcomeFailed || err != nil {
		t.Fatalf("conformant: provision discord %v, dial bearer %v; want failed, and a token signed with telegram's secret", step, err)
	}
	step, authz = run(deviation.ClientAcceptSecretlessProvision)
	if step.Outcome != client.OutcomeOK || authz != "" {
		t.Fatalf("deviant: provision discord %v, dial Authorization %q; want ok, and no bearer (the empty secret adopted)", step, authz)
	}
}

func TestDevPolicySecretBearer(t *testing.T) {
	tc := newConnector(t)
	pol := record(tc, "/relay/policy", contract.PolicyResponse{OK: true})
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.Platforms = []client.Identity{{Platform: "discord"}}
	o = withDeviations(t, o, deviation.ClientPolicySecretBearer)
	boot(t, o)
	reqs := pol.all()
	if len(reqs) != 1 || reqs[0].header.Get("Authorization") != "Bearer "+o.Config.Secret {
		t.Fatalf("with policy-secret-bearer the policy bearer should be the raw secret: %d requests", len(reqs))
	}
}

func TestDevEnrollTokenInHeader(t *testing.T) {
	tc := newConnector(t)
	enr := record(tc, "/relay/enroll", contract.EnrollResponse{Secret: secret64, GatewayID: "gw-me"})
	o := bootOpts(tc)
	o.Config.GatewayID = "gw-me"
	o.Config.EnrollToken = "enroll-1"
	o = withDeviations(t, o, deviation.ClientEnrollTokenInHeader)
	boot(t, o)
	r := enr.all()[0]
	if r.header.Get("Authorization") != "Bearer enroll-1" || r.body["enrollmentToken"] != nil {
		t.Fatalf("with enroll-token-in-header: Authorization %q, body %v", r.header.Get("Authorization"), r.body)
	}
}
