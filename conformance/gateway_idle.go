package conformance

import (
	"fmt"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 7 of the contract, Idle, buffering and drain (IDLE-*).

var _ = gatewayCase(Case{
	ID:   "IDLE-013/ack-buffered",
	Reqs: []string{"IDLE-013", "IDLE-002"},
	Text: "the gateway acks each buffered inbound exactly once with its bufferId",
}, func(s *S) {
	var ms []userMessage
	var bids []string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		for i := 0; i < 2; i++ {
			m := g.newMessage(fmt.Sprintf("buffered %d", i+1))
			d := g.inject(m)
			if d.BufferID == "" {
				s.Harness("the simulator did not buffer the event: %s", d.Mode)
			}
			ms, bids = append(ms, m), append(bids, d.BufferID)
		}
	}})
	g.handshaked(1)
	for _, b := range bids {
		g.f.expectFrame("IDLE-013", "an inbound_ack for the replayed "+b, ackFor(b))
	}
	for _, b := range bids {
		g.f.expectNoFrame(s.quiet(), "IDLE-013", "exactly one ack for "+b, ackFor(b))
	}
})

var _ = gatewayCase(Case{
	ID:    "IDLE-013/replay-of-admitted",
	Reqs:  []string{"IDLE-013", "IN-010"},
	Text:  "a buffered replay of an event the gateway already admitted is acked exactly once and starts no second turn",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	m := g.newMessage("admitted once")
	first := "conform-" + randHex(4)
	c.write(rawInbound(m, first), false, "")
	g.f.expectFrame("IDLE-013", "an inbound_ack for "+first, ackFor(first))
	g.expectReply("IN-010", m)
	s.Step("the connector replays the same event under a new bufferId")
	again := "conform-" + randHex(4)
	c.write(rawInbound(m, again), false, "")
	g.f.expectFrame("IDLE-013", "an inbound_ack for the replay "+again+" (an already admitted event counts as admitted)", ackFor(again))
	g.f.expectNoFrame(s.quiet(), "IDLE-013", "exactly one ack for "+again, ackFor(again))
	g.f.expectNoFrame(s.quiet(), "IN-010", "no second reply: the replay of "+m.MessageID+" is dropped", isReplyTo(m))
})

var _ = gatewayCase(Case{
	ID:   "IDLE-016/no-ack-live",
	Reqs: []string{"IDLE-016"},
	Text: "the gateway never acks a frame that arrived without bufferId",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("live")
	if d := g.inject(m); d.Mode != "live" {
		s.Harness("the simulator did not deliver live: %s", d.Mode)
	}
	g.f.expectNoFrame(s.quiet(), "IDLE-016", "no inbound_ack for a live delivery", ofGwType(contract.TypeInboundAck))
})

var _ = gatewayCase(Case{
	ID:    "IDLE-006/going-idle-awaits-ack",
	Reqs:  []string{"IDLE-006", "IDLE-001", "RC-015", "RC-001"},
	Text:  "on SIGTERM the gateway sends going_idle, keeps the socket until going_idle_ack arrives, then closes 1000 and does not reconnect",
	Needs: NeedSignal,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	if g.t.opts.Echo {
		// A round trip proves the gateway finished starting up.
		m := g.newMessage("ready?")
		g.inject(m)
		g.expectReply("IDLE-006", m)
	}
	h := g.hold(contract.TypeGoingIdleAck)
	s.Step("SIGTERM")
	terminate(g.cmd)
	if _, ok := g.f.waitFrame(s.within(1), ofGwType(contract.TypeGoingIdle)); !ok {
		if !g.t.opts.Echo {
			s.Untestable("the gateway did not send going_idle on SIGTERM (the echo profile of the gateway testee contract requires it); %s", closeNote(c))
		}
		s.Failf("IDLE-006", "going_idle on SIGTERM (echo profile), then the socket kept until going_idle_ack", "no going_idle; %s", closeNote(c))
	}
	g.f.await(2*time.Second, func() bool { return h.count() > 0 || c.isClosed() })
	if c.isClosed() {
		s.Failf("IDLE-006", "the socket kept open until going_idle_ack arrives", "%s right after going_idle, before any ack", closeNote(c))
	}
	if h.count() == 0 {
		s.Harness("the simulator sent no going_idle_ack")
	}
	s.Step("hold the ack for 300 ms")
	held := !g.f.await(300*time.Millisecond, c.isClosed)
	if !held {
		s.Failf("IDLE-006", "the socket kept open until going_idle_ack arrives", "%s before the ack", closeNote(c))
	}
	h.releaseAll()
	if !g.f.await(s.within(1), c.isClosed) {
		s.Failf("RC-015", "a close 1000 after the ack", "still open")
	}
	code, _, by, _ := c.closeInfo()
	s.Check(by == "gateway" && code == contract.CloseNormal, "RC-015", "the gateway closing 1000", "%s", closeNote(c))
	g.noMoreDials(1, g.terminalWait(), "RC-015", "no reconnect after the gateway's own disconnect")
})

