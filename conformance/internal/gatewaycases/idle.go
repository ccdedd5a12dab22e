package gatewaycases

import (
	"fmt"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 7 of the contract, Idle, buffering and drain (IDLE-*).

var _ = h.GatewayCase(h.Case{
	ID:   "IDLE-013/ack-buffered",
	Reqs: []string{"IDLE-013", "IDLE-002"},
	Text: "the gateway acks each buffered inbound exactly once with its bufferId",
}, func(s *h.S) {
	var ms []h.UserMessage
	var bids []string
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		for i := 0; i < 2; i++ {
			m := g.NewMessage(fmt.Sprintf("buffered %d", i+1))
			d := g.Inject(m)
			if d.BufferID == "" {
				s.Harness("the simulator did not buffer the event: %s", d.Mode)
			}
			ms, bids = append(ms, m), append(bids, d.BufferID)
		}
	}})
	g.Handshaked(1)
	for _, b := range bids {
		g.F.ExpectFrame("IDLE-013", "an inbound_ack for the replayed "+b, h.AckFor(b))
	}
	for _, b := range bids {
		g.F.ExpectNoFrame(s.Quiet(), "IDLE-013", "exactly one ack for "+b, h.AckFor(b))
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-013/replay-of-admitted",
	Reqs:  []string{"IDLE-013", "IN-010"},
	Text:  "a buffered replay of an event the gateway already admitted is acked exactly once and starts no second turn",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	m := g.NewMessage("admitted once")
	first := "conform-" + h.RandHex(4)
	c.Write(h.RawInbound(m, first), false, "")
	g.F.ExpectFrame("IDLE-013", "an inbound_ack for "+first, h.AckFor(first))
	g.ExpectReply("IN-010", m)
	s.Step("the connector replays the same event under a new bufferId")
	again := "conform-" + h.RandHex(4)
	c.Write(h.RawInbound(m, again), false, "")
	g.F.ExpectFrame("IDLE-013", "an inbound_ack for the replay "+again+" (an already admitted event counts as admitted)", h.AckFor(again))
	g.F.ExpectNoFrame(s.Quiet(), "IDLE-013", "exactly one ack for "+again, h.AckFor(again))
	g.F.ExpectNoFrame(s.Quiet(), "IN-010", "no second reply: the replay of "+m.MessageID+" is dropped", h.IsReplyTo(m))
})

