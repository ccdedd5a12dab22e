package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Gateway-suite cases. The suite plays the connector: an in-process
// simulator behind a scripted front; the gateway under test is started per
// case with the testee environment.

var _ = gatewayCase(Case{
	ID:   "HS-003/hello-per-identity",
	Reqs: []string{"HS-003", "HS-001", "HS-002"},
	Text: "right after the socket opens the gateway sends one well-formed hello per identity, in configured order, without waiting for descriptors",
}, func(s *S) {
	// Not in alphabetical order, so a gateway that sorts its identities
	// shows.
	ids := []identity{{Platform: "telegram", BotID: "conform-telegram"}, {Platform: "discord", BotID: "conform-discord"}}
	var h *holder
	g := s.gateway(gwConfig{Identities: ids, Before: func(g *gwCase) { h = g.hold(contract.TypeDescriptor) }})
	for i, id := range ids {
		f := g.f.expectFrame("HS-003", fmt.Sprintf("hello %d of %d (%s) before any descriptor", i+1, len(ids), id.Platform), ofGwType(contract.TypeHello))
		s.Check(f.Conn == 1, "HS-003", "the hellos on the first connection", "hello on connection %d", f.Conn)
		s.Check(f.str("platform") == id.Platform, "HS-003", fmt.Sprintf("hello %d for %q (configured order)", i+1, id.Platform), "%s", f)
		s.Check(f.str("botId") == id.BotID, "HS-001", fmt.Sprintf("botId %q", id.BotID), "%s", f)
	}
	h.releaseAll()
	g.handshaked(1)
	g.f.expectNoFrame(s.quiet(), "HS-003", "exactly one hello per identity", ofGwType(contract.TypeHello))
})

// ofGwType matches gateway frames of one type.
func ofGwType(typ string) func(gwFrame) bool {
	return func(g gwFrame) bool { return g.Type == typ }
}

