package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

func TestNewRequiresURL(t *testing.T) {
	if _, err := client.New(client.Options{}); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("New without URL = %v, want an error naming the URL", err)
	}
	o := client.Options{Config: client.Config{URL: "http://x"}}
	if err := deviation.Apply(&o, deviation.NewSet(deviation.SimNoWake)); err == nil {
		t.Fatal("Options took a simulator deviation")
	}
}

func TestHelloPerIdentityAndDescriptors(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	o := testOpts(tc, clk, nil)
	manifest := []contract.Command{{Name: "ask", Description: "Ask the agent"}}
	o.Config.Platforms = []client.Identity{
		{Platform: "discord", BotID: "d-1", CommandManifest: manifest},
		{Platform: "telegram", BotID: "t-1"},
		{Platform: "slack"},
	}
	c, conn := start(t, tc, o)
	hs := conn.handshake(t, 3)
	if hs[0].Platform != "discord" || hs[0].BotID != "d-1" || len(hs[0].CommandManifest) != 1 {
		t.Errorf("first hello = %+v", hs[0])
	}
	if hs[1].Platform != "telegram" || hs[1].BotID != "t-1" || hs[1].CommandManifest != nil {
		t.Errorf("second hello = %+v", hs[1])
	}
	if hs[2].Platform != "slack" || hs[2].BotID != "" {
		t.Errorf("third hello = %+v", hs[2])
	}
	for _, h := range conn.history {
		if vs := contract.ValidateFrame([]byte(h.raw)); len(vs) > 0 {
			t.Errorf("hello %q violates the contract: %v", h.raw, vs)
		}
	}
	// Wait until all three descriptors are in.
	deadline := time.Now().Add(waitFor)
	for len(c.Descriptors()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := c.Descriptor("").Platform; got != "discord" {
		t.Errorf("primary descriptor = %s, want discord (the first)", got)
	}
	if got := c.Descriptor("telegram").Label; got != "TELEGRAM" {
		t.Errorf("telegram descriptor label = %q", got)
	}
	if got := c.Descriptor("whatsapp").Platform; got != "discord" {
		t.Errorf("unknown platform falls back to %s, want the primary", got)
	}
	if c.State() != client.StateHandshaked {
		t.Errorf("state = %s", c.State())
	}
}

func TestDefaultIdentityIsRelay(t *testing.T) {
	tc := newConnector(t)
	o := testOpts(tc, clock.NewManual(epoch), nil)
	_, conn := start(t, tc, o)
	h := conn.expect(t, contract.TypeHello)
	if h.raw != `{"type":"hello","platform":"relay","botId":""}`+"\n" {
		t.Fatalf("hello = %q", h.raw)
	}
}

func TestFreshTokenEveryDial(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	clk.Advance(7 * time.Second)
	conn.closeWith(contract.CloseTryAgainLater, "throttled")
	ev := st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	tc.next(t).handshake(t, 1)
	az := tc.Authz()
	if len(az) != 2 || az[0] == az[1] {
		t.Fatalf("Authorization headers = %q, want two distinct bearers", az)
	}
	for i, a := range az {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			t.Fatalf("header %d = %q", i, a)
		}
		claims, err := contract.VerifyToken(tok, []string{"s3cret"}, clk.Now())
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if claims.GatewayID != "gw-test" {
			t.Errorf("token %d gateway = %q", i, claims.GatewayID)
		}
	}
	claims, _, _ := contract.ParseToken(strings.TrimPrefix(az[0], "Bearer "))
	if want := epoch.Unix() + 300; claims.Exp != want {
		t.Errorf("first token exp = %d, want now+300 = %d", claims.Exp, want)
	}
	_ = c
}

