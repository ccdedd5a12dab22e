package pier

import (
	"net/http"
	"strings"
	"testing"
)

func TestControlHealth(t *testing.T) {
	b := newBench(t, Options{})
	var h map[string]any
	if st := b.call(http.MethodGet, "/health", nil, &h); st != 200 {
		t.Fatalf("HTTP %d", st)
	}
	if h["manualClock"] != false || len(h["features"].([]any)) != 0 || len(h["platforms"].([]any)) != 2 {
		t.Fatalf("health %v: two platforms, no clock, no optional feature", h)
	}
}

func TestControlEnrollValidation(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(map[string]any{"gatewayId": "gw:with:colons"})
	if g.InstanceID != g.GatewayID || g.Tenant != DefaultTenant || !strings.HasPrefix(g.Secret, "ps_") || len(g.Platforms) != 2 {
		t.Fatalf("enrolled %+v", g)
	}
	c := b.connect(g, PlatformPier)
	c.quiet()
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
		field  string
	}{
		"no id":          {map[string]any{}, 400, "gatewayId"},
		"again":          {map[string]any{"gatewayId": "gw:with:colons"}, 409, "gatewayId"},
		"foreign plat":   {map[string]any{"gatewayId": "g2", "platforms": []string{"telegram"}}, 400, "platforms"},
		"wake":           {map[string]any{"gatewayId": "g3", "wakeUrl": "http://x/wake"}, 400, "wakeUrl"},
		"platforms type": {map[string]any{"gatewayId": "g4", "platforms": "pier"}, 400, "platforms"},
	} {
		var out map[string]string
		st := b.call(http.MethodPost, "/gateways", tc.body, &out)
		if st != tc.status || !strings.Contains(out["error"], tc.field) {
			t.Errorf("%s: HTTP %d %v, want %d naming %q", name, st, out, tc.status, tc.field)
		}
	}
	for _, path := range []string{"/gateways/nope/rotate", "/gateways/nope/revoke"} {
		if st := b.call(http.MethodPost, path, map[string]any{}, nil); st != 404 {
			t.Errorf("%s: HTTP %d, want 404", path, st)
		}
	}
	for _, route := range [][2]string{{http.MethodGet, "/buffers/x"}, {http.MethodPost, "/clock"}, {http.MethodPost, "/faults"}, {http.MethodPost, "/scripts"}} {
		var out map[string]string
		if st := b.call(route[0], route[1], map[string]any{}, &out); st != 404 || out["error"] == "" {
			t.Errorf("%s %s: HTTP %d %v; pier serves only the minimum testee routes", route[0], route[1], st, out)
		}
	}
}

func TestControlToken(t *testing.T) {
	b := newBench(t, Options{ControlToken: "ctl"})
	var out map[string]string
	if st := b.call(http.MethodGet, "/health", nil, &out); st != 401 || out["error"] == "" {
		t.Fatalf("HTTP %d %v, want 401 without the control token", st, out)
	}
	req, _ := http.NewRequest(http.MethodGet, b.srv.ControlURL()+"/health", nil)
	req.Header.Set("Authorization", "Bearer ctl")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d with the token", resp.StatusCode)
	}
}

func TestBufferBound(t *testing.T) {
	b := newBench(t, Options{MaxBuffered: 2})
	g := b.enroll(nil)
	b.inject(g, PlatformPier, "c", "1")
	b.inject(g, PlatformPier, "c", "2")
	var out map[string]string
	st := b.call(http.MethodPost, "/inbound", map[string]any{"gatewayId": g.GatewayID,
		"event": map[string]any{"source": map[string]any{"platform": PlatformPier, "chat_id": "c"}}}, &out)
	if st != 507 || !strings.Contains(out["error"], "full") {
		t.Fatalf("HTTP %d %v, want 507 when the buffer is full", st, out)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{Deviation: "no-such-bug"}, {NoHelloAfter: 31e9}, {HelloWindow: 40e9}} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