var _ = gatewayCase(Case{
	ID:   "AUTH-001/fresh-token",
	Reqs: []string{"AUTH-001", "AUTH-003"},
	Text: "every upgrade carries a canonical bearer token signed with the secret, minted afresh for that dial",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	d1 := g.f.dial(1)
	s.checkToken(g, d1)
	// Tokens minted in the same second are byte-identical; let a second
	// pass so a fresh token must differ.
	if wait := time.Until(d1.At.Add(1100 * time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	c.closeWith(int(1011), "conformance: reconnect")
	if !g.waitDials(2, 2*knobBackoffCap+5*time.Second) {
		s.Failf("RC-004", "a re-dial after a 1011 close", "no second dial")
	}
	d2 := g.f.dial(2)
	s.checkToken(g, d2)
	if d1.Claims.Exp == 0 {
		s.Untestable("the gateway mints tokens that never expire (exp 0), so a fresh token cannot be told from a reused one")
	}
	s.Check(d2.Claims.Exp > d1.Claims.Exp, "AUTH-001", "a token minted afresh for the second dial (a later exp)",
		"exp %d on dial 1 at %s and exp %d on dial 2 at %s", d1.Claims.Exp, d1.At.Format(time.TimeOnly), d2.Claims.Exp, d2.At.Format(time.TimeOnly))
})

// checkToken checks AUTH-001 and AUTH-003 on one dial's bearer.
func (s *S) checkToken(g *gwCase, d *gwDial) {
	if d.Token == "" {
		s.Failf("AUTH-001", "Authorization: Bearer <token> on the upgrade", "dial %d had no bearer", d.N)
	}
	if d.TokenErr != nil {
		s.Failf("AUTH-003", "a canonical token (unpadded base64url of <id>:<exp>:<64 lowercase hex>)", "dial %d: %v", d.N, d.TokenErr)
	}
	if d.Claims.GatewayID != g.gatewayID {
		s.Failf("AUTH-003", "the gateway id "+g.gatewayID+" as the token's payload", "%q", d.Claims.GatewayID)
	}
	at := time.Unix(d.Claims.Exp, 0)
	if d.Claims.Exp == 0 {
		at = d.At
	}
	if _, err := contract.VerifyToken(d.Token, []string{g.secret}, at); err != nil {
		s.Failf("AUTH-003", "the HMAC-SHA256 of <id>:<exp> under the secret", "dial %d: %v", d.N, err)
	}
}

var _ = gatewayCase(Case{
	ID:   "AUTH-004/token-lifetime",
	Reqs: []string{"AUTH-004"},
	Text: "an upgrade token expires 300 s after it is minted",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	d := g.f.dial(1)
	left := time.Unix(d.Claims.Exp, 0).Sub(d.At)
	s.Check(d.Claims.Exp != 0 && left > 290*time.Second && left < 310*time.Second, "AUTH-004",
		"exp about 300 s after the dial", "exp %d, %s after the dial", d.Claims.Exp, left.Round(time.Second))
})

var _ = gatewayCase(Case{
	ID:   "TRN-013/frame-hygiene",
	Reqs: []string{"TRN-013", "TRN-001", "TRN-002", "TRN-003", "TRN-018"},
	Text: "the gateway sends every frame as its own text message: one JSON object with a string type, ending in one newline",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	g.probeAck("IDLE-013", "a buffered inbound", func(b []byte) { c.write(b, false, "") })
	if len(g.f.gwFramesOf(contract.TypeHello)) == 0 {
		s.Harness("no frame from the gateway to check")
	}
})

var _ = gatewayCase(Case{
	ID:   "TRN-014/dial-url",
	Reqs: []string{"TRN-014"},
	Text: "the gateway derives the dial URL from the base URL: http to ws, trailing slashes removed, /relay appended",
}, func(s *S) {
	g := s.gateway(gwConfig{URL: func(base string) string { return base + "//" }})
	g.handshaked(1)
	s.Check(g.f.dial(1).Path == contract.PathRelay, "TRN-014", "the upgrade at /relay", "at %q", g.f.dial(1).Path)
})

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
	ID:   "TRN-004/unknown-frames-ignored",
	Reqs: []string{"TRN-004"},
	Text: "the gateway ignores frames of unknown type, and gateway-side types echoed back, and keeps the connection",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	for _, fr := range []string{
		`{"type":"x-conformance-unknown","data":{"n":1}}`,
		`{"type":"hello","platform":"telegram","botId":""}`,
		`{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","action":{"op":"send"}}`,
		`{"type":"going_idle"}`,
		`{"type":"inbound_ack","bufferId":"x"}`,
	} {
		c.write([]byte(fr+"\n"), false, "an unknown or misdirected frame")
	}
	g.probeAck("TRN-004", "after unknown frames", func(b []byte) { c.write(b, false, "") })
	s.Check(!c.isClosed(), "TRN-004", "the connection kept open", "closed")
})

var _ = gatewayCase(Case{
	ID:   "TRN-005/reads-batched-and-split",
	Reqs: []string{"TRN-005"},
	Text: "the gateway handles several frames in one message and one frame split across messages",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	g.probeAck("TRN-005", "a frame split across three messages", func(b []byte) {
		a, z := len(b)/3, 2*len(b)/3
		c.write(b[:a], false, "part 1 of 3")
		c.write(b[a:z], false, "part 2 of 3")
		c.write(b[z:], false, "part 3 of 3")
	})
	m1, m2 := g.newMessage("batched 1"), g.newMessage("batched 2")
	b1, b2 := "conform-"+randHex(4), "conform-"+randHex(4)
	c.write(append(rawInbound(m1, b1), rawInbound(m2, b2)...), false, "two frames in one message")
	g.f.expectFrame("TRN-005", "an ack for the first of two batched frames", ackFor(b1))
	g.f.expectFrame("TRN-005", "an ack for the second of two batched frames", ackFor(b2))
})

var _ = gatewayCase(Case{
	ID:   "TRN-006/any-serialisation",
	Reqs: []string{"TRN-006"},
	Text: "the gateway accepts any valid JSON serialisation: spaces, \\uXXXX escapes, surrogate pairs, any member order",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	m := g.newMessage("")
	b := "conform-" + randHex(4)
	frame := fmt.Sprintf(`{"bufferId": %s, "event": {"source": {"user_id": "u1", "chat_type": "dm", "chat_id": %s, "platform": %s}, "message_id": %s, "text": "h\u00e9 \ud83d\udd0c"}, "type": "inbound"}`+"\n",
		pyJSON(b), pyJSON(m.ChatID), pyJSON(m.Platform), pyJSON(m.MessageID))
	c.write([]byte(frame), false, "a Python-style inbound")
	g.f.expectFrame("TRN-006", "an ack for a Python-style buffered inbound", ackFor(b))
})