func TestDevModeSendsNoBearer(t *testing.T) {
	tc := newConnector(t)
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.Secret = ""
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	if az := tc.Authz(); len(az) != 1 || az[0] != "" {
		t.Fatalf("Authorization = %q, want none without a secret", az)
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestOutboundRoundTripAndTagging(t *testing.T) {
	tc := newConnector(t)
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.Platforms = []client.Identity{{Platform: "discord", BotID: "d-1"}, {Platform: "telegram"}}
	c, conn := start(t, tc, o)
	conn.handshake(t, 2)
	ctx := context.Background()

	r, _ := c.Send(ctx, "c1", "hé")
	if !r.Success || r.MessageID != "srv-send" {
		t.Fatalf("send = %+v", r)
	}
	f := conn.expect(t, contract.TypeOutbound)
	out := f.f.(contract.Outbound)
	if out.Platform != "" || out.BotID != "" || strings.Contains(f.raw, `"platform"`) {
		t.Errorf("untagged send carries a platform: %q", f.raw)
	}
	if !hex32.MatchString(out.RequestID) {
		t.Errorf("requestId %q is not 32 lowercase hex", out.RequestID)
	}
	if !strings.Contains(f.raw, `"reply_to":null`) {
		t.Errorf("send without reply_to must carry reply_to:null: %q", f.raw)
	}

	c.Send(ctx, "c1", "x", client.Platform("discord"), client.ReplyTo("m0"))
	out2 := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	if out2.Platform != "discord" || out2.BotID != "d-1" || *out2.Action.ReplyTo != "m0" {
		t.Errorf("tagged send = %+v", out2)
	}
	if out2.RequestID == out.RequestID {
		t.Error("requestId reused")
	}
	c.Send(ctx, "c1", "x", client.Platform("telegram"))
	if f := conn.expect(t, contract.TypeOutbound); strings.Contains(f.raw, "botId") {
		t.Errorf("empty botId must be omitted: %q", f.raw)
	}
	c.FollowUp(ctx, "agent:main:discord:dm:1", "discord.interaction_token", "done")
	fu := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	if fu.Platform != "discord" || fu.BotID != "d-1" {
		t.Errorf("follow_up routed to %q/%q, want discord from its kind", fu.Platform, fu.BotID)
	}
	for _, h := range conn.history {
		if vs := contract.ValidateFrame([]byte(h.raw)); len(vs) > 0 {
			t.Errorf("frame %q violates the contract: %v", h.raw, vs)
		}
	}
}

func TestResultsInAnyOrder(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), nil))
	conn.handshake(t, 1)
	ctx := context.Background()
	first := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "one"); return r })
	a := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	second := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "two"); return r })
	b := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	conn.send(contract.OutboundResult{RequestID: "unknown-id", Result: contract.Result{Success: true}})
	conn.send(contract.OutboundResult{RequestID: b.RequestID, Result: contract.Result{Success: true, MessageID: "m-two"}})
	if r := recv(t, second); r.MessageID != "m-two" {
		t.Fatalf("second = %+v", r)
	}
	pending(t, first)
	// A result in the reference's spaced, ASCII-escaped style.
	conn.sendRaw(`{"type": "outbound_result", "requestId": "` + a.RequestID + `", "result": {"success": true, "message_id": 42, "error": "\u00e9"}}` + "\n")
	if r := recv(t, first); r.MessageID != "42" || r.Error != "é" {
		t.Fatalf("first = %+v", r)
	}
}

func TestOutboundTimeoutIsAmbiguous(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	clk := clock.NewManual(epoch)
	c, conn := start(t, tc, testOpts(tc, clk, nil))
	conn.handshake(t, 1)
	res := async(func() contract.Result { r, _ := c.Send(context.Background(), "c1", "x"); return r })
	conn.expect(t, contract.TypeOutbound)
	clk.Advance(30*time.Second - time.Nanosecond)
	pending(t, res)
	clk.Advance(time.Nanosecond)
	r := recv(t, res)
	if r.Success || !r.Ambiguous || r.Error != "relay outbound timed out" {
		t.Fatalf("timeout result = %+v", r)
	}
}

func TestCallerCancelAfterWriteIsAmbiguous(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), nil))
	conn.handshake(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	res := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "x"); return r })
	conn.expect(t, contract.TypeOutbound)
	cancel()
	if r := recv(t, res); !r.Ambiguous || !strings.Contains(r.Error, "cancelled") {
		t.Fatalf("cancelled result = %+v", r)
	}
}

