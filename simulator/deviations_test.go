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
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// devServer starts a simulator with one deviation and a gateway gw1
// fronting discord and whatsapp.
func devServer(t *testing.T, d deviation.ID, opts simulator.Options) *simulator.Server {
	t.Helper()
	s := start(t, withDeviations(t, opts, d))
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
	seen := map[deviation.ID]bool{}
	run := func(d deviation.ID, fn func(t *testing.T)) {
		seen[d] = true
		t.Run(d.Name(), fn)
	}

	run(deviation.SimHTTP401Auth, func(t *testing.T) {
		s := devServer(t, deviation.SimHTTP401Auth, simulator.Options{})
		g, err := tryDial(t, s, dialOpts{token: "bad"})
		if err == nil || g.resp == nil || g.resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want HTTP 401, got %v %+v", err, g.resp)
		}
	})
	run(deviation.SimExpiredAsUnauthorized, func(t *testing.T) {
		s := devServer(t, deviation.SimExpiredAsUnauthorized, simulator.Options{})
		// A token that expired an hour ago, signed with the right secret.
		env, _ := s.Env("gw1")
		expired := contract.MintToken("gw1", envValue(env, "GATEWAY_RELAY_SECRET"), time.Now().Add(-time.Hour).Unix())
		dialWith(t, s, dialOpts{token: expired}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	})
	run(deviation.SimNoNewline, func(t *testing.T) {
		s := devServer(t, deviation.SimNoNewline, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.send(contract.Hello{Platform: "discord"})
		msg := <-g.msgs
		if strings.HasSuffix(string(msg), "\n") || !strings.Contains(string(msg), `"descriptor"`) {
			t.Fatalf("message %q", msg)
		}
	})
	run(deviation.SimReplayNotAckGated, func(t *testing.T) {
		s := devServer(t, deviation.SimReplayNotAckGated, simulator.Options{DrainWindow: 1})
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
	run(deviation.SimAckWithoutFlip, func(t *testing.T) {
		s := devServer(t, deviation.SimAckWithoutFlip, simulator.Options{})
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
	run(deviation.SimNoDrain, func(t *testing.T) {
		s := devServer(t, deviation.SimNoDrain, simulator.Options{})
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
	run(deviation.SimRedeliverAcked, func(t *testing.T) {
		s := devServer(t, deviation.SimRedeliverAcked, simulator.Options{})
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
	run(deviation.SimDropUnknownFramesClose, func(t *testing.T) {
		s := devServer(t, deviation.SimDropUnknownFramesClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText(`{"type":"future"}` + "\n")
		g.expectClose(contract.CloseUnsupportedData, "unknown frame type")
	})
	run(deviation.SimNoDescriptorPerHello, func(t *testing.T) {
		s := devServer(t, deviation.SimNoDescriptorPerHello, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.send(contract.Hello{Platform: "whatsapp"})
		g.expectQuiet()
	})
	run(deviation.SimUnsupportedOpSuccess, func(t *testing.T) {
		s := devServer(t, deviation.SimUnsupportedOpSuccess, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("whatsapp")
		if r := g.call("", validActions()[contract.OpEdit]); !r.Success {
			t.Fatalf("%+v", r)
		}
	})
	run(deviation.SimNoOutboundResult, func(t *testing.T) {
		s := devServer(t, deviation.SimNoOutboundResult, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.sendOutbound("", validActions()[contract.OpSend])
		if got := g.helloBarrier(); len(got) != 0 {
			t.Fatalf("got %s", lines(got))
		}
	})
	run(deviation.SimPlatformNotFrontedDropped, func(t *testing.T) {
		s := devServer(t, deviation.SimPlatformNotFrontedDropped, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.sendOutbound("slack", validActions()[contract.OpSend])
		if got := g.helloBarrier(); len(got) != 0 {
			t.Fatalf("got %s", lines(got))
		}
	})
	run(deviation.SimWrongResultShape, func(t *testing.T) {
		s := devServer(t, deviation.SimWrongResultShape, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		if r := g.call("", validActions()[contract.OpSend]); !r.Success || r.MessageID != "" {
			t.Fatalf("%+v", r)
		}
	})
	run(deviation.SimExpZeroRejected, func(t *testing.T) {
		s := devServer(t, deviation.SimExpZeroRejected, simulator.Options{})
		env, _ := s.Env("gw1")
		tok := contract.MintToken("gw1", envValue(env, "GATEWAY_RELAY_SECRET"), 0)
		dialWith(t, s, dialOpts{token: tok}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	})
	run(deviation.SimNoWake, func(t *testing.T) {
		target := newWakeTarget(t, 200)
		s := start(t, withDeviations(t, simulator.Options{}, deviation.SimNoWake))
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}, WakeURL: target.URL})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		g.send(contract.GoingIdle{})
		g.expect(contract.TypeGoingIdleAck)
		inject(t, s, "gw1", event("discord", "c", "x"))
		if err := deviation.Apply(s, 0); err != nil {
			t.Fatal(err)
		}
		seq := s.JournalSeq()
		inject(t, s, "gw1", event("discord", "c", "y"))
		awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool { return e.Kind == simulator.JournalWake && e.Status == 200 })
		if n := target.count(); n != 1 {
			t.Fatalf("%d wakes: the first buffered event must not have woken", n)
		}
	})
	run(deviation.SimPolicyIgnored, func(t *testing.T) {
		s := devServer(t, deviation.SimPolicyIgnored, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		httpDo(t, "POST", s.URL()+contract.PathPolicy, bearerHeader(mustToken(t, s, "gw1")), jsonBody(contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{}}), nil)
		d := inject(t, s, "gw1", eventWith("discord", "chan", "x", map[string]any{"chat_type": "group", "is_bot": true}))
		if d.Mode != simulator.DeliveryLive {
			t.Fatalf("%+v", d)
		}
	})
	run(deviation.SimCrossTenantMedia, func(t *testing.T) {
		s := devServer(t, deviation.SimCrossTenantMedia, simulator.Options{})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "evil", Tenant: "other"})
		var item contract.MediaUploadResponse
		httpDo(t, "POST", s.URL()+contract.PathMedia, bearerHeader(mustToken(t, s, "gw1")), []byte("secret pic"), &item)
		if r := doRaw(t, "GET", s.URL()+contract.PathMedia+"/"+item.ID, bearerHeader(mustToken(t, s, "evil")), nil); r.code != 200 {
			t.Fatalf("%d", r.code)
		}
	})
	run(deviation.SimMalformedNoClose, func(t *testing.T) {
		s := devServer(t, deviation.SimMalformedNoClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText("{nope\n[]\n")
		g.hello("discord")
	})
	run(deviation.SimOversizeNoClose, func(t *testing.T) {
		s := devServer(t, deviation.SimOversizeNoClose, simulator.Options{})
		g := dialGW(t, s, "gw1")
		g.sendText(padFrame(contract.MaxFrameSize + 100))
		g.sendText("\n")
		g.hello("discord")
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		g.conn.Write(ctx, websocket.MessageText, []byte(padFrame(contract.MaxFrameSize+1)+"\n"))
		g.hello("discord")
	})
	run(deviation.SimPressRawCallback, func(t *testing.T) {
		s, g, msgID := pressSim(t, deviation.SimPressRawCallback)
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
	for _, info := range deviation.Of(deviation.Simulator) {
		if !seen[info.ID] {
			t.Errorf("deviation %s has no test", info.Name)
		}
	}
}

// withDeviations returns opts with the deviations ds on.
func withDeviations(t *testing.T, opts simulator.Options, ds ...deviation.ID) simulator.Options {
	t.Helper()
	if err := deviation.Apply(&opts, deviation.NewSet(ds...)); err != nil {
		t.Fatal(err)
	}
	return opts
}

// TestDeviationsAreTheSimulators: the simulator takes none of the
// client's deviations, before New or while it runs.
func TestDeviationsAreTheSimulators(t *testing.T) {
	var opts simulator.Options
	if err := deviation.Apply(&opts, deviation.NewSet(deviation.ClientNoNewline)); err == nil {
		t.Error("Options took a client deviation")
	}
	s := start(t, simulator.Options{})
	if err := deviation.Apply(s, deviation.NewSet(deviation.SimNoWake, deviation.AdapterMediaKindFile)); err == nil {
		t.Error("the server took an adapter deviation")
	}
	if err := deviation.Apply(s, deviation.NewSet(deviation.SimNoWake)); err != nil {
		t.Fatal(err)
	}
	st, err := s.ControlClient().Deviations(context.Background())
	if err != nil || len(st.Active) != 1 || st.Active[0] != "no-wake" {
		t.Errorf("active %v, %v; want [no-wake]", st.Active, err)
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
