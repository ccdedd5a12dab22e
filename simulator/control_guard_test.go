package simulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// rawCtl sends one request to the control API over the server's real
// loopback listener, with exactly the headers given ("Host" sets the Host
// header; a path starting with / is taken from the root), and returns the status and the {"error"} text.
func rawCtl(t *testing.T, s *simulator.Server, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	url := s.URL() + simulator.ControlPrefix + path
	if strings.HasPrefix(path, "/") {
		url = s.URL() + path
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e contract.ErrorBody
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

// A web page can POST text/plain or form bodies to any origin without a
// preflight; the control API must not act on them (issue 11 finding 5).
func TestControlRefusesBodiesNotDeclaredJSON(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", InstanceID: "i1"})
	ev := `{"gatewayId":"gw1","event":` + string(event("discord", "c1", "csrf")) + `}`
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		code, msg := rawCtl(t, s, "POST", "inbound", map[string]string{"Content-Type": ct}, ev)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(msg, "Content-Type") {
			t.Errorf("inbound with Content-Type %q: %d %q, want 415 naming Content-Type", ct, code, msg)
		}
		if code, _ := rawCtl(t, s, "POST", "reset", map[string]string{"Content-Type": ct}, "{}"); code != http.StatusUnsupportedMediaType {
			t.Errorf("reset with Content-Type %q: %d, want 415", ct, code)
		}
	}
	if n := len(s.Buffer("i1")); n != 0 {
		t.Fatalf("a refused inject was buffered anyway: %d entries", n)
	}
	if _, ok := s.Gateway("gw1"); !ok {
		t.Fatal("a refused reset dropped the gateway anyway")
	}
	// JSON with parameters is JSON; a bodiless POST needs no type.
	if code, msg := rawCtl(t, s, "POST", "inbound", map[string]string{"Content-Type": "application/json; charset=utf-8"}, ev); code != 200 {
		t.Fatalf("JSON inject: %d %s", code, msg)
	}
	if code, msg := rawCtl(t, s, "POST", "reset", nil, ""); code != 200 {
		t.Fatalf("bodiless reset: %d %s", code, msg)
	}
}

// DNS rebinding: a page on evil.example whose name now resolves to
// 127.0.0.1 reaches the listener with Host: evil.example.
func TestControlChecksHostAndOriginOnLoopback(t *testing.T) {
	s := start(t, simulator.Options{ControlToken: "ctl-token"})
	port := s.URL()[strings.LastIndex(s.URL(), ":"):]
	auth := "Bearer ctl-token"
	for _, tc := range []struct {
		host, origin string
		want         int
		names        string
	}{
		{host: "127.0.0.1" + port, want: 200},
		{host: "localhost" + port, want: 200},
		{host: "LOCALHOST.", want: 200},
		{host: "console.localhost" + port, want: 200},
		{host: "[::1]" + port, want: 200},
		{host: "127.1.2.3", want: 200},
		{host: "127.0.0.1" + port, origin: "http://127.0.0.1" + port, want: 200},
		{host: "localhost" + port, origin: "http://localhost" + port, want: 200},
		{host: "evil.example" + port, want: 403, names: "Host"},
		{host: "127.0.0.1.evil.example" + port, want: 403, names: "Host"},
		{host: "localhost.evil.example", want: 403, names: "Host"},
		{host: "10.0.0.1" + port, want: 403, names: "Host"},
		{host: "127.0.0.1" + port, origin: "http://evil.example", want: 403, names: "Origin"},
		{host: "127.0.0.1" + port, origin: "http://localhost" + port, want: 403, names: "Origin"},
		{host: "127.0.0.1" + port, origin: "https://127.0.0.1" + port, want: 403, names: "Origin"},
		{host: "127.0.0.1" + port, origin: "null", want: 403, names: "Origin"},
	} {
		hdr := map[string]string{"Host": tc.host, "Authorization": auth}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		code, msg := rawCtl(t, s, "GET", "health", hdr, "")
		if code != tc.want || (tc.names != "" && !strings.HasPrefix(msg, tc.names)) {
			t.Errorf("Host %q Origin %q: %d %q, want %d naming %q", tc.host, tc.origin, code, msg, tc.want, tc.names)
		}
	}
	// The Host check comes before the token: a rebound page learns
	// nothing, not even that a token is wanted.
	if code, msg := rawCtl(t, s, "POST", "reset", map[string]string{"Host": "evil.example" + port}, ""); code != 403 || !strings.HasPrefix(msg, "Host") {
		t.Fatalf("rebound reset without a token: %d %q", code, msg)
	}
	// The contract's own routes are for gateways on any name; only the
	// control API is checked.
	if code, msg := rawCtl(t, s, "POST", contract.PathPolicy, map[string]string{"Host": "evil.example"}, ""); code != 401 {
		t.Fatalf("a contract route with a foreign Host: %d %q, want its own 401", code, msg)
	}
	// A handler mounted in the caller's own server has no loopback
	// listener of relaysim's to judge by and is left to the token.
	req := httptest.NewRequest("GET", "http://evil.example"+simulator.ControlPrefix+"health", nil)
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("handler without a listener: %d %s", rec.Code, rec.Body)
	}
}