func TestFailFastWithoutSocket(t *testing.T) {
	tc := newConnector(t)
	c, err := client.New(testOpts(tc, clock.NewManual(epoch), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	r, _ := c.Send(context.Background(), "c1", "x")
	if r.Success || r.Ambiguous || r.Error != "relay transport not connected" {
		t.Fatalf("send before Connect = %+v", r)
	}
	if err := c.Interrupt(context.Background(), "k", nil); err != client.ErrNotConnected {
		t.Fatalf("Interrupt before Connect = %v", err)
	}
	if ok, err := c.GoIdle(context.Background()); ok || err != client.ErrNotConnected {
		t.Fatalf("GoIdle before Connect = %v, %v", ok, err)
	}
}

func TestPendingCallsFailAtOnceOnConnectionLoss(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), st))
	conn.handshake(t, 1)
	res := async(func() contract.Result { r, _ := c.Send(context.Background(), "c1", "x"); return r })
	conn.expect(t, contract.TypeOutbound)
	conn.closeWith(contract.CloseInternalError, "overloaded")
	// No clock advance: the call must fail as soon as the reader exits.
	r := recv(t, res)
	if r.Success || r.Error != "relay transport connection lost" || !r.Ambiguous {
		t.Fatalf("lost result = %+v (settlement 9: written frames are ambiguous)", r)
	}
	ev := st.wait(t, client.StateReconnecting)
	if ev.Code != 1011 || ev.Reason != "overloaded" {
		t.Errorf("reconnecting event = %+v", ev)
	}
	// During the backoff wait there is no socket: fail fast, not ambiguous.
	r, _ = c.Send(context.Background(), "c1", "y")
	if r.Error != "relay transport not connected" || r.Ambiguous {
		t.Fatalf("send during backoff = %+v", r)
	}
}

func TestCloseGraceAndPendingFailure(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	clk := clock.NewManual(epoch)
	o := testOpts(tc, clk, nil)
	o.CloseGrace = 1500 * time.Millisecond
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	go func() { _ = c.Connect(ctx) }()
	conn := tc.next(t)
	conn.handshake(t, 1)
	for c.State() != client.StateHandshaked {
		time.Sleep(time.Millisecond)
	}
	answered := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "answered in grace"); return r })
	a := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	unanswered := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "never answered"); return r })
	conn.expect(t, contract.TypeOutbound)

	closed := async(func() error { return c.Close(ctx) })
	if err := clk.WaitForTimers(ctx, 3); err != nil { // two outbound timers and the grace
		t.Fatal(err)
	}
	if r, _ := c.Send(ctx, "c1", "late"); r.Error != "relay transport closed" || r.Ambiguous {
		t.Fatalf("send after Close started = %+v", r)
	}
	conn.send(contract.OutboundResult{RequestID: a.RequestID, Result: contract.Result{Success: true, MessageID: "m1"}})
	if r := recv(t, answered); !r.Success {
		t.Fatalf("call answered within the grace = %+v", r)
	}
	clk.Advance(1500 * time.Millisecond)
	r := recv(t, unanswered)
	if r.Error != "relay send failed: relay transport closed" || !r.Ambiguous {
		t.Fatalf("call failed by Close = %+v", r)
	}
	if err := recv(t, closed); err != nil {
		t.Fatal(err)
	}
	if code, _ := conn.waitClosed(t); code != 1000 {
		t.Errorf("close code = %d, want 1000", code)
	}
	if c.State() != client.StateClosed || c.Err() != client.ErrClosed {
		t.Errorf("state %s err %v", c.State(), c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed")
	}
}

