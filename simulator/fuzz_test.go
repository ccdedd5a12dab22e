package simulator_test

// Fuzz targets for every HTTP handler body of the simulator: the contract
// routes (provision, enroll, policy, media upload and download) and the
// control API routes that decode a body. Each drives the real handler
// through Server.Handler, seeded from package fixtures, and asserts what a
// connector owes any input: no panic, never a 5xx for a bad request, and
// every error answered as the contract's JSON {"error": "..."} naming the
// field when the validator knows it (HTTP-006).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
	"github.com/relaykit/relaykit/simulator"
)

const fuzzIdentity = "fuzz-identity-token"

// fuzzSim builds an unstarted simulator with two tenants' gateways and
// returns it with a valid upgrade token of each.
func fuzzSim(f *testing.F) (*simulator.Server, string, string) {
	f.Helper()
	s, err := simulator.NewUnstarted(simulator.Options{
		IdentityTokens: map[string]string{fuzzIdentity: "tenant-a"},
		PingInterval:   -1,
		JournalSize:    256,
		HistorySize:    64,
		MediaMaxTotal:  64 << 20,
		// One server answers every input of a run: provisioning's rate
		// and gateway caps would turn valid bodies into 429s and 507s.
		ProvisionBurst: -1, ProvisionTotalBurst: -1, MaxGateways: -1, MaxGatewaysPerTenant: -1,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	for _, g := range []simulator.GatewaySpec{
		{GatewayID: "gw-a", Tenant: "tenant-a", Platforms: []string{"discord", "telegram"}},
		{GatewayID: "gw-b", Tenant: "tenant-b", Platforms: []string{"telegram"}},
	} {
		if _, err := s.EnrollGateway(g); err != nil {
			f.Fatal(err)
		}
	}
	ta, _ := s.Token("gw-a", time.Hour)
	tb, _ := s.Token("gw-b", time.Hour)
	return s, ta, tb
}

type answer struct {
	status int
	body   []byte
	header http.Header
}

func serve(s *simulator.Server, method, path, bearer string, body []byte, hdr map[string]string) answer {
	req := httptest.NewRequest(method, "http://relaysim.test/", bytes.NewReader(body))
	req.URL.Path = path
	req.URL.RawPath = ""
	req.RequestURI = ""
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return answer{rec.Code, rec.Body.Bytes(), rec.Header()}
}

// checkAnswer asserts the common obligations and returns the error text
// of an error answer.
func checkAnswer(t *testing.T, a answer, allowed ...int) string {
	t.Helper()
	if a.status >= 500 {
		t.Fatalf("answered %d to a client's input: %s", a.status, a.body)
	}
	ok := false
	for _, s := range allowed {
		ok = ok || a.status == s
	}
	if !ok {
		t.Fatalf("answered %d, want one of %v: %s", a.status, allowed, a.body)
	}
	if a.status < 400 {
		return ""
	}
	var eb struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error == nil || *eb.Error == "" {
		t.Fatalf("error answer %d is not {\"error\": \"...\"} (HTTP-006): %q", a.status, a.body)
	}
	return *eb.Error
}

// namesField asserts a 400 for a body the validator faults names the
// first field it faults.
func namesField(t *testing.T, kind string, body []byte, status int, msg string) {
	t.Helper()
	if status != http.StatusBadRequest {
		return
	}
	vs := contract.ValidateBody(kind, body)
	if len(vs) == 0 || vs[0].Field == "" {
		return
	}
	field := strings.Split(vs[0].Field, ".")[0]
	if !strings.Contains(msg, field) {
		t.Fatalf("400 %q does not name the field %q", msg, field)
	}
}

func seedBodies(f *testing.F, kind string) {
	f.Helper()
	bodies, err := fixtures.BadBodies()
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range bodies {
		if b.Kind == kind {
			f.Add([]byte(b.Bytes))
		}
	}
}

func FuzzProvisionBody(f *testing.F) {
	s, _, _ := fuzzSim(f)
	seedBodies(f, contract.BodyProvisionRequest)
	f.Add([]byte(`{"gatewayId":"gw-new","platform":"discord","botId":"1","gatewayEndpoint":"","routeKeys":["k"],"instanceId":"i-new","wakeUrl":"http://127.0.0.1:1/wake"}`))
	f.Add([]byte(`{"gatewayId":"gw-b","platform":"telegram","botId":"","gatewayEndpoint":"","routeKeys":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := serve(s, http.MethodPost, contract.PathProvision, fuzzIdentity, body, map[string]string{"Content-Type": "application/json"})
		msg := checkAnswer(t, a, 200, 400, 409)
		namesField(t, contract.BodyProvisionRequest, body, a.status, msg)
		if a.status == 200 {
			if vs := contract.ValidateBody(contract.BodyProvisionResponse, a.body); len(vs) > 0 {
				t.Fatalf("provision answered 200 with a bad body %s: %v", a.body, vs)
			}
			if vs := contract.ValidateBody(contract.BodyProvisionRequest, body); len(vs) > 0 {
				t.Fatalf("provision accepted a body the contract faults (%v): %q", vs, body)
			}
		}
	})
}

func FuzzEnrollBody(f *testing.F) {
	s, _, _ := fuzzSim(f)
	seedBodies(f, contract.BodyEnrollRequest)
	tok, err := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "tenant-a"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"enrollmentToken":"` + tok.Token + `","gatewayId":"gw-enrolled"}`))
	f.Add([]byte(`{"enrollmentToken":"et-00","gatewayId":"gw-b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := serve(s, http.MethodPost, contract.PathEnroll, fuzzIdentity, body, nil)
		msg := checkAnswer(t, a, 200, 400, 403, 409)
		namesField(t, contract.BodyEnrollRequest, body, a.status, msg)
		if a.status == 403 && !strings.Contains(msg, "enrollment") {
			t.Fatalf("403 %q does not say what is wrong with the enrollment token", msg)
		}
	})
}

func FuzzPolicyBody(f *testing.F) {
	s, ta, _ := fuzzSim(f)
	seedBodies(f, contract.BodyPolicyRequest)
	f.Add([]byte(`{"platform":"discord","requireAddress":true,"freeResponseScopes":["c1","g1"],"allowOtherBots":false}`))
	f.Add([]byte(`{"platform":"slack","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := serve(s, http.MethodPost, contract.PathPolicy, ta, body, nil)
		msg := checkAnswer(t, a, 200, 400, 413)
		namesField(t, contract.BodyPolicyRequest, body, a.status, msg)
		if a.status == 200 && len(contract.ValidateBody(contract.BodyPolicyRequest, body)) > 0 {
			t.Fatalf("policy accepted a body the contract faults: %q", body)
		}
	})
}

// FuzzMediaUpload uploads arbitrary bytes under arbitrary names and types:
// an accepted upload reads back byte for byte for its tenant only.
func FuzzMediaUpload(f *testing.F) {
	s, ta, tb := fuzzSim(f)
	f.Add([]byte("hello"), "a.txt", "text/plain")
	f.Add([]byte{}, "", "")
	f.Add([]byte{0, 0xff, '\n'}, "../../etc/passwd\r\nX-Evil: 1", "image/png; charset=\"x\"")
	f.Fuzz(func(t *testing.T, data []byte, name, ctype string) {
		hdr := map[string]string{}
		if name != "" && !strings.ContainsAny(name, "\r\n\x00") {
			hdr[contract.HeaderMediaFilename] = name
		}
		if ctype != "" && !strings.ContainsAny(ctype, "\r\n\x00") {
			hdr["Content-Type"] = ctype
		}
		a := serve(s, http.MethodPost, contract.PathMedia, ta, data, hdr)
		checkAnswer(t, a, 200, 400)
		if a.status == 400 {
			if len(data) != 0 {
				t.Fatalf("a non-empty upload was refused: %s", a.body)
			}
			return
		}
		var up contract.MediaUploadResponse
		if err := json.Unmarshal(a.body, &up); err != nil || len(contract.ValidateBody(contract.BodyMediaUploadResponse, a.body)) > 0 {
			t.Fatalf("upload answer %s breaks HTTP-005", a.body)
		}
		got := serve(s, http.MethodGet, contract.PathMedia+"/"+up.ID, ta, nil, nil)
		if got.status != 200 || !bytes.Equal(got.body, data) {
			t.Fatalf("read back %d %q, want 200 %q", got.status, got.body, data)
		}
		if cd := got.header.Get("Content-Disposition"); strings.ContainsAny(cd, "\r\n") {
			t.Fatalf("Content-Disposition carries a line break: %q", cd)
		}
		other := serve(s, http.MethodGet, contract.PathMedia+"/"+up.ID, tb, nil, nil)
		checkAnswer(t, other, 404)
	})
}

// FuzzMediaDownloadPath requests arbitrary media ids: only an id that was
// issued to the caller's tenant is served; everything else is a JSON 404
// (or 401 for a bearer it cannot read), never a redirect or a 5xx.
func FuzzMediaDownloadPath(f *testing.F) {
	s, ta, _ := fuzzSim(f)
	up := serve(s, http.MethodPost, contract.PathMedia, ta, []byte("known"), nil)
	var m contract.MediaUploadResponse
	json.Unmarshal(up.body, &m)
	for _, p := range []string{m.ID, strings.ToUpper(m.ID), m.ID[:31], "../provision", "..%2F" + m.ID, m.ID + "/", "/" + m.ID, "%00", "", ".", "..", m.ID + "%2F"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if strings.ContainsAny(id, "?#") {
			return // a query or fragment is not part of the path
		}
		a := serve(s, http.MethodGet, contract.PathMedia+"/"+id, ta, nil, nil)
		if a.status == 200 {
			if id != m.ID {
				t.Fatalf("id %q served the media of %q", id, m.ID)
			}
			return
		}
		checkAnswer(t, a, 404, 405)
	})
}

// FuzzControlBody posts arbitrary bodies to every control route that
// decodes one: bad input is a 4xx with a JSON error, never a 5xx.
func FuzzControlBody(f *testing.F) {
	s, _, _ := fuzzSim(f)
	routes := []string{"gateways", "enrollment-tokens", "inbound", "interrupt", "passthrough", "scripts", "faults",
		"clock", "deviations", "sessions/gw-a/close", "gateways/gw-a/rotate", "media"}
	golden, err := fixtures.GoldenFrames()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range golden {
		if g.Type == contract.TypeInbound {
			var fr struct {
				Event json.RawMessage `json:"event"`
			}
			json.Unmarshal(g.Value, &fr)
			f.Add(uint8(2), []byte(`{"gatewayId":"gw-a","event":`+string(fr.Event)+`}`))
		}
	}
	f.Add(uint8(0), []byte(`{"gatewayId":"gw-x","platforms":["slack"],"tenant":"t","instanceId":"i"}`))
	f.Add(uint8(1), []byte(`{"tenant":"tenant-a","ttl":"1h","platforms":["slack"]}`))
	f.Add(uint8(2), []byte(`{"gatewayId":"gw-a","event":{"text":"hi","source":{"platform":"discord","chat_id":"c","chat_type":"dm","user_id":"u"}}}`))
	f.Add(uint8(2), []byte(`{"gatewayId":"gw-b","event":{"source":{"platform":"discord"}},"unchecked":true}`))
	f.Add(uint8(3), []byte(`{"gatewayId":"gw-a","sessionKey":"agent:main:discord:dm:c"}`))
	f.Add(uint8(4), []byte(`{"gatewayId":"gw-a","forward":{"platform":"discord","botId":"b","method":"POST","path":"/i","headers":[["a","b"]],"bodyB64":"e30="}}`))
	f.Add(uint8(5), []byte(`[{"op":"send","fail":{"error":"x"},"delay":"1s","times":1},{"neverAnswer":true}]`))
	f.Add(uint8(6), []byte(`{"direction":"out","drop":true,"probability":0.5,"times":2,"delay":"-1s"}`))
	f.Add(uint8(7), []byte(`{"advance":"30s","set":1e300}`))
	f.Add(uint8(8), []byte(`{"deviations":["no-wake","bogus"]}`))
	f.Add(uint8(9), []byte(`{"code":4401,"reason":"expired"}`))
	f.Add(uint8(9), []byte(`{"code":99999,"reason":"`+strings.Repeat("x", 200)+`"}`))
	f.Add(uint8(10), []byte(`{"secret":""}`))
	f.Add(uint8(11), []byte(`{"gatewayId":"gw-a","filename":"f.txt","contentType":"text/plain","dataB64":"aGk="}`))
	f.Add(uint8(11), []byte(`{"gatewayId":"gw-a","dataB64":"a"}`))
	f.Fuzz(func(t *testing.T, r uint8, body []byte) {
		route := routes[int(r)%len(routes)]
		if route == "deviations" || route == "gateways/gw-a/rotate" {
			// Changing deviations or gw-a's secret would change what
			// the other inputs test; decode them but skip the effect.
			var v map[string]any
			if json.Unmarshal(body, &v) == nil {
				return
			}
		}
		a := serve(s, http.MethodPost, simulator.ControlPrefix+route, "", body, map[string]string{"Content-Type": "application/json"})
		if a.status == 200 {
			if !json.Valid(a.body) {
				t.Fatalf("POST %s answered 200 with a non-JSON body %q", route, a.body)
			}
			return
		}
		checkAnswer(t, a, 400, 404, 409)
	})
}
