package simulator_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

func TestProvision(t *testing.T) {
	s := start(t, simulator.Options{IdentityTokens: map[string]string{"id-acme": "acme", "id-globex": "globex"}})
	url := s.URL() + contract.PathProvision
	body := contract.ProvisionRequest{GatewayID: "gw-p", Platform: "discord", BotID: "b1", RouteKeys: []string{"k1"}, InstanceID: "i-p", WakeURL: "http://127.0.0.1:1/w"}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", url, nil, jsonBody(body), &e); code != 401 || e.Error == "" {
		t.Fatalf("no bearer: %d %+v", code, e)
	}
	if code := httpDo(t, "POST", url, bearerHeader("wrong"), jsonBody(body), &e); code != 401 {
		t.Fatalf("wrong bearer: %d", code)
	}
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), []byte(`{"gatewayId":"gw-p","platform":"discord","botId":"b","gatewayEndpoint":"","routeKeys":"nope"}`), &e); code != 400 || !strings.Contains(e.Error, "routeKeys") {
		t.Fatalf("bad body: %d %+v", code, e)
	}
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), []byte(`{"gatewayId":"gw-p","platform":"discord","botId":"b","gatewayEndpoint":"","routeKeys":[],"instanceId":""}`), &e); code != 400 || !strings.Contains(e.Error, "instanceId") {
		t.Fatalf("empty instanceId: %d %+v", code, e)
	}
	var first contract.ProvisionResponse
	resp := doRaw(t, "POST", url, bearerHeader("id-acme"), jsonBody(body))
	if resp.code != 200 {
		t.Fatalf("provision: %d %s", resp.code, resp.body)
	}
	if vs := contract.ValidateBody(contract.BodyProvisionResponse, resp.body); len(vs) > 0 {
		t.Fatal(vs)
	}
	decode(t, resp.body, &first)
	if first.Tenant != "acme" || first.GatewayID != "gw-p" || len(first.Secret) != 64 || first.DeliveryKey == "" {
		t.Fatalf("response %+v", first)
	}
	// The same gateway for another platform keeps its secret (HTTP-012).
	body.Platform, body.RouteKeys = "telegram", []string{"k2"}
	var second contract.ProvisionResponse
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), jsonBody(body), &second); code != 200 || second.Secret != first.Secret {
		t.Fatalf("second platform: %d %+v", code, second)
	}
	g, _ := s.Gateway("gw-p")
	// The route keys are the latest call's: they replace, never pile up.
	if g.InstanceID != "i-p" || strings.Join(g.Platforms, ",") != "discord,telegram" || strings.Join(g.RouteKeys, ",") != "k2" || g.Secret != "" {
		t.Fatalf("gateway %+v", g)
	}
	// Another tenant cannot take the id.
	if code := httpDo(t, "POST", url, bearerHeader("id-globex"), jsonBody(body), &e); code != 409 {
		t.Fatalf("other tenant: %d", code)
	}
	body.Platform = "myspace"
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), jsonBody(body), &e); code != 400 || !strings.Contains(e.Error, "platform") {
		t.Fatalf("unknown platform: %d %+v", code, e)
	}
	// The provisioned secret authenticates the socket.
	tok := contract.MintTokenTTL("gw-p", first.Secret, time.Now(), time.Minute)
	dialWith(t, s, dialOpts{token: tok}).hello("discord", "telegram")
}

func TestProvisionDevMode(t *testing.T) {
	s := start(t, simulator.Options{DevMode: true})
	var r contract.ProvisionResponse
	body := contract.ProvisionRequest{GatewayID: "gw-x", Platform: "slack", RouteKeys: []string{}}
	if code := httpDo(t, "POST", s.URL()+contract.PathProvision, bearerHeader("anything"), jsonBody(body), &r); code != 200 || r.Tenant != simulator.DefaultTenant {
		t.Fatalf("%d %+v", code, r)
	}
	if code := httpDo(t, "POST", s.URL()+contract.PathProvision, nil, jsonBody(body), nil); code != 401 {
		t.Fatalf("dev mode still needs a bearer: %d", code)
	}
}