var _ = h.GatewayCase(h.Case{
	ID:   "IDLE-016/no-ack-live",
	Reqs: []string{"IDLE-016"},
	Text: "the gateway never acks a frame that arrived without bufferId",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("live")
	if d := g.Inject(m); d.Mode != "live" {
		s.Harness("the simulator did not deliver live: %s", d.Mode)
	}
	g.F.ExpectNoFrame(s.Quiet(), "IDLE-016", "no inbound_ack for a live delivery", h.OfGWType(contract.TypeInboundAck))
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-006/going-idle-awaits-ack",
	Reqs:  []string{"IDLE-006", "IDLE-001", "RC-015", "RC-001"},
	Text:  "on SIGTERM the gateway sends going_idle, keeps the socket until going_idle_ack arrives, then closes 1000 and does not reconnect",
	Needs: h.NeedSignal,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	if g.T.Opts.Echo {
		// A round trip proves the gateway finished starting up.
		m := g.NewMessage("ready?")
		g.Inject(m)
		g.ExpectReply("IDLE-006", m)
	}
	hold := g.Hold(contract.TypeGoingIdleAck)
	s.Step("SIGTERM")
	h.Terminate(g.Cmd)
	if _, ok := g.F.WaitFrame(s.Within(1), h.OfGWType(contract.TypeGoingIdle)); !ok {
		if !g.T.Opts.Echo {
			s.Untestable("the gateway did not send going_idle on SIGTERM (the echo profile of the gateway testee contract requires it); %s", h.CloseNote(c))
		}
		s.Failf("IDLE-006", "going_idle on SIGTERM (echo profile), then the socket kept until going_idle_ack", "no going_idle; %s", h.CloseNote(c))
	}
	g.F.Await(2*time.Second, func() bool { return hold.Count() > 0 || c.IsClosed() })
	if c.IsClosed() {
		s.Failf("IDLE-006", "the socket kept open until going_idle_ack arrives", "%s right after going_idle, before any ack", h.CloseNote(c))
	}
	if hold.Count() == 0 {
		s.Harness("the simulator sent no going_idle_ack")
	}
	s.Step("hold the ack for 300 ms")
	held := !g.F.Await(300*time.Millisecond, c.IsClosed)
	if !held {
		s.Failf("IDLE-006", "the socket kept open until going_idle_ack arrives", "%s before the ack", h.CloseNote(c))
	}
	hold.ReleaseAll()
	if !g.F.Await(s.Within(1), c.IsClosed) {
		s.Failf("RC-015", "a close 1000 after the ack", "still open")
	}
	code, _, by, _ := c.CloseInfo()
	s.Check(by == "gateway" && code == contract.CloseNormal, "RC-015", "the gateway closing 1000", "%s", h.CloseNote(c))
	g.NoMoreDials(1, g.TerminalWait(), "RC-015", "no reconnect after the gateway's own disconnect")
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
func goDormant(s *h.S, wait time.Duration) (*h.GWCase, *h.GWConn, *h.Holder) {
	g := s.Gateway(h.GWConfig{Env: map[string]string{h.EnvGoIdleTimeout: wait.String()}})
	c := g.Handshaked(1)
	hold := g.Hold(contract.TypeGoingIdleAck)
	g.Inject(g.NewMessage("/dormant"))
	g.F.ExpectFrame("IDLE-019", "going_idle after /dormant (echo profile)", h.OfGWType(contract.TypeGoingIdle))
	if !g.F.Await(s.Within(1), func() bool { return hold.Count() > 0 || c.IsClosed() }) {
		s.Harness("the simulator sent no going_idle_ack")
	}
	return g, c, hold
}

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-019/dormant-after-ack",
	Reqs:  []string{"IDLE-019"},
	Text:  "a gateway going dormant keeps its socket while going_idle_ack is held back, and suspends (closes) once it arrives",
	Needs: h.NeedEcho | h.NeedTimers,
}, func(s *h.S) {
	g, c, hold := goDormant(s, knobGoIdleTimeoutLong)
	s.Step("hold the ack for 300 ms")
	if g.F.Await(300*time.Millisecond, c.IsClosed) {
		s.Failf("IDLE-019", "the socket kept until going_idle_ack arrives", "%s before the ack", h.CloseNote(c))
	}
	hold.ReleaseAll()
	if !g.F.Await(s.Within(1), c.IsClosed) {
		s.Failf("IDLE-019", "the gateway suspending (closing its socket) once the ack arrived", "still open %s after the ack", s.Within(1))
	}
	code, _, by, _ := c.CloseInfo()
	s.Check(by == "gateway" && code == contract.CloseNormal, "IDLE-019", "the gateway closing 1000 to suspend", "%s", h.CloseNote(c))
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-019/no-ack-stays-connected",
	Reqs:  []string{"IDLE-019"},
	Text:  "a gateway whose going_idle_ack never comes stays connected after its wait runs out",
	Needs: h.NeedEcho | h.NeedTimers,
}, func(s *h.S) {
	g, c, _ := goDormant(s, knobGoIdleTimeout)
	wait := knobGoIdleTimeout + s.Within(0.2)
	s.Step("never send the ack; watch the socket for %s", wait)
	if g.F.Await(wait, c.IsClosed) {
		s.Failf("IDLE-019", "the socket kept when going_idle_ack never arrives", "%s", h.CloseNote(c))
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-013/replay-in-one-drain",
	Reqs:  []string{"IDLE-013"},
	Text:  "an event buffered twice (two bufferIds, one message id) is admitted once and both entries are acked, also when the replay arrives while the original is still being admitted",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	var bids []string
	// A drain window of 2 sends both entries back to back, so the replay
	// can arrive before the original is admitted (with a window of 1 it
	// waits for the original's ack); a connector may drain either way
	// (IDLE-011).
	g := s.Gateway(h.GWConfig{DrainWindow: 2, Before: func(g *h.GWCase) {
		m := g.NewMessage("/slow 300")
		for i := 0; i < 2; i++ {
			d := g.Inject(m)
			if d.BufferID == "" {
				s.Harness("the simulator did not buffer the event: %s", d.Mode)
			}
			bids = append(bids, d.BufferID)
		}
	}})
	g.Handshaked(1)
	for _, b := range bids {
		g.F.ExpectFrame("IDLE-013", "an inbound_ack for "+b+" (the second a replay of an admitted event)", h.AckFor(b))
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-014/no-ack-unadmitted",
	Reqs:  []string{"IDLE-014"},
	Text:  "a buffered event the gateway fails to admit is not acked, so it replays",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	var okID, rejectID string
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		okID = g.Inject(g.NewMessage("admitted")).BufferID
		rejectID = g.Inject(g.NewMessage("/reject")).BufferID
	}})
	g.Handshaked(1)
	g.F.ExpectFrame("IDLE-013", "an inbound_ack for the admitted event "+okID, h.AckFor(okID))
	g.F.ExpectNoFrame(s.Quiet(), "IDLE-014", "no inbound_ack for the event the gateway failed to admit ("+rejectID+", /reject)", h.AckFor(rejectID))
})

