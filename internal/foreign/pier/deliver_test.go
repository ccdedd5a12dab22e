package pier

import (
	"net/http"
	"strings"
	"testing"
)

func eventOf(f map[string]any) map[string]any { return f["event"].(map[string]any) }

func TestInboundLiveWithPierIDs(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier, PlatformOps)
	d := b.injectEvent(g, map[string]any{"text": "hello", "message_id": "m-mine", "message_type": "sticker-ish",
		"x_custom": 1, "source": map[string]any{"platform": PlatformPier, "chat_id": "room-1", "message_id": "m-mine"}})
	if d.Delivery != "live" || d.BufferID != "" || d.ChatID != "room-1" || !strings.HasPrefix(d.MessageID, "pm.") {
		t.Fatalf("delivery %+v", d)
	}
	f := c.expect("inbound")
	ev := eventOf(f)
	src := ev["source"].(map[string]any)
	if _, has := f["bufferId"]; has {
		t.Errorf("a live delivery has no bufferId: %v", f)
	}
	if ev["message_id"] != d.MessageID || src["message_id"] != nil || src["chat_id"] != d.ChatID {
		t.Errorf("event %v: pier's own message id, as POST /inbound answered", ev)
	}
	if src["chat_type"] != "dm" || src["user_id"] != "pier-guest" || ev["message_type"] != "text" || ev["x_custom"] != nil || ev["pier_seq"] == nil {
		t.Errorf("event %v: defaults and pier's own fields", ev)
	}
	if r := c.result(send("room-1", "reply"), ""); r["success"] != true {
		t.Errorf("a chat seen in an inbound event is one the gateway may post to: %v", r)
	}
	if r := c.result(send("room-1", "reply"), PlatformOps); r["code"] != "not_found" {
		t.Errorf("the chat is pier's, not pier-ops': %v", r)
	}
	c.expect("error")

	// A bot's message outside a DM is held back by the default policy.
	if d := b.injectEvent(g, map[string]any{"text": "beep", "source": map[string]any{"platform": PlatformPier,
		"chat_id": "room-2", "chat_type": "group", "user_id": "bot", "is_bot": true}}); d.Delivery != "filtered" {
		t.Errorf("bot in a group: %+v, want filtered", d)
	}
	c.quiet()
}

func TestInboundValidation(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(map[string]any{"platforms": []string{PlatformPier}})
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
		field  string
	}{
		"unknown gateway":  {map[string]any{"gatewayId": "nope", "event": map[string]any{}}, 404, "gatewayId"},
		"no event":         {map[string]any{"gatewayId": g.GatewayID}, 400, "event"},
		"no source":        {map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{"text": "x"}}, 400, "event.source"},
		"unfronted":        {map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{"source": map[string]any{"platform": PlatformOps, "chat_id": "c"}}}, 400, "platform"},
		"bad chat type":    {map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{"source": map[string]any{"platform": PlatformPier, "chat_id": "c", "chat_type": "room"}}}, 400, "chat_type"},
		"no chat":          {map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{"source": map[string]any{"platform": PlatformPier}}}, 400, "chat_id"},
		"gatewayId number": {map[string]any{"gatewayId": 5}, 400, "gatewayId"},
		"oversized":        {map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{"text": strings.Repeat("a", 1<<20), "source": map[string]any{"platform": PlatformPier, "chat_id": "c"}}}, 413, "1 MiB"},
	} {
		var out map[string]string
		st := b.call(http.MethodPost, "/inbound", tc.body, &out)
		if st != tc.status || !strings.Contains(out["error"], tc.field) {
			t.Errorf("%s: HTTP %d %v, want %d naming %q", name, st, out, tc.status, tc.field)
		}
	}
}

// goAway connects, goes idle and hangs up, leaving the instance flipped.
func (b *bench) goAway(g gatewayView, platforms ...string) {
	b.t.Helper()
	c := b.connect(g, platforms...)
	c.send(map[string]any{"type": "going_idle"})
	c.expect("going_idle_ack")
	b.hangUp(c)
}

func TestGoingIdleFlipsBeforeAck(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier)
	c.send(map[string]any{"type": "going_idle"})
	c.expect("going_idle_ack")
	if d := b.inject(g, PlatformPier, "c1", "after the ack"); d.Delivery != "buffered" || d.BufferID == "" {
		t.Fatalf("after going_idle_ack: %+v, want buffered (IDLE-003)", d)
	}
	c.send(map[string]any{"type": "going_idle"})
	c.expect("going_idle_ack")
	c.quiet()
}

func TestDrainWindowOrderAndLive(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	b.goAway(g, PlatformPier)
	var ds []delivery
	for i := 0; i < 5; i++ {
		d := b.inject(g, PlatformPier, "c1", "buffered")
		if d.Delivery != "buffered" || !strings.HasPrefix(d.BufferID, "q") {
			t.Fatalf("while away: %+v", d)
		}
		ds = append(ds, d)
	}
	c := b.connect(g, PlatformPier)
	// Three replays (the window), then nothing until an ack.
	var got []map[string]any
	for i := 0; i < DefaultDrainWindow; i++ {
		got = append(got, c.expect("inbound"))
	}
	if fs := c.barrier(); len(fs) != 0 {
		t.Fatalf("more than the window in flight: %v", fs)
	}
	live := b.inject(g, PlatformPier, "c1", "during the drain")
	if live.Delivery != "buffered" {
		t.Fatalf("during the drain: %+v, want buffered behind the backlog (IDLE-012)", live)
	}
	ds = append(ds, live)
	for len(got) < len(ds) {
		c.send(map[string]any{"type": "inbound_ack", "bufferId": got[len(got)-DefaultDrainWindow]["bufferId"]})
		got = append(got, c.expect("inbound"))
	}
	for i, f := range got {
		if f["bufferId"] != ds[i].BufferID || eventOf(f)["message_id"] != ds[i].MessageID {
			t.Fatalf("replay %d: %v, want entry %+v (oldest first, IDLE-009)", i, f, ds[i])
		}
	}
	for _, f := range got[len(got)-DefaultDrainWindow:] {
		c.send(map[string]any{"type": "inbound_ack", "bufferId": f["bufferId"]})
	}
	c.barrier()
	if d := b.inject(g, PlatformPier, "c1", "live again"); d.Delivery != "live" {
		t.Fatalf("after the drain: %+v, want live", d)
	}
	c.expect("inbound")
}

