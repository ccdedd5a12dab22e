package simulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// ctl calls the control API and decodes the JSON answer.
func ctl(t *testing.T, s *simulator.Server, method, path string, body any, out any) int {
	t.Helper()
	var b []byte
	if body != nil {
		b = jsonBody(body)
	}
	return httpDo(t, method, s.URL()+"/_relaysim/"+path, http.Header{"Content-Type": {"application/json"}}, b, out)
}

func TestControlAPI(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})

	var health map[string]any
	if ctl(t, s, "GET", "health", nil, &health) != 200 || health["contractVersion"] != float64(contract.Version) || health["manualClock"] != true ||
		fmt.Sprint(health["features"]) != "[wake passthrough policy media provision enroll]" {
		t.Fatalf("health %v", health)
	}

	var gw struct {
		simulator.Gateway
		Env string `json:"env"`
	}
	if code := ctl(t, s, "POST", "gateways", map[string]any{"gatewayId": "gw1", "platforms": []string{"discord", "telegram"}, "instanceId": "i1"}, &gw); code != 200 || gw.Secret == "" || !strings.Contains(gw.Env, "GATEWAY_RELAY_SECRET="+gw.Secret) {
		t.Fatalf("enroll %d %+v", code, gw)
	}
	if code := ctl(t, s, "POST", "gateways", map[string]any{"gatewayId": "gw1"}, nil); code != 409 {
		t.Fatalf("enroll twice: %d", code)
	}
	// Listing and reading never show a secret.
	for _, path := range []string{"gateways", "gateways/gw1"} {
		var raw json.RawMessage
		ctl(t, s, "GET", path, nil, &raw)
		if strings.Contains(string(raw), gw.Secret) || strings.Contains(string(raw), gw.DeliveryKey) || !strings.Contains(string(raw), "gw1") {
			t.Fatalf("%s: %s", path, raw)
		}
	}

	g := dialWith(t, s, dialOpts{token: contract.MintTokenTTL("gw1", gw.Secret, m.Now(), time.Minute)})
	g.hello("discord")

	var d simulator.Delivery
	if code := ctl(t, s, "POST", "inbound", map[string]any{"gatewayId": "gw1", "event": event("discord", "c1", "hello")}, &d); code != 200 || d.Mode != simulator.DeliveryLive {
		t.Fatalf("inbound %d %+v", code, d)
	}
	g.expect(contract.TypeInbound)
	var e contract.ErrorBody
	if code := ctl(t, s, "POST", "inbound", map[string]any{"gatewayId": "gw1", "event": event("slack", "c1", "x")}, &e); code != 400 || !strings.Contains(e.Error, "event.source.platform") {
		t.Fatalf("unfronted inbound %d %+v", code, e)
	}
	if code := ctl(t, s, "POST", "inbound", map[string]any{"gatewayId": "nobody", "event": event("discord", "c1", "x")}, &e); code != 404 {
		t.Fatalf("unknown gateway %d", code)
	}
	if code := ctl(t, s, "POST", "interrupt", map[string]any{"gatewayId": "gw1", "sessionKey": "agent:main:discord:dm:c1"}, &d); code != 200 || d.Mode != simulator.DeliveryLive {
		t.Fatalf("interrupt %d %+v", code, d)
	}
	if f := g.expect(contract.TypeInterruptInbound).f.(contract.InterruptInbound); f.ChatID != "c1" {
		t.Fatalf("%+v", f)
	}
	fw := map[string]any{"platform": "discord", "botId": "b", "method": "POST", "path": "/i", "headers": [][]string{{"a", "b"}}, "bodyB64": "e30="}
	if code := ctl(t, s, "POST", "passthrough", map[string]any{"gatewayId": "gw1", "forward": fw}, &d); code != 200 || d.Mode != simulator.DeliveryLive {
		t.Fatalf("passthrough %d %+v", code, d)
	}
	g.expect(contract.TypePassthroughForward)
	fw["bodyB64"] = "not base64!"
	if code := ctl(t, s, "POST", "passthrough", map[string]any{"gatewayId": "gw1", "forward": fw}, &e); code != 400 || !strings.Contains(e.Error, "bodyB64") {
		t.Fatalf("bad forward %d %+v", code, e)
	}

	// Scripts over HTTP, with a delay string.
	var ids struct{ IDs []string }
	if code := ctl(t, s, "POST", "scripts", []map[string]any{{"op": "send", "delay": "2s"}, {"op": "typing", "fail": map[string]any{"error": "nope", "code": "internal"}}}, &ids); code != 200 || len(ids.IDs) != 2 {
		t.Fatalf("scripts %d %+v", code, ids)
	}
	var scripts struct {
		Scripts []map[string]any
	}
	ctl(t, s, "GET", "scripts", nil, &scripts)
	if len(scripts.Scripts) != 2 || scripts.Scripts[0]["delay"] != "2s" {
		t.Fatalf("%+v", scripts)
	}
	g.sendOutbound("", validActions()[contract.OpSend])
	if r := g.call("", validActions()[contract.OpTyping]); r.Success || r.Error != "nope" {
		t.Fatalf("scripted typing %+v", r)
	}
	var clk map[string]any
	if code := ctl(t, s, "POST", "clock", map[string]any{"advance": "2s"}, &clk); code != 200 || clk["unix"] != float64(testkit.Epoch.Add(2*time.Second).Unix()) {
		t.Fatalf("clock %d %v", code, clk)
	}
	if r := g.expect(contract.TypeOutboundResult).f.(contract.OutboundResult); !r.Result.Success {
		t.Fatalf("delayed send %+v", r)
	}
	if code := ctl(t, s, "POST", "clock", map[string]any{"set": testkit.Epoch.Add(time.Hour).Unix()}, &clk); code != 200 || clk["unix"] != float64(testkit.Epoch.Add(time.Hour).Unix()) {
		t.Fatalf("clock set %d %v", code, clk)
	}
	ctl(t, s, "DELETE", "scripts", nil, nil)
	ctl(t, s, "GET", "scripts", nil, &scripts)
	if len(scripts.Scripts) != 0 {
		t.Fatal("scripts not cleared")
	}

	var out struct{ Outbound []simulator.OutboundRecord }
	ctl(t, s, "GET", "outbound?gatewayId=gw1", nil, &out)
	if len(out.Outbound) != 2 || out.Outbound[0].Op != "send" || out.Outbound[1].Op != "typing" || !out.Outbound[0].Answered {
		t.Fatalf("outbound %+v", out.Outbound)
	}
	var sessions struct{ Sessions []simulator.SessionInfo }
	ctl(t, s, "GET", "sessions", nil, &sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].GatewayID != "gw1" || sessions.Sessions[0].Platforms[0] != "discord" {
		t.Fatalf("sessions %+v", sessions)
	}

	// going idle, buffer inspection, policies, journal.
	g.send(contract.GoingIdle{})
	g.expect(contract.TypeGoingIdleAck)
	ctl(t, s, "POST", "inbound", map[string]any{"gatewayId": "gw1", "event": event("discord", "c1", "held")}, &d)
	var buf struct {
		Instance string
		Flipped  bool
		Entries  []simulator.BufferedEntry
		Acks     simulator.AckStats
	}
	ctl(t, s, "GET", "buffers/i1", nil, &buf)
	if !buf.Flipped || len(buf.Entries) != 1 || buf.Entries[0].BufferID != d.BufferID {
		t.Fatalf("buffer %+v", buf)
	}
	var pols struct {
		Policies map[string]contract.PolicyRequest
	}
	if ctl(t, s, "GET", "policies/i1", nil, &pols); len(pols.Policies) != 0 {
		t.Fatalf("%+v", pols)
	}
	var jr struct {
		Entries []simulator.JournalEntry
		Last    uint64
	}
	ctl(t, s, "GET", "journal?kind=flip", nil, &jr)
	if len(jr.Entries) != 1 || jr.Last == 0 {
		t.Fatalf("journal %+v", jr)
	}
	// A long poll returns as soon as something happens.
	done := make(chan int)
	go func() {
		var jr2 struct{ Entries []simulator.JournalEntry }
		done <- ctl(t, s, "GET", "journal?wait=10s&kind=close&since="+jsonNum(jr.Last), nil, &jr2) + len(jr2.Entries)
	}()
	var closed map[string]int
	if code := ctl(t, s, "POST", "sessions/gw1/close", map[string]any{"code": 4000, "reason": "bye"}, &closed); code != 200 || closed["closed"] != 1 {
		t.Fatalf("close %d %v", code, closed)
	}
	g.expectClose(4000, "bye")
	if got := <-done; got != 201 {
		t.Fatalf("long poll: %d", got)
	}

	// Faults over HTTP.
	var fr map[string]any
	if code := ctl(t, s, "POST", "faults", map[string]any{"gatewayId": "gw1", "direction": "out", "delay": "1s", "probability": 0.5, "seed": 7}, &fr); code != 200 || fr["id"] == nil {
		t.Fatalf("fault %d %v", code, fr)
	}
	if code := ctl(t, s, "POST", "faults", map[string]any{"stopPongs": true}, &fr); code != 200 {
		t.Fatal(code)
	}
	var faults struct {
		Faults []map[string]any
	}
	ctl(t, s, "GET", "faults", nil, &faults)
	if len(faults.Faults) != 1 || faults.Faults[0]["delay"] != "1s" {
		t.Fatalf("%+v", faults)
	}
	ctl(t, s, "DELETE", "faults", nil, nil)
	if code := ctl(t, s, "POST", "faults", map[string]any{}, &e); code != 400 {
		t.Fatalf("empty fault %d", code)
	}

	// Rotation and revocation.
	var rot simulator.Gateway
	if code := ctl(t, s, "POST", "gateways/gw1/rotate", map[string]any{}, &rot); code != 200 || rot.Secret == "" || rot.Secret == gw.Secret || rot.PreviousSecrets != 1 {
		t.Fatalf("rotate %d %+v", code, rot)
	}
	var retired simulator.Gateway
	if code := ctl(t, s, "POST", "gateways/gw1/retire", nil, &retired); code != 200 || retired.PreviousSecrets != 0 || retired.Secret != "" {
		t.Fatalf("retire %d %+v", code, retired)
	}
	var et simulator.EnrollmentToken
	if code := ctl(t, s, "POST", "enrollment-tokens", map[string]any{"tenant": "acme", "ttl": "1h"}, &et); code != 200 || !strings.HasPrefix(et.Token, "et-") || !et.ExpiresAt.Equal(m.Now().Add(time.Hour)) {
		t.Fatalf("enrollment token %d %+v", code, et)
	}
	var revoked simulator.Gateway
	if code := ctl(t, s, "POST", "gateways/gw1/revoke", nil, &revoked); code != 200 || !revoked.Revoked || revoked.Secret != "" {
		t.Fatalf("revoke %d %+v", code, revoked)
	}

	var devs struct {
		Active []string
		Known  []simulator.DeviationInfo
	}
	if code := ctl(t, s, "POST", "deviations", map[string]any{"deviations": []string{"no-wake"}}, &devs); code != 200 || len(devs.Active) != 1 || len(devs.Known) != len(deviation.Of(deviation.Simulator)) {
		t.Fatalf("deviations %d %+v", code, devs)
	}
	if code := ctl(t, s, "POST", "deviations", map[string]any{"deviations": []string{"bogus"}}, &e); code != 400 {
		t.Fatalf("bogus deviation %d", code)
	}
	var wakes map[string]any
	if ctl(t, s, "GET", "wakes", nil, &wakes) != 200 {
		t.Fatal("wakes")
	}
	var descs struct {
		Platforms   []string
		Descriptors map[string]contract.CapabilityDescriptor
	}
	if ctl(t, s, "GET", "descriptors", nil, &descs); len(descs.Platforms) != 4 || descs.Descriptors["telegram"].LenUnit != "utf16" {
		t.Fatalf("%+v", descs)
	}
	if code := ctl(t, s, "POST", "reset", nil, nil); code != 200 {
		t.Fatal(code)
	}
	var list struct{ Gateways []simulator.Gateway }
	if ctl(t, s, "GET", "gateways", nil, &list); len(list.Gateways) != 0 {
		t.Fatalf("after reset %+v", list)
	}
	if code := ctl(t, s, "DELETE", "health", nil, &e); code != 405 {
		t.Fatalf("wrong method %d", code)
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestControlClockNeedsManual(t *testing.T) {
	s := start(t, simulator.Options{})
	var e contract.ErrorBody
	if code := ctl(t, s, "POST", "clock", map[string]any{"advance": "1s"}, &e); code != 409 || !strings.Contains(e.Error, "manual") {
		t.Fatalf("%d %+v", code, e)
	}
	var clk map[string]any
	if ctl(t, s, "GET", "clock", nil, &clk); clk["manual"] != false {
		t.Fatalf("%v", clk)
	}
}

func TestControlToken(t *testing.T) {
	s := start(t, simulator.Options{ControlToken: "ctl-secret"})
	if code := ctl(t, s, "GET", "health", nil, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code := httpDo(t, "GET", s.URL()+"/_relaysim/health", http.Header{"X-Relaysim-Token": {"ctl-secret"}}, nil, nil); code != 200 {
		t.Fatalf("header token: %d", code)
	}
	if code := httpDo(t, "GET", s.URL()+"/_relaysim/health", bearerHeader("ctl-secret"), nil, nil); code != 200 {
		t.Fatalf("bearer token: %d", code)
	}
}

func TestResetRestoresInitialGateways(t *testing.T) {
	s := start(t, simulator.Options{Gateways: []simulator.GatewaySpec{{GatewayID: "keep", Secret: "s3cret"}}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "extra"})
	g := dialGW(t, s, "keep")
	g.hello("discord")
	if _, err := s.Script(simulator.ResultScript{Op: "send", NeverAnswer: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	g.expectClose(contract.CloseGoingAway, "reset")
	if gs := s.Gateways(); len(gs) != 1 || gs[0].GatewayID != "keep" {
		t.Fatalf("%+v", gs)
	}
	if len(s.Scripts()) != 0 || len(s.Outbound("")) != 0 {
		t.Fatal("state survived reset")
	}
	tok := contract.MintTokenTTL("keep", "s3cret", time.Now(), time.Minute)
	dialWith(t, s, dialOpts{token: tok}).hello("discord")
}