var _ = h.GatewayCase(h.Case{
	ID:   "IDLE-015/ack-buffered-passthrough",
	Reqs: []string{"IDLE-015"},
	Text: "the gateway acks a buffered passthrough_forward exactly once",
}, func(s *h.S) {
	var bid string
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		fw := contract.Forward{Platform: g.IDs[0].Platform, Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"type":1}`)}
		d, err := g.Sim.Passthrough(g.GatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.Handshaked(1)
	g.F.ExpectFrame("IDLE-015", "an inbound_ack for the buffered forward "+bid, h.AckFor(bid))
	g.F.ExpectNoFrame(s.Quiet(), "IDLE-015", "exactly one ack", h.AckFor(bid))
})

var _ = h.GatewayCase(h.Case{
	ID:    "IDLE-015/no-ack-unadmitted-forward",
	Reqs:  []string{"IDLE-015"},
	Text:  "a buffered passthrough_forward whose work the gateway fails to admit (a Discord /reject slash command, echo profile) is not acked",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g, bid := discordForwardBuffered(s, `{"type":2,"id":"conform-interaction","guild_id":"conform-guild","channel_id":"conform-chat-reject","data":{"name":"reject","options":[]},"member":{"user":{"id":"conform-user"}}}`)
	g.F.ExpectNoFrame(s.Within(0.5), "IDLE-015", "no inbound_ack for the forward the gateway failed to admit ("+bid+", /reject)", h.AckFor(bid))
})

var _ = h.GatewayCase(h.Case{
	ID:   "IDLE-015/press-forward-acked",
	Reqs: []string{"IDLE-015"},
	Text: "a buffered passthrough_forward of a Discord button press is acked once admitted, a press on a prompt of another process included",
}, func(s *h.S) {
	g, bid := discordForwardBuffered(s, `{"type":3,"id":"conform-press","guild_id":"conform-guild","channel_id":"conform-chat-press","data":{"custom_id":"hp1:conform-other.`+h.RandHex(4)+`:yes"},"message":{"id":"conform-msg"},"member":{"user":{"id":"conform-user"}}}`)
	g.F.ExpectFrame("IDLE-015", "an inbound_ack for the buffered press forward "+bid, h.AckFor(bid))
	g.F.ExpectNoFrame(s.Quiet(), "IDLE-015", "exactly one ack", h.AckFor(bid))
})

// discordForwardBuffered buffers a Discord interaction (body) as a
// passthrough_forward before a gateway fronting discord starts, waits for
// its handshake and returns it with the forward's buffer id.
func discordForwardBuffered(s *h.S, body string) (*h.GWCase, string) {
	var bid string
	discord := []h.Identity{{Platform: "discord", BotID: "conform-discord"}}
	g := s.Gateway(h.GWConfig{Identities: discord, Before: func(g *h.GWCase) {
		fw := contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(body)}
		d, err := g.Sim.Passthrough(g.GatewayID, fw)
		if err != nil || d.BufferID == "" {
			s.Harness("buffer a passthrough forward: %v (%s)", err, d.Mode)
		}
		bid = d.BufferID
	}})
	g.Handshaked(1)
	return g, bid
}
