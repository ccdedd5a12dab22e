package gatewaycases

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 2 of the contract, Transport and framing (TRN-*).

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-013/frame-hygiene",
	Reqs: []string{"TRN-013", "TRN-001", "TRN-002", "TRN-003", "TRN-018"},
	Text: "the gateway sends every frame as its own text message: one JSON object with a string type, ending in one newline",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	g.ProbeAck("IDLE-013", "a buffered inbound", func(b []byte) { c.Write(b, false, "") })
	if len(g.F.GWFramesOf(contract.TypeHello)) == 0 {
		s.Harness("no frame from the gateway to check")
	}
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-014/dial-url",
	Reqs: []string{"TRN-014"},
	Text: "the gateway derives the dial URL from the base URL: http to ws, trailing slashes removed, /relay appended",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{URL: func(base string) string { return base + "//" }})
	g.Handshaked(1)
	s.Check(g.F.Dial(1).Path == contract.PathRelay, "TRN-014", "the upgrade at /relay", "at %q", g.F.Dial(1).Path)
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-004/unknown-frames-ignored",
	Reqs: []string{"TRN-004"},
	Text: "the gateway ignores frames of unknown type, and gateway-side types echoed back, and keeps the connection",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	for _, fr := range []string{
		`{"type":"x-conformance-unknown","data":{"n":1}}`,
		`{"type":"hello","platform":"telegram","botId":""}`,
		`{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","action":{"op":"send"}}`,
		`{"type":"going_idle"}`,
		`{"type":"inbound_ack","bufferId":"x"}`,
	} {
		c.Write([]byte(fr+"\n"), false, "an unknown or misdirected frame")
	}
	g.ProbeAck("TRN-004", "after unknown frames", func(b []byte) { c.Write(b, false, "") })
	s.Check(!c.IsClosed(), "TRN-004", "the connection kept open", "closed")
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-005/reads-batched-and-split",
	Reqs: []string{"TRN-005"},
	Text: "the gateway handles several frames in one message and one frame split across messages",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	g.ProbeAck("TRN-005", "a frame split across three messages", func(b []byte) {
		a, z := len(b)/3, 2*len(b)/3
		c.Write(b[:a], false, "part 1 of 3")
		c.Write(b[a:z], false, "part 2 of 3")
		c.Write(b[z:], false, "part 3 of 3")
	})
	m1, m2 := g.NewMessage("batched 1"), g.NewMessage("batched 2")
	b1, b2 := "conform-"+h.RandHex(4), "conform-"+h.RandHex(4)
	c.Write(append(h.RawInbound(m1, b1), h.RawInbound(m2, b2)...), false, "two frames in one message")
	g.F.ExpectFrame("TRN-005", "an ack for the first of two batched frames", h.AckFor(b1))
	g.F.ExpectFrame("TRN-005", "an ack for the second of two batched frames", h.AckFor(b2))
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-006/any-serialisation",
	Reqs: []string{"TRN-006"},
	Text: "the gateway accepts any valid JSON serialisation: spaces, \\uXXXX escapes, surrogate pairs, any member order",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	m := g.NewMessage("")
	b := "conform-" + h.RandHex(4)
	frame := fmt.Sprintf(`{"bufferId": %s, "event": {"source": {"user_id": "u1", "chat_type": "dm", "chat_id": %s, "platform": %s}, "message_id": %s, "text": "h\u00e9 \ud83d\udd0c"}, "type": "inbound"}`+"\n",
		h.PyJSON(b), h.PyJSON(m.ChatID), h.PyJSON(m.Platform), h.PyJSON(m.MessageID))
	c.Write([]byte(frame), false, "a Python-style inbound")
	g.F.ExpectFrame("TRN-006", "an ack for a Python-style buffered inbound", h.AckFor(b))
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-017/skips-blank-lines",
	Reqs: []string{"TRN-017"},
	Text: "the gateway skips empty and whitespace-only lines",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	g.ProbeAck("TRN-017", "after blank lines", func(b []byte) { c.Write(append([]byte("\n  \n\t\n"), b...), false, "") })
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-016/reads-binary-message",
	Reqs: []string{"TRN-016"},
	Text: "the gateway reads a binary message as UTF-8 text",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	g.ProbeAck("TRN-016", "sent as a binary message", func(b []byte) { c.Write(b, true, "") })
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-007/reads-one-mib-frame",
	Reqs: []string{"TRN-007"},
	Text: "the gateway accepts a frame of exactly 1 MiB (newline excluded)",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	m := g.NewMessage("one MiB")
	b := "conform-" + h.RandHex(4)
	// The padding sits in an event member the gateway does not know, so an
	// echo gateway's reply stays small.
	build := func(pad int) []byte {
		ev := map[string]any{}
		_ = json.Unmarshal(h.EventJSON(m), &ev)
		ev["x_conformance_padding"] = strings.Repeat("x", pad)
		return h.JSONLine(map[string]any{"type": contract.TypeInbound, "event": ev, "bufferId": b})
	}
	frame := build(contract.MaxFrameSize - (len(build(0)) - 1))
	if len(frame) != contract.MaxFrameSize+1 {
		s.Harness("built a %d-byte frame", len(frame))
	}
	c.Write(frame, false, "a 1 MiB buffered inbound")
	g.F.ExpectFrame("TRN-007", "an ack for a 1 MiB frame", h.AckFor(b))
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-010/malformed-lines-skipped",
	Reqs: []string{"TRN-010"},
	Text: "the gateway skips lines that are not JSON or not objects without stopping its reader",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	c.Write([]byte("{\"type\": \"inbound\", \n"), false, "a line that is not JSON")
	c.Write([]byte("[1, 2, 3]\nnull\n\"text\"\n"), false, "lines that are not objects")
	m := g.NewMessage("after malformed lines")
	b := "conform-" + h.RandHex(4)
	c.Write(h.RawInbound(m, b), false, "")
	if _, ok := g.F.WaitFrame(s.Within(1), h.AckFor(b)); !ok {
		s.Failf("TRN-010", "the reader to go on after malformed lines (an ack for a later buffered inbound)", "no ack; connection %s", h.CloseNote(c))
	}
})

var _ = h.GatewayCase(h.Case{
	ID:   "TRN-020/gateway-answers-ping",
	Reqs: []string{"TRN-020"},
	Text: "the gateway answers WebSocket pings with pongs",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	ctx, cancel := context.WithTimeout(s.Ctx, s.Within(1))
	defer cancel()
	s.Logf("ping the gateway")
	if err := c.Ws.Ping(ctx); err != nil {
		s.Failf("TRN-020", "a pong for a WebSocket ping", "%v", err)
	}
})

var _ = h.GatewayCase(h.Case{
	ID:    "TRN-011/keepalive-pings",
	Reqs:  []string{"TRN-011"},
	Text:  "the gateway sends WebSocket pings on its keepalive interval",
	Needs: h.NeedTimers,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Env: map[string]string{h.EnvPingInterval: "150ms"}})
	c := g.Handshaked(1)
	if !g.F.Await(s.Within(1), func() bool { return c.PingCount() >= 2 }) {
		s.Failf("TRN-011", "pings every 150 ms (RELAYKIT_PING_INTERVAL)", "%d pings within %s", c.PingCount(), s.Within(1))
	}
})
