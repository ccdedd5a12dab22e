package pier

import (
	"net/http"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

func TestDescriptorsPerHello(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c, _ := b.dial(b.token(g))
	c.hello(PlatformOps)
	c.hello(PlatformPier)
	ops := c.expect("descriptor")["descriptor"].(map[string]any)
	pr := c.expect("descriptor")["descriptor"].(map[string]any)
	if ops["platform"] != PlatformOps || pr["platform"] != PlatformPier {
		t.Fatalf("descriptors out of hello order: %v, %v", ops["platform"], pr["platform"])
	}
	if _, has := ops["supported_ops"]; has {
		t.Error("pier-ops advertises the implicit legacy set: no supported_ops")
	}
	if pr["len_unit"] != "utf16" || ops["len_unit"] != "chars" || pr["max_message_length"] != float64(1500) {
		t.Errorf("descriptor values: %v / %v", pr, ops)
	}
	for _, d := range []map[string]any{ops, pr} {
		raw := frame(map[string]any{"type": "descriptor", "descriptor": d})
		if vs := contract.ValidateFrame(raw); len(vs) > 0 {
			t.Errorf("descriptor %v: %v", d["platform"], vs)
		}
	}
	c.hello(PlatformPier)
	if d := c.expect("descriptor")["descriptor"].(map[string]any); d["platform"] != PlatformPier {
		t.Errorf("a repeated hello gets its own descriptor (HS-004): %v", d)
	}
	c.quiet()
}

func TestUnfrontedHelloGetsErrorFrameThenClose(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(map[string]any{"platforms": []string{PlatformPier}})
	c, _ := b.dial(b.token(g))
	c.hello(PlatformOps)
	c.send(map[string]any{"type": "hello", "botId": ""})
	for i := 0; i < 2; i++ {
		if f := c.expect("error"); f["code"] != "platform_not_fronted" {
			t.Errorf("error frame %v", f)
		}
	}
	if err := b.clk.WaitForTimers(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultHelloWindow)
	code, reason, fs := c.closed()
	if code != 1008 || reason != "platform not fronted" {
		t.Fatalf("close %d %q, want 1008 \"platform not fronted\" (HS-014)", code, reason)
	}
	if len(fs) != 1 || fs[0]["type"] != "error" {
		t.Fatalf("want one error frame before the close, got %v", fs)
	}
}

func TestUnfrontedBesideFrontedStaysOpen(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(map[string]any{"platforms": []string{PlatformPier}})
	c, _ := b.dial(b.token(g))
	c.hello("telegram")
	c.hello(PlatformPier)
	c.expect("error")
	c.expect("descriptor")
	b.clk.Advance(time.Minute)
	c.quiet()
}

func TestNoHelloClosed(t *testing.T) {
	b := newBench(t, Options{PingInterval: -1})
	g := b.enroll(nil)
	c, _ := b.dial(b.token(g))
	if err := b.clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultNoHelloAfter)
	code, reason, fs := c.closed()
	if code != 1008 || reason != "no hello" || len(fs) != 1 || fs[0]["type"] != "error" {
		t.Fatalf("close %d %q after %v, want an error frame then 1008 \"no hello\" (HS-017)", code, reason, fs)
	}
}

func TestTokenRefusals(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	now := b.clk.Now()
	for name, tc := range map[string]struct {
		tok    string
		reason string
	}{
		"missing":         {"", "unauthorized"},
		"malformed":       {"not a token", "unauthorized"},
		"wrong secret":    {contract.MintToken(g.GatewayID, "nope", now.Add(time.Hour).Unix()), "unauthorized"},
		"unknown gateway": {contract.MintToken("gw-nobody", g.Secret, now.Add(time.Hour).Unix()), "unauthorized"},
		"expired":         {contract.MintToken(g.GatewayID, g.Secret, now.Unix()-1), "expired"},
	} {
		c, st := b.dial(tc.tok)
		if c == nil {
			t.Fatalf("%s: HTTP %d; a refusal completes the upgrade (AUTH-010)", name, st)
		}
		c.try(map[string]any{"type": "hello", "platform": PlatformPier, "botId": ""})
		c.try(map[string]any{"type": "outbound", "requestId": "r1", "action": send(DefaultKnownChat, "must not be sent")})
		code, reason, fs := c.closed()
		if code != 4401 || reason != tc.reason || len(fs) > 0 {
			t.Errorf("%s: close %d %q after %v, want 4401 %q and no frame (AUTH-011)", name, code, reason, fs, tc.reason)
		}
	}
	for name, exp := range map[string]int64{"exp == now": now.Unix(), "exp 0": 0} {
		c, _ := b.dial(contract.MintToken(g.GatewayID, g.Secret, exp))
		if c == nil {
			t.Fatalf("%s: refused", name)
		}
		c.handshake(PlatformPier)
		b.hangUp(c)
	}
}