var _ = gatewayCase(Case{
	ID:   "TRN-017/skips-blank-lines",
	Reqs: []string{"TRN-017"},
	Text: "the gateway skips empty and whitespace-only lines",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	g.probeAck("TRN-017", "after blank lines", func(b []byte) { c.write(append([]byte("\n  \n\t\n"), b...), false, "") })
})

var _ = gatewayCase(Case{
	ID:   "TRN-016/reads-binary-message",
	Reqs: []string{"TRN-016"},
	Text: "the gateway reads a binary message as UTF-8 text",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	g.probeAck("TRN-016", "sent as a binary message", func(b []byte) { c.write(b, true, "") })
})

var _ = gatewayCase(Case{
	ID:   "TRN-007/reads-one-mib-frame",
	Reqs: []string{"TRN-007"},
	Text: "the gateway accepts a frame of exactly 1 MiB (newline excluded)",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	m := g.newMessage("one MiB")
	b := "conform-" + randHex(4)
	// The padding sits in an event member the gateway does not know, so an
	// echo gateway's reply stays small.
	build := func(pad int) []byte {
		ev := map[string]any{}
		_ = json.Unmarshal(eventJSON(m), &ev)
		ev["x_conformance_padding"] = strings.Repeat("x", pad)
		return jsonLine(map[string]any{"type": contract.TypeInbound, "event": ev, "bufferId": b})
	}
	frame := build(contract.MaxFrameSize - (len(build(0)) - 1))
	if len(frame) != contract.MaxFrameSize+1 {
		s.Harness("built a %d-byte frame", len(frame))
	}
	c.write(frame, false, "a 1 MiB buffered inbound")
	g.f.expectFrame("TRN-007", "an ack for a 1 MiB frame", ackFor(b))
})

var _ = gatewayCase(Case{
	ID:   "TRN-010/malformed-lines-skipped",
	Reqs: []string{"TRN-010"},
	Text: "the gateway skips lines that are not JSON or not objects without stopping its reader",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	c.write([]byte("{\"type\": \"inbound\", \n"), false, "a line that is not JSON")
	c.write([]byte("[1, 2, 3]\nnull\n\"text\"\n"), false, "lines that are not objects")
	m := g.newMessage("after malformed lines")
	b := "conform-" + randHex(4)
	c.write(rawInbound(m, b), false, "")
	if _, ok := g.f.waitFrame(s.within(1), ackFor(b)); !ok {
		s.Failf("TRN-010", "the reader to go on after malformed lines (an ack for a later buffered inbound)", "no ack; connection %s", closeNote(c))
	}
})

func closeNote(c *gwConn) string {
	if !c.isClosed() {
		return "still open"
	}
	code, reason, by, _ := c.closeInfo()
	return fmt.Sprintf("closed %d %q by the %s", code, reason, by)
}

var _ = gatewayCase(Case{
	ID:   "TRN-020/gateway-answers-ping",
	Reqs: []string{"TRN-020"},
	Text: "the gateway answers WebSocket pings with pongs",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	c := g.handshaked(1)
	ctx, cancel := context.WithTimeout(s.ctx, s.within(1))
	defer cancel()
	s.Logf("ping the gateway")
	if err := c.ws.Ping(ctx); err != nil {
		s.Failf("TRN-020", "a pong for a WebSocket ping", "%v", err)
	}
})

var _ = gatewayCase(Case{
	ID:    "TRN-011/keepalive-pings",
	Reqs:  []string{"TRN-011"},
	Text:  "the gateway sends WebSocket pings on its keepalive interval",
	Needs: NeedTimers,
}, func(s *S) {
	g := s.gateway(gwConfig{Env: map[string]string{EnvPingInterval: "150ms"}})
	c := g.handshaked(1)
	if !g.f.await(s.within(1), func() bool { return c.pingCount() >= 2 }) {
		s.Failf("TRN-011", "pings every 150 ms (RELAYKIT_PING_INTERVAL)", "%d pings within %s", c.pingCount(), s.within(1))
	}
})