// knobGoIdleTimeout is the gateway's wait for going_idle_ack when a case
// waits it out, under --timers.
const knobGoIdleTimeout = 600 * time.Millisecond

// knobGoIdleTimeoutLong is the gateway's wait for going_idle_ack when a
// case holds the ack and then sends it: far longer than the hold, so that
// a loaded machine cannot stretch the hold past the gateway's wait and
// turn a conformant "stays connected" into a failure.
const knobGoIdleTimeoutLong = 20 * knobGoIdleTimeout

// goDormant starts the gateway with the given going_idle_ack wait, makes
// it go dormant through the echo profile's /dormant while the suite holds
// the ack, and returns the connection and the holder once going_idle is
// sent.
func goDormant(s *S, wait time.Duration) (*gwCase, *gwConn, *holder) {
	g := s.gateway(gwConfig{Env: map[string]string{EnvGoIdleTimeout: wait.String()}})
	c := g.handshaked(1)
	h := g.hold(contract.TypeGoingIdleAck)
	g.inject(g.newMessage("/dormant"))
	g.f.expectFrame("IDLE-019", "going_idle after /dormant (echo profile)", ofGwType(contract.TypeGoingIdle))
	if !g.f.await(s.within(1), func() bool { return h.count() > 0 || c.isClosed() }) {
		s.Harness("the simulator sent no going_idle_ack")
	}
	return g, c, h
}

var _ = gatewayCase(Case{
	ID:    "IDLE-019/dormant-after-ack",
	Reqs:  []string{"IDLE-019"},
	Text:  "a gateway going dormant keeps its socket while going_idle_ack is held back, and suspends (closes) once it arrives",
	Needs: NeedEcho | NeedTimers,
}, func(s *S) {
	g, c, h := goDormant(s, knobGoIdleTimeoutLong)
	s.Step("hold the ack for 300 ms")
	if g.f.await(300*time.Millisecond, c.isClosed) {
		s.Failf("IDLE-019", "the socket kept until going_idle_ack arrives", "%s before the ack", closeNote(c))
	}
	h.releaseAll()
	if !g.f.await(s.within(1), c.isClosed) {
		s.Failf("IDLE-019", "the gateway suspending (closing its socket) once the ack arrived", "still open %s after the ack", s.within(1))
	}
	code, _, by, _ := c.closeInfo()
	s.Check(by == "gateway" && code == contract.CloseNormal, "IDLE-019", "the gateway closing 1000 to suspend", "%s", closeNote(c))
})

var _ = gatewayCase(Case{
	ID:    "IDLE-019/no-ack-stays-connected",
	Reqs:  []string{"IDLE-019"},
	Text:  "a gateway whose going_idle_ack never comes stays connected after its wait runs out",
	Needs: NeedEcho | NeedTimers,
}, func(s *S) {
	g, c, _ := goDormant(s, knobGoIdleTimeout)
	wait := knobGoIdleTimeout + s.within(0.2)
	s.Step("never send the ack; watch the socket for %s", wait)
	if g.f.await(wait, c.isClosed) {
		s.Failf("IDLE-019", "the socket kept when going_idle_ack never arrives", "%s", closeNote(c))
	}
})