func TestRotationKeepsPreviousSecret(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	var rotated gatewayView
	if st := b.call(http.MethodPost, "/gateways/"+g.GatewayID+"/rotate", map[string]any{"secret": "new-one"}, &rotated); st != 200 || rotated.Secret != "new-one" {
		t.Fatalf("rotate: HTTP %d %+v", st, rotated)
	}
	exp := b.clk.Now().Add(time.Hour).Unix()
	for _, sec := range []string{"new-one", g.Secret} {
		c, _ := b.dial(contract.MintToken(g.GatewayID, sec, exp))
		c.handshake(PlatformPier)
		b.hangUp(c)
	}
	b.clk.Advance(DefaultRotationWindow + time.Second)
	c, _ := b.dial(contract.MintToken(g.GatewayID, g.Secret, b.clk.Now().Add(time.Hour).Unix()))
	if code, reason, _ := c.closed(); code != 4401 || reason != "unauthorized" {
		t.Fatalf("the previous secret after the window: close %d %q", code, reason)
	}
}

func TestRevokeClosesLiveSocket4401(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	tok := b.token(g)
	c := b.connect(g, PlatformPier)
	if st := b.call(http.MethodPost, "/gateways/"+g.GatewayID+"/revoke", map[string]any{}, nil); st != 200 {
		t.Fatalf("revoke: HTTP %d", st)
	}
	code, reason, fs := c.closed()
	if code != 4401 || reason != "unauthorized" || len(fs) > 0 {
		t.Fatalf("revoked live socket: close %d %q after %v, want 4401 \"unauthorized\" and no frame", code, reason, fs)
	}
	c2, _ := b.dial(tok)
	if code, reason, _ := c2.closed(); code != 4401 || reason != "unauthorized" {
		t.Fatalf("revoked token: close %d %q", code, reason)
	}
}

func TestSecondSocketRejectedDuplicate(t *testing.T) {
	b := newBench(t, Options{DuplicateGrace: time.Millisecond})
	g := b.enroll(nil)
	first := b.connect(g, PlatformPier)
	second, st := b.dial(b.token(g))
	if second == nil {
		t.Fatalf("HTTP %d; RC-002 never refuses with HTTP", st)
	}
	code, reason, fs := second.closed()
	if code != 4409 || reason != "duplicate" || len(fs) != 1 || fs[0]["code"] != "duplicate" {
		t.Fatalf("second socket: close %d %q after %v, want an error frame then 4409 \"duplicate\"", code, reason, fs)
	}
	first.quiet()
}

func TestDuplicateGraceLetsAReconnectThrough(t *testing.T) {
	b := newBench(t, Options{DuplicateGrace: testkit.Wait})
	g := b.enroll(nil)
	first := b.connect(g, PlatformPier)
	// Close without waiting for pier to notice: the grace covers the gap.
	_ = first.ws.CloseNow()
	c := b.connect(g, PlatformPier)
	c.quiet()
}

func TestCapacityShed1013(t *testing.T) {
	b := newBench(t, Options{MaxSockets: 1})
	g1, g2 := b.enroll(nil), b.enroll(nil)
	b.connect(g1, PlatformPier)
	c, _ := b.dial(b.token(g2))
	code, reason, fs := c.closed()
	if code != 1013 || reason == "" || len(fs) != 1 || fs[0]["type"] != "error" {
		t.Fatalf("close %d %q after %v, want an error frame then 1013 (RC-003)", code, reason, fs)
	}
}

func TestRelayHTTPErrors(t *testing.T) {
	b := newBench(t, Options{})
	for path, want := range map[string]int{"/relay": 426, "/relay/policy": 404, "/": 404} {
		resp, err := http.Get(b.srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want %d JSON", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}
	g := b.enroll(nil)
	if c, st := b.dial(b.token(g), dialOpts{path: "/relay/ws"}); c != nil || st != 404 {
		t.Errorf("upgrade at /relay/ws: %d, want 404", st)
	}
}

func TestCloseSendsShuttingDown(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier)
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	code, reason, fs := c.closed()
	if code != 1001 || reason != "shutting down" || len(fs) != 1 || fs[0]["type"] != "error" {
		t.Fatalf("close %d %q after %v, want an error frame then 1001 \"shutting down\"", code, reason, fs)
	}
}