var _ = gatewayCase(Case{
	ID:   "HS-011/lenient-descriptor",
	Reqs: []string{"HS-011", "HS-020"},
	Text: "the gateway accepts a descriptor with unknown fields, absent optional fields and a later contract_version",
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) {
			for _, k := range contract.OptionalDescriptorFields {
				delete(d, k)
			}
			d["contract_version"] = 7
			d["x_conformance_future"] = map[string]any{"nested": []any{1, "two"}}
		})
	}})
	c := g.handshaked(1)
	g.probeAck("HS-011", "after a lenient descriptor", func(b []byte) { c.write(b, false, "") })
	s.Check(!c.isClosed(), "HS-020", "the connection kept", "%s", closeNote(c))
})

var _ = gatewayCase(Case{
	ID:   "HS-021/invalid-descriptor",
	Reqs: []string{"HS-021"},
	Text: "a descriptor missing a required field makes the gateway close 1002 \"invalid descriptor\" and reconnect",
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.rewriteDescriptors(func(d map[string]any) { delete(d, "label") })
	}})
	if !g.f.await(s.within(1), func() bool { c := g.f.conn(1); return c != nil && c.isClosed() }) {
		s.Failf("HS-021", "a close 1002 \"invalid descriptor\"", "the connection stayed open")
	}
	code, reason, by, _ := g.f.conn(1).closeInfo()
	s.Check(by == "gateway" && code == contract.CloseProtocolError && reason == contract.ReasonInvalidDescriptor, "HS-021",
		"the gateway closing 1002 \"invalid descriptor\"", "%s", closeNote(g.f.conn(1)))
	if !g.waitDials(2, 2*knobBackoffCap+5*time.Second) {
		s.Failf("HS-021", "a reconnect after the invalid descriptor", "no second dial")
	}
})

var _ = gatewayCase(Case{
	ID:   "RC-004/retryable-closes",
	Reqs: []string{"RC-004", "RC-005", "RC-001"},
	Text: "every close other than 4401 (1011, 1013, 4409, and 1000 from the connector) is followed by a re-dial, one dial at a time",
	Slow: true,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	closes := []struct {
		code   int
		reason string
	}{{1011, "keepalive timeout"}, {1013, "throttled"}, {4409, "replaced"}, {1000, "bye"}}
	for i, cl := range closes {
		c := g.handshaked(i + 1)
		s.Check(g.f.openConns() == 1, "RC-005", "one connection at a time", "%d open", g.f.openConns())
		c.closeWith(cl.code, cl.reason)
		if !g.waitDials(i+2, 2*g.capWait()) {
			s.Failf("RC-004", fmt.Sprintf("a re-dial after close %d %q", cl.code, cl.reason), "no dial within %s", 2*g.capWait())
		}
	}
	g.handshaked(len(closes) + 1)
})

// capWait is the longest single backoff wait the gateway should take.
func (g *gwCase) capWait() time.Duration {
	if g.t.opts.Timers {
		return knobBackoffCap + 2*time.Second
	}
	return contract.BackoffCap + 2*time.Second
}

var _ = gatewayCase(Case{
	ID:    "RC-006/backoff-ladder",
	Reqs:  []string{"RC-006"},
	Text:  "before reconnect attempt n the gateway waits between d/2 and d, d = min(base·2^(n−1), cap)",
	Needs: NeedTimers,
	Slow:  true,
}, func(s *S) {
	const refusals = 5
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.f.setOnDial(func(d *gwDial) dialPlan {
			if d.N <= refusals {
				return dialPlan{RefuseHTTP: http.StatusServiceUnavailable}
			}
			return dialPlan{}
		})
	}})
	g.handshaked(refusals + 1)
	s.checkLadder(g, "RC-006", refusals)
})