func TestEnroll(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, IdentityTokens: map[string]string{"id-acme": "acme", "id-globex": "globex"}})
	url := s.URL() + contract.PathEnroll
	tok, err := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "acme", Platforms: []string{"discord"}})
	if err != nil {
		t.Fatal(err)
	}
	req := contract.EnrollRequest{EnrollmentToken: tok.Token, GatewayID: "gw-e"}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", url, bearerHeader("nope"), jsonBody(req), &e); code != 401 {
		t.Fatalf("bad identity: %d", code)
	}
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), []byte(`{"gatewayId":"gw-e"}`), &e); code != 400 || !strings.Contains(e.Error, "enrollmentToken") {
		t.Fatalf("bad body: %d %+v", code, e)
	}
	if code := httpDo(t, "POST", url, bearerHeader("id-globex"), jsonBody(req), &e); code != 403 {
		t.Fatalf("other tenant: %d", code)
	}
	resp := doRaw(t, "POST", url, bearerHeader("id-acme"), jsonBody(req))
	if resp.code != 200 {
		t.Fatalf("enroll: %d %s", resp.code, resp.body)
	}
	if vs := contract.ValidateBody(contract.BodyEnrollResponse, resp.body); len(vs) > 0 {
		t.Fatal(vs)
	}
	var out contract.EnrollResponse
	decode(t, resp.body, &out)
	if out.Tenant != "acme" || out.GatewayID != "gw-e" || out.Secret == "" {
		t.Fatalf("%+v", out)
	}
	// Single use.
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), jsonBody(req), &e); code != 403 {
		t.Fatalf("reuse: %d", code)
	}
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), jsonBody(contract.EnrollRequest{EnrollmentToken: "et-bogus", GatewayID: "x"}), &e); code != 403 {
		t.Fatalf("invalid: %d", code)
	}
	tok2, _ := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "acme", TTL: time.Minute})
	m.Advance(time.Minute + time.Second)
	if code := httpDo(t, "POST", url, bearerHeader("id-acme"), jsonBody(contract.EnrollRequest{EnrollmentToken: tok2.Token, GatewayID: "y"}), &e); code != 403 || !strings.Contains(e.Error, "expired") {
		t.Fatalf("expired: %d %+v", code, e)
	}
	tokc := contract.MintTokenTTL("gw-e", out.Secret, m.Now(), time.Minute)
	dialWith(t, s, dialOpts{token: tokc}).hello("discord")
}

func TestPolicyRoute(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", InstanceID: "inst", Platforms: []string{"discord"}})
	url := s.URL() + contract.PathPolicy
	good := contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{"a"}}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", url, nil, jsonBody(good), &e); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	expired, _ := s.Token("gw1", time.Second)
	m.Advance(2 * time.Second)
	if code := httpDo(t, "POST", url, bearerHeader(expired), jsonBody(good), &e); code != 401 || e.Error != contract.ReasonExpired {
		t.Fatalf("expired: %d %+v", code, e)
	}
	tok := mustToken(t, s, "gw1")
	if code := httpDo(t, "POST", url, bearerHeader(tok), []byte(`{"platform":"discord","requireAddress":"yes","freeResponseScopes":[],"allowOtherBots":false}`), &e); code != 400 || !strings.Contains(e.Error, "requireAddress") {
		t.Fatalf("bad body: %d %+v", code, e)
	}
	if code := httpDo(t, "POST", url, bearerHeader(tok), jsonBody(contract.PolicyRequest{Platform: "slack", FreeResponseScopes: []string{}}), &e); code != 400 {
		t.Fatalf("unfronted platform: %d", code)
	}
	if p := s.Policy("inst", "discord"); p.RequireAddress || p.AllowOtherBots || p.FreeResponseScopes == nil || len(p.FreeResponseScopes) != 0 {
		t.Fatalf("undeclared policy %+v", p)
	}
	var ok contract.PolicyResponse
	if code := httpDo(t, "POST", url, bearerHeader(tok), jsonBody(good), &ok); code != 200 || !ok.OK {
		t.Fatalf("policy: %d", code)
	}
	if p := s.Policy("inst", "discord"); !p.RequireAddress || p.FreeResponseScopes[0] != "a" {
		t.Fatalf("declared policy %+v", p)
	}
}