var _ = gatewayCase(Case{
	ID:    "IDLE-013/replay-in-one-drain",
	Reqs:  []string{"IDLE-013"},
	Text:  "an event buffered twice (two bufferIds, one message id) is admitted once and both entries are acked",
	Needs: NeedEcho,
}, func(s *S) {
	var bids []string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		m := g.newMessage("/slow 300")
		for i := 0; i < 2; i++ {
			d := g.inject(m)
			if d.BufferID == "" {
				s.Harness("the simulator did not buffer the event: %s", d.Mode)
			}
			bids = append(bids, d.BufferID)
		}
	}})
	g.handshaked(1)
	for _, b := range bids {
		g.f.expectFrame("IDLE-013", "an inbound_ack for "+b+" (the second a replay of an admitted event)", ackFor(b))
	}
})

var _ = gatewayCase(Case{
	ID:    "IDLE-014/no-ack-unadmitted",
	Reqs:  []string{"IDLE-014"},
	Text:  "a buffered event the gateway fails to admit is not acked, so it replays",
	Needs: NeedEcho,
}, func(s *S) {
	var okID, rejectID string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		okID = g.inject(g.newMessage("admitted")).BufferID
		rejectID = g.inject(g.newMessage("/reject")).BufferID
	}})
	g.handshaked(1)
	g.f.expectFrame("IDLE-013", "an inbound_ack for the admitted event "+okID, ackFor(okID))
	g.f.expectNoFrame(s.quiet(), "IDLE-014", "no inbound_ack for the event the gateway failed to admit ("+rejectID+", /reject)", ackFor(rejectID))
})

var _ = gatewayCase(Case{
	ID:   "IDLE-015/ack-buffered-passthrough",
	Reqs: []string{"IDLE-015"},
	Text: "the gateway acks a buffered passthrough_forward exactly once",
}, func(s *S) {
	var bid string
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		fw := contract.Forward{Platform: g.ids[0].Platform, Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"type":1}`)}
		d, err := g.sim.Passthrough(g.gatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.handshaked(1)
	g.f.expectFrame("IDLE-015", "an inbound_ack for the buffered forward "+bid, ackFor(bid))
	g.f.expectNoFrame(s.quiet(), "IDLE-015", "exactly one ack", ackFor(bid))
})

var _ = gatewayCase(Case{
	ID:    "IDLE-015/no-ack-unadmitted-forward",
	Reqs:  []string{"IDLE-015"},
	Text:  "a buffered passthrough_forward whose work the gateway fails to admit (a Discord /reject slash command, echo profile) is not acked",
	Needs: NeedEcho,
}, func(s *S) {
	g, bid := discordForwardBuffered(s, `{"type":2,"id":"conform-interaction","guild_id":"conform-guild","channel_id":"conform-chat-reject","data":{"name":"reject","options":[]},"member":{"user":{"id":"conform-user"}}}`)
	g.f.expectNoFrame(s.within(0.5), "IDLE-015", "no inbound_ack for the forward the gateway failed to admit ("+bid+", /reject)", ackFor(bid))
})

var _ = gatewayCase(Case{
	ID:   "IDLE-015/press-forward-acked",
	Reqs: []string{"IDLE-015"},
	Text: "a buffered passthrough_forward of a Discord button press is acked once admitted, a press on a prompt of another process included",
}, func(s *S) {
	g, bid := discordForwardBuffered(s, `{"type":3,"id":"conform-press","guild_id":"conform-guild","channel_id":"conform-chat-press","data":{"custom_id":"hp1:conform-other.`+randHex(4)+`:yes"},"message":{"id":"conform-msg"},"member":{"user":{"id":"conform-user"}}}`)
	g.f.expectFrame("IDLE-015", "an inbound_ack for the buffered press forward "+bid, ackFor(bid))
	g.f.expectNoFrame(s.quiet(), "IDLE-015", "exactly one ack", ackFor(bid))
})

// discordForwardBuffered buffers a Discord interaction (body) as a
// passthrough_forward before a gateway fronting discord starts, waits for
// its handshake and returns it with the forward's buffer id.
func discordForwardBuffered(s *S, body string) (*gwCase, string) {
	var bid string
	discord := []identity{{Platform: "discord", BotID: "conform-discord"}}
	g := s.gateway(gwConfig{Identities: discord, Before: func(g *gwCase) {
		fw := contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(body)}
		d, err := g.sim.Passthrough(g.gatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.handshaked(1)
	return g, bid
}