// The reproduction: a misspelt field turned a fault meant for 10%
// of one gateway's frames into one dropping every frame of every gateway.
func TestControlRefusesUnknownFields(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	for _, tc := range []struct {
		route, body, names string
	}{
		{"faults", `{"gateway":"gw-w","drop":true,"probabilty":0.1}`, `unknown field "gateway"`},
		{"faults", `{"gatewayId":"gw-w","drop":true,"probabilty":0.1}`, `unknown field "probabilty" (did you mean "probability"?)`},
		{"inbound", `{"gatewayId":"gw1","event":{},"adressed":true}`, `unknown field "adressed"`},
		{"scripts", `[{"op":"send"},{"op":"typing","fail":{"eror":"x"}}]`, `unknown field "eror"`},
		{"gateways", `{"gatewayId":"gw9","platform":["slack"]}`, `unknown field "platform" (did you mean "platforms"?)`},
		{"gateways/gw9/revoke", `{"force":true}`, `unknown field "force"`},
		{"clock", `{"advance":"1s","by":"2s"}`, `unknown field "by"`},
		{"reset", `{"all":true}`, `unknown field "all"`},
		{"inbound", `{"gatewayId":"gw1"} {"more":1}`, "more than one JSON value"},
		{"faults", `{"drop":"yes"}`, "drop: must be a JSON boolean, not string"},
	} {
		code, msg := rawCtl(t, s, "POST", tc.route, jsonCT, tc.body)
		if code != 400 || !strings.Contains(msg, tc.names) {
			t.Errorf("POST %s %s: %d %q, want 400 with %q", tc.route, tc.body, code, msg, tc.names)
		}
	}
	if f := s.Faults(); len(f) != 0 {
		t.Fatalf("a refused fault was added: %+v", f)
	}
	if sc := s.Scripts(); len(sc) != 0 {
		t.Fatalf("part of a refused script list was added: %+v", sc)
	}
	if _, ok := s.Gateway("gw9"); ok {
		t.Fatal("a refused enrollment enrolled")
	}
}

func TestControlRefusesUnknownNames(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"POST", "faults", `{"drop":true,"frameTypes":["inbound","inbund"]}`, `frameTypes: unknown frame type "inbund"`},
		{"POST", "faults", `{"drop":true,"direction":"sideways"}`, `direction: must be in, out or both`},
		{"POST", "faults", `{"delay":"-1s"}`, `delay: must not be negative`},
		{"POST", "scripts", `{"op":"sned"}`, `unknown op "sned"`},
		{"POST", "deviations", `{"deviations":["no-wake","bogus"]}`, `bogus`},
		{"GET", "journal?kind=frame-in", "", `unknown journal kind "frame-in" (known: frame_in, frame_out,`},
		{"GET", "outbound?gatewayID=gw1", "", `unknown query parameter "gatewayID" (this route reads: gatewayId, since)`},
		{"GET", "journal?since=0&knd=buffer", "", `unknown query parameter "knd"`},
		{"GET", "sessions?all=1", "", `unknown query parameter "all" (this route reads: none)`},
	} {
		code, msg := rawCtl(t, s, tc.method, tc.path, jsonCT, tc.body)
		if code != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s %s: %d %q, want 400 with %q", tc.method, tc.path, tc.body, code, msg, tc.want)
		}
	}
	if f := s.Faults(); len(f) != 0 {
		t.Fatalf("a refused fault was added: %+v", f)
	}
	// Known names still work.
	if code, msg := rawCtl(t, s, "GET", "journal?kind=frame_in&since=0", nil, ""); code != 200 {
		t.Fatalf("journal: %d %s", code, msg)
	}
	if code, msg := rawCtl(t, s, "POST", "faults", jsonCT, `{"drop":true,"frameTypes":["inbound"],"direction":"out"}`); code != 200 {
		t.Fatalf("fault: %d %s", code, msg)
	}
}

// A refused frame fault must not leave a switch of the same request
// flipped.
func TestControlFaultRefusedChangesNothing(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	if code, _ := rawCtl(t, s, "POST", "faults", jsonCT, `{"refuseConnections":true,"drop":true,"probability":2}`); code != 400 {
		t.Fatalf("bad probability: %d", code)
	}
	var fl simulator.FaultList
	ctl(t, s, "GET", "faults", nil, &fl)
	if fl.RefusingConnections {
		t.Fatal("refuseConnections was switched on by a refused request")
	}
}
