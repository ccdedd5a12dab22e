package simulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// devServer starts a simulator with one deviation and a gateway gw1
// fronting discord and whatsapp.
func devServer(t *testing.T, d simulator.Deviation, opts simulator.Options) *simulator.Server {
	t.Helper()
	opts.Deviations = []simulator.Deviation{d}
	s := start(t, opts)
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord", "whatsapp"}})
	return s
}

// helloBarrier proves that nothing the simulator wrote in answer to earlier
// frames is still coming, for deviations where outbound barriers do not
// work: a hello is always answered, in order.
func (g *testGW) helloBarrier() []frame {
	g.t.Helper()
	g.send(contract.Hello{Platform: "discord"})
	var before []frame
	for {
		f := g.next()
		if f.typ() == contract.TypeDescriptor {
			return before
		}
		before = append(before, f)
	}
}

func TestDeviations(t *testing.T) {
	seen := map[simulator.Deviation]bool{}
	run := func(d simulator.Deviation, fn func(t *testing.T)) {
		seen[d] = true
		t.Run(string(d), fn)
	}

	run(simulator.DevHTTP401Auth, func(t *testing.T) {
		s := devServer(t, simulator.DevHTTP401Auth, simulator.Options{})
		g, err := tryDial(t, s, dialOpts{token: "bad"})
		if err == nil || g.resp == nil || g.resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want HTTP 401, got %v %+v", err, g.resp)
		}
	})
	run(simulator.DevExpiredAsUnauthorized, func(t *testing.T) {
		s := devServer(t, simulator.DevExpiredAsUnauthorized, simulator.Options{})
		// A token that expired an hour ago, signed with the right secret.
		env, _ := s.Env("gw1")
		expired := contract.MintToken("gw1", envValue(env, "GATEWAY_RELAY_SECRET"), time.Now().Add(-time.Hour).Unix())
		dialWith(t, s, dialOpts{token: expired}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	})
	run(simulator.DevNoNewline, func(t *testing.T) {
		s := devServer(t, simulator.DevNoNewline, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.send(contract.Hello{Platform: "discord"})
		msg := <-g.msgs
		if strings.HasSuffix(string(msg), "\n") || !strings.Contains(string(msg), `"descriptor"`) {
			t.Fatalf("message %q", msg)
		}
	})
	run(simulator.DevReplayNotAckGated, func(t *testing.T) {
		s := devServer(t, simulator.DevReplayNotAckGated, simulator.Options{DrainWindow: 1})
		bufferEvents(t, s, 0, 3)
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		for i := 0; i < 3; i++ { // no acks sent, all three arrive
			g.expect(contract.TypeInbound)
		}
		if n := len(s.Buffer("gw1")); n != 0 {
			t.Fatalf("%d entries left: deleted without acks is the deviation", n)
		}
	})
	run(simulator.DevAckWithoutFlip, func(t *testing.T) {
		s := devServer(t, simulator.DevAckWithoutFlip, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.send(contract.GoingIdle{})
		g.expect(contract.TypeGoingIdleAck)
		if s.Flipped("gw1") {
			t.Fatal("flipped")
		}
		if d := inject(t, s, "gw1", event("discord", "c", "x")); d.Mode != simulator.DeliveryLive {
			t.Fatalf("%+v", d)
		}
	})
	run(simulator.DevNoDrain, func(t *testing.T) {
		s := devServer(t, simulator.DevNoDrain, simulator.Options{})
		bufferEvents(t, s, 0, 2)
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.expectQuiet()
		if d := inject(t, s, "gw1", event("discord", "c", "live")); d.Mode != simulator.DeliveryLive {
			t.Fatalf("%+v", d)
		}
		if len(s.Buffer("gw1")) != 2 {
			t.Fatal("buffer touched")
		}
	})
	run(simulator.DevRedeliverAcked, func(t *testing.T) {
		s := devServer(t, simulator.DevRedeliverAcked, simulator.Options{})
		id := bufferEvents(t, s, 0, 1)[0]
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.expect(contract.TypeInbound)
		seq := s.JournalSeq()
		g.ack(id)
		awaitJournal(t, s, seq, kind(simulator.JournalAck))
		g.close()
		g2 := dialGW(t, s, "gw1")
		g2.hello("discord")
		if in := g2.expect(contract.TypeInbound).f.(contract.Inbound); in.BufferID != id {
			t.Fatalf("%+v", in)
		}
	})
	run(simulator.DevDropUnknownFramesClose, func(t *testing.T) {
		s := devServer(t, simulator.DevDropUnknownFramesClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText(`{"type":"future"}` + "\n")
		g.expectClose(contract.CloseUnsupportedData, "unknown frame type")
	})
	run(simulator.DevNoDescriptorPerHello, func(t *testing.T) {
		s := devServer(t, simulator.DevNoDescriptorPerHello, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.send(contract.Hello{Platform: "whatsapp"})
		g.expectQuiet()
	})
	run(simulator.DevUnsupportedOpSuccess, func(t *testing.T) {
		s := devServer(t, simulator.DevUnsupportedOpSuccess, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("whatsapp")
		if r := g.call("", validActions()[contract.OpEdit]); !r.Success {
			t.Fatalf("%+v", r)
		}
	})
	run(simulator.DevNoOutboundResult, func(t *testing.T) {
		s := devServer(t, simulator.DevNoOutboundResult, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.sendOutbound("", validActions()[contract.OpSend])
		if got := g.helloBarrier(); len(got) != 0 {
			t.Fatalf("got %s", lines(got))
		}
	})
	run(simulator.DevPlatformNotFrontedDropped, func(t *testing.T) {
		s := devServer(t, simulator.DevPlatformNotFrontedDropped, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.sendOutbound("slack", validActions()[contract.OpSend])
		if got := g.helloBarrier(); len(got) != 0 {
			t.Fatalf("got %s", lines(got))
		}
	})
	run(simulator.DevWrongResultShape, func(t *testing.T) {
		s := devServer(t, simulator.DevWrongResultShape, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		if r := g.call("", validActions()[contract.OpSend]); !r.Success || r.MessageID != "" {
			t.Fatalf("%+v", r)
		}
	})
	run(simulator.DevExpZeroRejected, func(t *testing.T) {
		s := devServer(t, simulator.DevExpZeroRejected, simulator.Options{})
		env, _ := s.Env("gw1")
		tok := contract.MintToken("gw1", envValue(env, "GATEWAY_RELAY_SECRET"), 0)
		dialWith(t, s, dialOpts{token: tok}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	})
	run(simulator.DevNoWake, func(t *testing.T) {
		target := newWakeTarget(t, 200)
		s := start(t, simulator.Options{Deviations: []simulator.Deviation{simulator.DevNoWake}})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}, WakeURL: target.URL})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.send(contract.GoingIdle{})
		g.expect(contract.TypeGoingIdleAck)
		inject(t, s, "gw1", event("discord", "c", "x"))
		s.SetDeviations()
		seq := s.JournalSeq()
		inject(t, s, "gw1", event("discord", "c", "y"))
		awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool { return e.Kind == simulator.JournalWake && e.Status == 200 })
		if n := target.count(); n != 1 {
			t.Fatalf("%d wakes: the first buffered event must not have woken", n)
		}
	})
	run(simulator.DevPolicyIgnored, func(t *testing.T) {
		s := devServer(t, simulator.DevPolicyIgnored, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		httpDo(t, "POST", s.URL()+contract.PathPolicy, bearerHeader(mustToken(t, s, "gw1")), jsonBody(contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{}}), nil)
		d := inject(t, s, "gw1", eventWith("discord", "chan", "x", map[string]any{"chat_type": "group", "is_bot": true}))
		if d.Mode != simulator.DeliveryLive {
			t.Fatalf("%+v", d)
		}
	})
	run(simulator.DevCrossTenantMedia, func(t *testing.T) {
		s := devServer(t, simulator.DevCrossTenantMedia, simulator.Options{})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "evil", Tenant: "other"})
		var item contract.MediaUploadResponse
		httpDo(t, "POST", s.URL()+contract.PathMedia, bearerHeader(mustToken(t, s, "gw1")), []byte("secret pic"), &item)
		if r := doRaw(t, "GET", s.URL()+contract.PathMedia+"/"+item.ID, bearerHeader(mustToken(t, s, "evil")), nil); r.code != 200 {
			t.Fatalf("%d", r.code)
		}
	})
	run(simulator.DevMalformedNoClose, func(t *testing.T) {
		s := devServer(t, simulator.DevMalformedNoClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText("{nope\n[]\n")
		g.hello("discord")
	})
	run(simulator.DevOversizeNoClose, func(t *testing.T) {
		s := devServer(t, simulator.DevOversizeNoClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText(padFrame(contract.MaxFrameSize + 100))
		g.sendText("\n")
		g.hello("discord")
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		g.conn.Write(ctx, websocket.MessageText, []byte(padFrame(contract.MaxFrameSize+1)+"\n"))
		g.hello("discord")
	})
	run(simulator.DevPressRawCallback, func(t *testing.T) {
		s, g, msgID := pressSim(t, simulator.DevPressRawCallback)
		if _, err := s.PressPrompt(simulator.PressRequest{GatewayID: "gw-a", MessageID: msgID, OptionID: "apple"}); err != nil {
			t.Fatal(err)
		}
		in := g.expect(contract.TypeInbound).f.(contract.Inbound)
		var ev contract.MessageEvent
		_ = json.Unmarshal(in.Event, &ev)
		if ev.PromptResponse != nil || ev.Text != "hp1:abc123.0000beef:apple" {
			t.Fatalf("text %q, prompt_response %+v", ev.Text, ev.PromptResponse)
		}
	})
	for _, info := range simulator.DeviationInfos() {
		if !seen[info.Deviation] {
			t.Errorf("deviation %s has no test", info.Deviation)
		}
		if info.Requirement == "" || info.Behaviour == "" {
			t.Errorf("deviation %s undocumented", info.Deviation)
		}
	}
	if _, err := simulator.ParseDeviations("no-wake, bogus"); err == nil {
		t.Error("bogus deviation parsed")
	}
	if ds, err := simulator.ParseDeviations("no-wake,,no-drain"); err != nil || len(ds) != 2 {
		t.Errorf("%v %v", ds, err)
	}
}

func envValue(env, key string) string {
	for _, line := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}
