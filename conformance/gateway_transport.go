package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 2 of the contract, Transport and framing (TRN-*).

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