func TestUnackedRedeliveredAckedNot(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	b.goAway(g, PlatformPier)
	d1 := b.inject(g, PlatformPier, "c1", "one")
	d2 := b.inject(g, PlatformPier, "c1", "two")
	c := b.connect(g, PlatformPier)
	f1, f2 := c.expect("inbound"), c.expect("inbound")
	c.send(map[string]any{"type": "inbound_ack", "bufferId": f1["bufferId"]})
	c.barrier()
	b.hangUp(c)
	c = b.connect(g, PlatformPier)
	f := c.expect("inbound")
	if f["bufferId"] != f2["bufferId"] || f["bufferId"] != d2.BufferID || eventOf(f)["message_id"] != d2.MessageID {
		t.Fatalf("redelivery %v, want entry %s again (IDLE-010)", f, d2.BufferID)
	}
	c.send(map[string]any{"type": "inbound_ack", "bufferId": f["bufferId"]})
	// Duplicate and unknown acks are no-ops: no frame, no close.
	c.send(map[string]any{"type": "inbound_ack", "bufferId": f["bufferId"]})
	c.send(map[string]any{"type": "inbound_ack", "bufferId": d1.BufferID})
	c.send(map[string]any{"type": "inbound_ack", "bufferId": "q1@zz"})
	c.send(map[string]any{"type": "inbound_ack", "bufferId": 12})
	c.send(map[string]any{"type": "inbound_ack"})
	c.quiet()
	if d := b.inject(g, PlatformPier, "c1", "live"); d.Delivery != "live" {
		t.Fatalf("after the drain: %+v", d)
	}
}

func TestAckOfAnotherInstanceIsNoop(t *testing.T) {
	b := newBench(t, Options{})
	a := b.enroll(nil)
	other := b.enroll(map[string]any{"tenant": "elsewhere"})
	b.goAway(other, PlatformPier)
	theirs := b.inject(other, PlatformPier, "c1", "theirs")
	c := b.connect(a, PlatformPier)
	c.send(map[string]any{"type": "inbound_ack", "bufferId": theirs.BufferID})
	c.quiet()
	b.hangUp(c)
	c2 := b.connect(other, PlatformPier)
	if f := c2.expect("inbound"); f["bufferId"] != theirs.BufferID {
		t.Fatalf("the other instance's entry: %v", f)
	}
}

func TestReplayWaitsForItsPlatformsHello(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	b.goAway(g, PlatformPier)
	ops := b.inject(g, PlatformOps, "c1", "ops first")
	pr := b.inject(g, PlatformPier, "c1", "pier second")
	c := b.connect(g, PlatformPier)
	// The oldest entry is for pier-ops, which this socket has not
	// answered: the replay waits (IN-007, order kept).
	if fs := c.barrier(); len(fs) != 0 {
		t.Fatalf("replayed before the pier-ops hello: %v", fs)
	}
	c.hello(PlatformOps)
	c.expect("descriptor")
	for _, want := range []delivery{ops, pr} {
		if f := c.expect("inbound"); f["bufferId"] != want.BufferID {
			t.Fatalf("replay %v, want %s", f, want.BufferID)
		}
	}
}

func TestReplaySkipsUnansweredPlatformAfterWindow(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	b.goAway(g, PlatformPier)
	b.inject(g, PlatformOps, "c1", "ops")
	pr := b.inject(g, PlatformPier, "c1", "pier")
	c := b.connect(g, PlatformPier)
	if err := b.clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultHelloWindow)
	f := c.expect("inbound")
	if f["bufferId"] != pr.BufferID {
		t.Fatalf("after the hello window: %v, want the pier entry %s", f, pr.BufferID)
	}
	c.send(map[string]any{"type": "inbound_ack", "bufferId": f["bufferId"]})
	c.barrier()
	if d := b.inject(g, PlatformPier, "c1", "live"); d.Delivery != "live" {
		t.Fatalf("the pier-ops entry waits for a pier-ops socket; pier itself is live again: %+v", d)
	}
}

func TestInterruptRouting(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier)
	b.inject(g, PlatformPier, "room-9", "start")
	ev := eventOf(c.expect("inbound"))
	key := sessionKey(ev["source"].(map[string]any))
	c.send(map[string]any{"type": "interrupt", "session_key": key, "reason": nil})
	if f := c.expect("interrupt_inbound"); f["session_key"] != key || f["chat_id"] != "room-9" {
		t.Fatalf("interrupt_inbound %v", f)
	}
	c.send(map[string]any{"type": "interrupt", "session_key": "agent:main:pier:dm:unknown", "reason": "x"})
	c.send(map[string]any{"type": "interrupt", "session_key": 5})
	c.quiet()
}