func TestOpGating(t *testing.T) {
	tc := newConnector(t)
	base := tc.descriptor
	tc.descriptor = func(p string) contract.CapabilityDescriptor {
		d := base(p)
		if p == "telegram" {
			d.SupportedOps = []string{"send", "delete", "get_chat_info"}
		}
		return d
	}
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Config.Platforms = []client.Identity{{Platform: "discord"}, {Platform: "telegram"}}
	c, conn := start(t, tc, o)
	conn.handshake(t, 2)
	for len(c.Descriptors()) < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	// discord advertises nothing: the legacy set applies.
	r, _ := c.React(ctx, "c1", "m1", "👍", false)
	if r.Code != contract.CodeUnsupportedOp || r.Error != "unsupported op: react" || r.Success {
		t.Fatalf("react on a legacy descriptor = %+v", r)
	}
	if r, _ := c.Delete(ctx, "c1", "m1"); r.Code != contract.CodeUnsupportedOp {
		t.Fatalf("delete on discord = %+v", r)
	}
	conn.quiet(t)
	if r, _ := c.Delete(ctx, "c1", "m1", client.Platform("telegram")); !r.Success {
		t.Fatalf("delete on telegram = %+v", r)
	}
	conn.expect(t, contract.TypeOutbound)
	if r, _ := c.Edit(ctx, "c1", "m1", "x", client.Platform("telegram")); r.Code != contract.CodeUnsupportedOp {
		t.Fatalf("edit on telegram (not advertised) = %+v", r)
	}
	info, r, _ := c.GetChatInfo(ctx, "chat-9")
	if !r.Success || info.Name != "chat-9" || info.Type != "dm" {
		t.Fatalf("local get_chat_info = %+v %+v", info, r)
	}
	conn.quiet(t)
	_, r, _ = c.GetChatInfo(ctx, "chat-9", client.Platform("telegram"))
	if f := conn.expect(t, contract.TypeOutbound); !strings.Contains(f.raw, `"op":"get_chat_info"`) {
		t.Fatalf("advertised get_chat_info not sent: %q", f.raw)
	}
	_ = r
}

func TestCallWaitsForDescriptor(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	clk := clock.NewManual(epoch)
	st := newStates()
	c := connectInBackground(t, testOpts(tc, clk, st))
	conn := tc.next(t)
	conn.expect(t, contract.TypeHello)
	st.wait(t, client.StateConnected)
	res := async(func() contract.Result { r, _ := c.Send(context.Background(), "c1", "x"); return r })
	conn.quiet(t) // nothing is sent before the descriptor
	conn.send(contract.DescriptorFrame{Descriptor: tc.descriptor("relay")})
	conn.expect(t, contract.TypeOutbound)
	if r := recv(t, res); !r.Success {
		t.Fatalf("send = %+v", r)
	}
}

func TestReaderSurvivesHostileInput(t *testing.T) {
	tc := newConnector(t)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), st))
	conn.handshake(t, 1)
	tc.autoResult.Store(false)
	ctx := context.Background()
	res := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "x"); return r })
	out := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	for _, junk := range []string{
		"[]\n", "1\n", "null\n", "\"str\"\n", "{not json\n", "   \n", "{}\n", `{"type":7}` + "\n",
		`{"type":"mystery","x":1}` + "\n",
		`{"type":"hello","platform":"relay","botId":""}` + "\n",
		`{"type":"inbound","event":[1,2]}` + "\n",
		`{"type":"passthrough_forward","forward":"nope"}` + "\n",
		`{"type":"outbound_result","requestId":"someone-else","result":"nope"}` + "\n",
	} {
		conn.sendRaw(junk)
	}
	// Several frames per message, and one frame split across messages.
	resultLine := `{"type":"outbound_result","requestId":"` + out.RequestID + `","result":{"success":true,"message_id":"split"}}`
	conn.sendRaw(`{"type":"going_idle_ack"}` + "\n" + resultLine[:20])
	conn.sendRaw(resultLine[20:])
	pending(t, res) // no newline yet: not processed
	conn.sendRaw("\n")
	r := recv(t, res)
	if r.MessageID != "split" {
		t.Fatalf("result after hostile input = %+v", r)
	}
	// A binary message is text too.
	res2 := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "y"); return r })
	out2 := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	b, _ := contract.EncodeFrame(contract.OutboundResult{RequestID: out2.RequestID, Result: contract.Result{Success: true}})
	_ = conn.ws.Write(ctx, 2, b) // websocket.MessageBinary
	if r := recv(t, res2); !r.Success {
		t.Fatalf("binary result = %+v", r)
	}
	if c.State() != client.StateHandshaked {
		t.Fatalf("state = %s after hostile input", c.State())
	}
}