func TestMedia(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Tenant: "acme"})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw2", Tenant: "acme"})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "evil", Tenant: "globex"})
	up := s.URL() + contract.PathMedia
	h := bearerHeader(mustToken(t, s, "gw1"))
	h.Set("Content-Type", "image/png")
	h.Set(contract.HeaderMediaFilename, "cat.png")
	if code := httpDo(t, "POST", up, nil, []byte("x"), nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", up, h, nil, &e); code != 400 {
		t.Fatalf("empty: %d", code)
	}
	resp := doRaw(t, "POST", up, h, []byte("PNGDATA"))
	if resp.code != 200 {
		t.Fatalf("upload %d %s", resp.code, resp.body)
	}
	if vs := contract.ValidateBody(contract.BodyMediaUploadResponse, resp.body); len(vs) > 0 {
		t.Fatal(vs)
	}
	var item contract.MediaUploadResponse
	decode(t, resp.body, &item)
	if item.Size != 7 || len(item.ID) != 32 {
		t.Fatalf("%+v", item)
	}
	get := func(gw, id string) (int, string, http.Header) {
		r := doRaw(t, "GET", up+"/"+id, bearerHeader(mustToken(t, s, gw)), nil)
		return r.code, string(r.body), r.header
	}
	// Any bearer of the same tenant gets it.
	if code, body, hdr := get("gw2", item.ID); code != 200 || body != "PNGDATA" || hdr.Get("Content-Type") != "image/png" || !strings.Contains(hdr.Get("Content-Disposition"), "cat.png") {
		t.Fatalf("download %d %q %v", code, body, hdr)
	}
	// Unknown, foreign and expired all look the same (HTTP-020).
	_, unknownBody, _ := get("gw1", strings.Repeat("0", 32))
	for name, gw := range map[string]string{"foreign": "evil"} {
		if code, body, _ := get(gw, item.ID); code != 404 || body != unknownBody {
			t.Fatalf("%s: %d %q vs %q", name, code, body, unknownBody)
		}
	}
	if code := doRaw(t, "GET", up+"/"+item.ID, nil, nil).code; code != 401 {
		t.Fatalf("download without token: %d", code)
	}
	m.Advance(simulator.DefaultMediaTTL - time.Second)
	if code, _, _ := get("gw1", item.ID); code != 200 {
		t.Fatal("expired before its hour")
	}
	m.Advance(2 * time.Second)
	if code, body, _ := get("gw1", item.ID); code != 404 || body != unknownBody {
		t.Fatalf("expired: %d %q", code, body)
	}
}

func TestMediaSizeCap(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	up := s.URL() + contract.PathMedia
	exact := bytes.Repeat([]byte{'x'}, contract.MediaMaxBytes)
	var item contract.MediaUploadResponse
	if code := httpDo(t, "POST", up, bearerHeader(mustToken(t, s, "gw1")), exact, &item); code != 200 || item.Size != contract.MediaMaxBytes {
		t.Fatalf("25 MiB exactly: %d %+v", code, item)
	}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", up, bearerHeader(mustToken(t, s, "gw1")), append(exact, 'y'), &e); code != 413 || e.Error == "" {
		t.Fatalf("one byte over: %d %+v", code, e)
	}
	// A chunked body with no length is cut off at the cap as well.
	req, _ := http.NewRequest("POST", up, io.MultiReader(bytes.NewReader(exact), strings.NewReader("yy")))
	req.Header = bearerHeader(mustToken(t, s, "gw1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked: %d", resp.StatusCode)
	}
}

type rawResp struct {
	code   int
	body   []byte
	header http.Header
}

func doRaw(t *testing.T, method, url string, h http.Header, body []byte) rawResp {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if vs := contract.ValidateBody(contract.BodyError, b); len(vs) > 0 {
			t.Fatalf("%s %s: error body %q breaks HTTP-006: %v", method, url, b, vs)
		}
	}
	return rawResp{resp.StatusCode, b, resp.Header}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