// checkLadder checks the gaps before dials 2..n+1 against the ladder: each
// in [d/2, d], and, taken together, drawn at random. A wait's position in
// its range is (wait − d/2) / (d/2); waits drawn uniformly spread over
// [0, 1], so n positions within jitterBand of each other (every wait at d,
// every wait at d/2, or every wait at the same fraction) mean there is no
// jitter. For five uniform draws that happens by chance with probability
// about 5·0.05⁴ = 3·10⁻⁵. Positions are clamped to [0, 1]: a wait measured
// a little past d, by the latency of the dial itself, sits at the top.
func (s *S) checkLadder(g *gwCase, id string, n int) {
	gaps := g.gaps()
	var pos []float64
	for i := 0; i < n && i < len(gaps); i++ {
		d := backoffCeiling(knobBackoffBase, knobBackoffCap, i+1)
		lo, hi := d/2-25*time.Millisecond, d+400*time.Millisecond
		if gaps[i] < lo || gaps[i] > hi {
			s.Failf(id, fmt.Sprintf("wait %d in [%s, %s] (base %s, cap %s)", i+1, d/2, d, knobBackoffBase, knobBackoffCap),
				"waits %v", roundAll(gaps))
		}
		// A wait measured past d (the dial's own latency) sits at the
		// top of its range.
		pos = append(pos, min(max(float64(gaps[i]-d/2)/float64(d/2), 0), 1))
	}
	s.Observe("waits %v; positions in [d/2, d]: %.2f", roundAll(gaps), pos)
	if len(pos) < 5 {
		return
	}
	lo, hi := pos[0], pos[0]
	for _, p := range pos {
		lo, hi = min(lo, p), max(hi, p)
	}
	if hi-lo < jitterBand {
		s.Failf(id, "waits drawn at random from [d/2, d] (jitter)",
			"every wait sits at the same point of its range (positions %.2f to %.2f of [d/2, d]): waits %v", lo, hi, roundAll(gaps))
	}
}

// jitterBand is how close the positions of all waits in their ranges must
// be to count as no jitter.
const jitterBand = 0.05

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

var _ = gatewayCase(Case{
	ID:    "RC-007/no-early-reset",
	Reqs:  []string{"RC-007"},
	Text:  "a connection closed right after its handshake does not reset the backoff counter: the waits keep climbing",
	Needs: NeedTimers,
	Slow:  true,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	const rounds = 4
	for i := 1; i <= rounds; i++ {
		g.closeAfterHandshake(i, 1011, "internal error")
		if !g.waitDials(i+1, 2*g.capWait()) {
			s.Failf("RC-004", "a re-dial after close 1011", "no dial %d", i+1)
		}
	}
	gaps := g.gaps()
	for i := 1; i < rounds && i < len(gaps); i++ {
		d := backoffCeiling(knobBackoffBase, knobBackoffCap, i+1)
		if gaps[i] < d/2-25*time.Millisecond {
			s.Failf("RC-007", fmt.Sprintf("wait %d of at least %s (the counter keeps climbing)", i+1, d/2), "waits %v", roundAll(gaps))
		}
	}
})

var _ = gatewayCase(Case{
	ID:   "RC-008/http-refusal-retried",
	Reqs: []string{"RC-008"},
	Text: "an HTTP 401 or 403 answer to the upgrade is an ordinary dial error, retried with backoff, never revocation",
	Slow: true,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.f.setOnDial(func(d *gwDial) dialPlan {
			switch d.N {
			case 1:
				return dialPlan{RefuseHTTP: http.StatusUnauthorized}
			case 2:
				return dialPlan{RefuseHTTP: http.StatusForbidden}
			}
			return dialPlan{}
		})
	}})
	if !g.waitDials(3, g.startTimeout()+2*g.capWait()) {
		s.Failf("RC-008", "a third dial after HTTP 401 and 403", "%d dials", g.f.dialCount())
	}
	g.handshaked(3)
})

var _ = gatewayCase(Case{
	ID:   "RC-010/4401-before-handshake",
	Reqs: []string{"RC-010"},
	Text: "a 4401 before the gateway ever received a descriptor is retried with ordinary backoff",
	Slow: true,
}, func(s *S) {
	g := s.gateway(gwConfig{Before: func(g *gwCase) {
		g.f.setOnDial(func(d *gwDial) dialPlan {
			if d.N <= 2 {
				return dialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
			}
			return dialPlan{}
		})
	}})
	if !g.waitDials(3, g.startTimeout()+2*g.capWait()) {
		s.Failf("RC-010", "dialling on after two 4401 \"unauthorized\" before any descriptor", "%d dials", g.f.dialCount())
	}
	g.handshaked(3)
})