func TestInvalidDescriptorClosesWith1002AndBacksOff(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	clk := clock.NewManual(epoch)
	st := newStates()
	connectInBackground(t, testOpts(tc, clk, st))
	conn := tc.next(t)
	conn.expect(t, contract.TypeHello)
	d, _ := json.Marshal(tc.descriptor("relay"))
	var m map[string]any
	_ = json.Unmarshal(d, &m)
	delete(m, "label")
	bad, _ := json.Marshal(map[string]any{"type": "descriptor", "descriptor": m})
	conn.sendRaw(string(bad) + "\n")
	code, reason := conn.waitClosed(t)
	if code != 1002 || reason != "invalid descriptor" {
		t.Fatalf("close = %d %q, want 1002 invalid descriptor", code, reason)
	}
	ev := st.wait(t, client.StateReconnecting)
	if ev.Wait != time.Second || ev.Attempt != 1 {
		t.Fatalf("reconnecting = %+v, want the first backoff step", ev)
	}
	tc.autoDescriptor.Store(true)
	clk.Advance(time.Second)
	tc.next(t).handshake(t, 1)
	st.wait(t, client.StateHandshaked)
}

func TestHandshakeTimeout(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	clk := clock.NewManual(epoch)
	st := newStates()
	connectInBackground(t, testOpts(tc, clk, st))
	conn := tc.next(t)
	conn.expect(t, contract.TypeHello)
	st.wait(t, client.StateConnected)
	clk.Advance(30*time.Second - time.Nanosecond)
	select {
	case <-conn.done:
		t.Fatal("closed before the handshake timeout")
	case <-time.After(30 * time.Millisecond):
	}
	clk.Advance(time.Nanosecond)
	if code, _ := conn.waitClosed(t); code != 1002 {
		t.Fatalf("close code = %d, want 1002", code)
	}
	st.wait(t, client.StateReconnecting)
}

func TestKeepalive(t *testing.T) {
	tc := newConnector(t)
	pings := make(chan struct{}, 16)
	tc.onPing = func() { pings <- struct{}{} }
	clk := clock.NewManual(epoch)
	st := newStates()
	o := testOpts(tc, clk, st)
	o.PingInterval = 0 // defaults: 30s / 60s
	o.HandshakeTimeout = time.Hour
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)

	// A ping every 30s; an answered one re-arms the interval.
	waitDeadline(t, clk, epoch.Add(30*time.Second))
	clk.Advance(30 * time.Second)
	recv(t, pings)
	waitDeadline(t, clk, epoch.Add(60*time.Second))

	// An unanswered ping closes 1011 after exactly 60s.
	tc.noPong.Store(true)
	clk.Advance(30 * time.Second)
	recv(t, pings)
	waitDeadline(t, clk, epoch.Add(120*time.Second))
	clk.Advance(60*time.Second - time.Nanosecond)
	select {
	case <-conn.done:
		t.Fatal("closed before the pong deadline")
	case <-time.After(30 * time.Millisecond):
	}
	clk.Advance(time.Nanosecond)
	code, reason := conn.waitClosed(t)
	if code != 1011 || reason != "keepalive timeout" {
		t.Fatalf("close = %d %q, want 1011 keepalive timeout", code, reason)
	}
	st.wait(t, client.StateReconnecting)
}

// waitDeadline waits until the clock's earliest timer is due at want: the
// code under test has armed it.
func waitDeadline(t *testing.T, clk *clock.Manual, want time.Time) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if d, ok := clk.NextDeadline(); ok && d.Equal(want) {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	d, ok := clk.NextDeadline()
	t.Fatalf("next deadline = %v (%v), want %v", d, ok, want)
}

func TestFrameTooLargeCloses1009(t *testing.T) {
	tc := newConnector(t)
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.MaxFrameSize = 1024
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.sendRaw(`{"type":"mystery","pad":"` + strings.Repeat("x", 2000) + `"}` + "\n")
	if code, _ := conn.waitClosed(t); code != 1009 {
		t.Fatalf("close code = %d, want 1009", code)
	}
}

func TestRequestIDsAreRandomPerClient(t *testing.T) {
	tc := newConnector(t)
	ids := map[string]bool{}
	prefixes := map[string]bool{}
	for i := 0; i < 3; i++ {
		c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), nil))
		conn.handshake(t, 1)
		for j := 0; j < 3; j++ {
			c.Send(context.Background(), "c", "x")
			id := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound).RequestID
			if !hex32.MatchString(id) || ids[id] {
				t.Fatalf("request id %q invalid or repeated", id)
			}
			ids[id] = true
			prefixes[id[:16]] = true
		}
	}
	if len(prefixes) != 3 {
		t.Fatalf("%d distinct prefixes across 3 clients", len(prefixes))
	}
	for p := range prefixes {
		// Eight random bytes: the hex must not be a re-encoding of hex
		// digits (every byte in 0x30-0x66).
		if regexp.MustCompile(`^(3[0-9]|6[1-6])+$`).MatchString(p) {
			t.Errorf("prefix %s looks like hex-encoded hex", p)
		}
	}
}

// TestCallErrorsMatchTheirCause: a call's error is nil exactly on success,
// else a *CallError carrying the same result, which matches the client's
// own sentinel when the client made the result and none when the connector
// answered.
func TestCallErrorsMatchTheirCause(t *testing.T) {
	type res struct {
		r   contract.Result
		err error
	}
	tc := newConnector(t)
	tc.autoResult.Store(false)
	clk := clock.NewManual(epoch)
	c, err := client.New(testOpts(tc, clk, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string, got res, want error) {
		t.Helper()
		var ce *client.CallError
		switch {
		case got.r.Success:
			t.Fatalf("%s: success %+v", what, got.r)
		case !errors.As(got.err, &ce):
			t.Fatalf("%s: error %v is not a *CallError", what, got.err)
		case ce.Result.Error != got.r.Error || ce.Op != contract.OpSend:
			t.Fatalf("%s: CallError %+v does not hold the result %+v", what, ce, got.r)
		case want == nil && ce.Err != nil:
			t.Fatalf("%s: a connector answer has cause %v", what, ce.Err)
		case want != nil && !errors.Is(got.err, want):
			t.Fatalf("%s: error %v does not match %v", what, got.err, want)
		}
	}
	send := func() <-chan res {
		return async(func() res { r, err := c.Send(ctx, "c1", "x"); return res{r, err} })
	}
	check("before Connect", recv(t, send()), client.ErrNotConnected)

	go func() { _ = c.Connect(ctx) }()
	conn := tc.next(t)
	conn.handshake(t, 1)
	for c.State() != client.StateHandshaked {
		time.Sleep(time.Millisecond)
	}
	ch := send()
	out := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	conn.send(contract.OutboundResult{RequestID: out.RequestID, Result: contract.Result{Success: true, MessageID: "m1"}})
	if got := recv(t, ch); !got.r.Success || got.err != nil {
		t.Fatalf("success = %+v, %v", got.r, got.err)
	}
	ch = send()
	out = conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	conn.send(contract.OutboundResult{RequestID: out.RequestID, Result: contract.Result{Error: "chat not found", Code: "not_found"}})
	check("the connector's failure", recv(t, ch), nil)

	r, err := c.React(ctx, "c1", "m1", "👍", false)
	if !errors.Is(err, client.ErrUnsupportedOp) || r.Code != contract.CodeUnsupportedOp {
		t.Fatalf("unadvertised op = %+v, %v", r, err)
	}
	ch = send()
	conn.expect(t, contract.TypeOutbound)
	clk.Advance(30 * time.Second)
	check("timeout", recv(t, ch), client.ErrOutboundTimeout)

	cctx, cancel := context.WithCancel(ctx)
	cancelled := async(func() res { r, err := c.Send(cctx, "c1", "x"); return res{r, err} })
	conn.expect(t, contract.TypeOutbound)
	cancel()
	if got := recv(t, cancelled); !errors.Is(got.err, context.Canceled) || !got.r.Ambiguous {
		t.Fatalf("cancelled = %+v, %v", got.r, got.err)
	}

	ch = send()
	conn.expect(t, contract.TypeOutbound)
	conn.closeWith(contract.CloseInternalError, "overloaded")
	check("connection lost", recv(t, ch), client.ErrConnectionLost)

	closeClient(t, c)
	check("after Close", recv(t, send()), client.ErrClosed)
}