var _ = gatewayCase(Case{
	ID:   "RC-011/first-strike-redial",
	Reqs: []string{"RC-011"},
	Text: "the first 4401 \"unauthorized\" after a handshake triggers one immediate re-dial with a fresh token, without backoff",
}, func(s *S) {
	env := map[string]string{}
	if g := s.gc; g.t.opts.Timers {
		env[EnvBackoffBase] = "3s"
		env[EnvBackoffCap] = "3s"
	}
	g := s.gateway(gwConfig{Env: env})
	c := g.closeAfterHandshake(1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	_, _, _, closedAt := c.closeInfo()
	if !g.waitDials(2, 5*time.Second) {
		s.Failf("RC-011", "an immediate re-dial after the first 4401", "no re-dial")
	}
	gap := g.f.dial(2).At.Sub(closedAt)
	s.Check(gap < 400*time.Millisecond, "RC-011", "the re-dial without backoff (well under the first backoff wait of at least 500 ms)", "re-dial after %s", gap.Round(time.Millisecond))
	s.checkToken(g, g.f.dial(2))
	g.handshaked(2)
})

var _ = gatewayCase(Case{
	ID:   "RC-012/second-strike-terminal",
	Reqs: []string{"RC-012"},
	Text: "a 4401 \"unauthorized\" on the fresh-token connection is terminal: the gateway stops dialling",
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.f.setOnDial(func(d *gwDial) dialPlan {
		if d.N >= 2 {
			return dialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
		}
		return dialPlan{}
	})
	g.closeAfterHandshake(1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if !g.waitDials(2, 5*time.Second) {
		s.Failf("RC-011", "the fresh-token re-dial after the first 4401", "no re-dial")
	}
	g.noMoreDials(2, g.terminalWait(), "RC-012", "no dial after a 4401 on the fresh-token connection")
})

// terminalWait is how long the suite watches for a dial that must not
// come: longer than any backoff wait the gateway could be in.
func (g *gwCase) terminalWait() time.Duration {
	if g.t.opts.Timers {
		return knobBackoffCap + 700*time.Millisecond
	}
	return 3 * time.Second
}

var _ = gatewayCase(Case{
	ID:   "RC-013/expired-not-terminal",
	Reqs: []string{"RC-013"},
	Text: "a 4401 \"expired\" is never terminal, however often it repeats: the gateway reconnects with backoff",
	Slow: true,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.f.setOnDial(func(d *gwDial) dialPlan {
		if d.N == 2 || d.N == 3 {
			return dialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonExpired}
		}
		return dialPlan{}
	})
	g.closeAfterHandshake(1, contract.CloseUnauthorized, contract.ReasonExpired)
	if !g.waitDials(4, 3*g.capWait()) {
		s.Failf("RC-013", "re-dials after three 4401 \"expired\" in a row", "%d dials", g.f.dialCount())
	}
	g.handshaked(4)
})

var _ = gatewayCase(Case{
	ID:   "RC-014/fresh-token-role-survives",
	Reqs: []string{"RC-014", "RC-012"},
	Text: "the fresh-token role survives a dial that fails before authentication: the next 4401 is terminal",
	Slow: true,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.f.setOnDial(func(d *gwDial) dialPlan {
		switch {
		case d.N == 2:
			return dialPlan{RefuseHTTP: http.StatusServiceUnavailable}
		case d.N >= 3:
			return dialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
		}
		return dialPlan{}
	})
	g.closeAfterHandshake(1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if !g.waitDials(3, 2*g.capWait()) {
		s.Failf("RC-014", "a dial after the refused fresh-token dial", "%d dials", g.f.dialCount())
	}
	g.noMoreDials(3, g.terminalWait(), "RC-014", "no dial after a 4401 on the dial that inherited the fresh-token role")
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

// knobGoIdleTimeout is the gateway's wait for going_idle_ack in the
// dormant cases, under --timers.
const knobGoIdleTimeout = 600 * time.Millisecond

// goDormant starts the gateway with a short going_idle_ack wait, makes it
// go dormant through the echo profile's /dormant while the suite holds the
// ack, and returns the connection and the holder once going_idle is sent.
func (s *S) goDormant() (*gwCase, *gwConn, *holder) {
	g := s.gateway(gwConfig{Env: map[string]string{EnvGoIdleTimeout: knobGoIdleTimeout.String()}})
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
	g, c, h := s.goDormant()
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
	g, c, _ := s.goDormant()
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
