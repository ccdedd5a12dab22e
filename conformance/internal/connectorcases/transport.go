package connectorcases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 2: transport and framing.

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-012/plain-upgrade",
	Reqs: []string{"TRN-012", "TRN-015"},
	Text: "the connector accepts a plain WebSocket upgrade (no subprotocol, Origin or compression) at /relay",
}, func(s *h.S) {
	r := s.Dial(s.ValidToken())
	if r.P == nil {
		if r.Status != 0 {
			s.Failf("TRN-012", "HTTP 101 for a plain upgrade at /relay with a valid token", "HTTP %d", r.Status)
		}
		s.Harness("dial: %v", r.Err)
	}
	s.Handshake(r.P, s.Primary())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-001/frame-hygiene",
	Reqs: []string{"TRN-001", "TRN-002", "TRN-003", "TRN-018"},
	Text: "every frame the connector writes is one JSON object with a string type, ends with one newline and fits in 1 MiB",
}, func(s *h.S) {
	p, _ := s.Connect()
	s.Outbound(p, h.SendAction(s.Chat(), "hygiene"), "")
	p.Send(contract.GoingIdle{})
	p.Expect("IDLE-004", "a going_idle_ack", h.OfType(contract.TypeGoingIdleAck))
	// Every frame was checked by the reader; a violation has already
	// failed the case under its own requirement.
	if len(p.All()) == 0 {
		s.Harness("no frame received to check")
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-005/batched-and-split",
	Reqs: []string{"TRN-005"},
	Text: "the connector accepts several frames in one message and one frame split across messages",
}, func(s *h.S) {
	id := s.Primary()
	p := s.MustDial("AUTH-005", s.ValidToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	s.Step("hello split across three messages")
	a, b := len(hello)/3, 2*len(hello)/3
	p.SendRaw(hello[:a], false)
	p.SendRaw(hello[a:b], false)
	p.SendRaw(hello[b:], false)
	p.Expect("TRN-005", "a descriptor for a hello split across three messages", h.OfType(contract.TypeDescriptor))
	s.Step("two outbound frames in one message")
	r1, r2 := h.NewRequestID(), h.NewRequestID()
	f1, _ := contract.EncodeFrame(contract.Outbound{RequestID: r1, Action: h.SendAction(s.Chat(), "one")})
	f2, _ := contract.EncodeFrame(contract.Outbound{RequestID: r2, Action: h.SendAction(s.Chat(), "two")})
	p.SendRaw(append(f1, f2...), false)
	for _, rid := range []string{r1, r2} {
		p.Expect("TRN-005", "a result for each of two frames sent in one message", func(f h.RxFrame) bool {
			return f.Type == contract.TypeOutboundResult && f.Str("requestId") == rid
		})
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-006/reference-serialisation",
	Reqs: []string{"TRN-006"},
	Text: "the connector accepts frames serialised like the reference gateway: spaces after separators, \\uXXXX escapes, surrogate pairs, any key order",
}, func(s *h.S) {
	id := s.Primary()
	p := s.MustDial("AUTH-005", s.ValidToken())
	s.Step("Python-style hello with keys reordered")
	p.SendRaw([]byte(fmt.Sprintf(`{"botId": %s, "platform": %s, "type": "hello"}`+"\n", h.PyJSON(id.BotID), h.PyJSON(id.Platform))), false)
	p.Expect("TRN-006", "a descriptor for a Python-style hello", h.OfType(contract.TypeDescriptor))
	s.Step("Python-style outbound with escapes and an astral character")
	rid := h.NewRequestID()
	p.SendRaw([]byte(`{"type": "outbound", "requestId": "`+rid+`", "action": {"op": "send", "chat_id": `+h.PyJSON(s.Chat())+`, "content": "h\u00e9 \ud83d\udd0c", "reply_to": null, "metadata": {}}}`+"\n"), false)
	s.AwaitResult(p, rid)
	p.StayOpen(s.Quiet(), "TRN-006", "the connection to stay open")
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-017/blank-lines",
	Reqs: []string{"TRN-017"},
	Text: "the connector skips empty and whitespace-only lines",
}, func(s *h.S) {
	id := s.Primary()
	p := s.MustDial("AUTH-005", s.ValidToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	p.SendRaw(append([]byte("\n  \n\t\n"), hello...), false)
	p.Expect("TRN-017", "a descriptor for a hello after blank lines", h.OfType(contract.TypeDescriptor))
	p.StayOpen(s.Quiet(), "TRN-017", "blank lines not to close the connection")
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-016/binary-message",
	Reqs: []string{"TRN-016"},
	Text: "the connector reads a binary message as UTF-8 text",
}, func(s *h.S) {
	id := s.Primary()
	p := s.MustDial("AUTH-005", s.ValidToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	p.SendRaw(hello, true)
	p.Expect("TRN-016", "a descriptor for a hello sent as a binary message", h.OfType(contract.TypeDescriptor))
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-016/invalid-utf8",
	Reqs: []string{"TRN-016", "TRN-008", "RC-001"},
	Text: "the connector closes 1007 on a binary message that is not valid UTF-8",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.SendRaw([]byte("{\"type\":\"hello\",\"platform\":\"\xff\xfe\"}\n"), true)
	code, _ := p.ExpectClose("TRN-016", "a close 1007", s.Within(1))
	s.Check(code == contract.CloseInvalidPayload, "TRN-016", "close 1007 for invalid UTF-8", "%s", p.CloseDesc())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-007/one-mib-frame",
	Reqs: []string{"TRN-007"},
	Text: "the connector accepts a frame of exactly 1 MiB (newline excluded)",
}, func(s *h.S) {
	p, _ := s.Connect()
	rid := h.NewRequestID()
	frame := paddedOutbound(rid, s.Chat(), contract.MaxFrameSize)
	p.SendRaw(frame, false)
	f := p.Expect("TRN-007", "an outbound_result for a 1 MiB frame, and no close", func(f h.RxFrame) bool {
		return f.Type == contract.TypeOutboundResult && f.Str("requestId") == rid
	})
	_ = f
	p.StayOpen(s.Quiet(), "TRN-007", "the connection to stay open after a 1 MiB frame")
})

// paddedOutbound builds a send frame whose JSON text (newline excluded) is
// exactly size bytes.
func paddedOutbound(rid, chat string, size int) []byte {
	build := func(n int) []byte {
		b, _ := json.Marshal(map[string]any{
			"type": contract.TypeOutbound, "requestId": rid,
			"action": map[string]any{"op": "send", "chat_id": chat, "content": "", "reply_to": nil,
				"metadata": map[string]any{"pad": strings.Repeat("x", n)}},
		})
		return b
	}
	base := len(build(0))
	b := build(size - base)
	return append(b, '\n')
}

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-009/oversized-frame",
	Reqs: []string{"TRN-009", "RC-001"},
	Text: "the connector closes 1009 \"frame too large\" on a frame over 1 MiB",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.SendRaw(paddedOutbound(h.NewRequestID(), s.Chat(), contract.MaxFrameSize+1), false)
	code, reason := p.ExpectClose("TRN-009", "a close 1009 \"frame too large\"", s.Within(1))
	s.Check(code == contract.CloseTooBig && reason == contract.ReasonFrameTooLarge, "TRN-009",
		"close 1009 \"frame too large\"", "%s", p.CloseDesc())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-004/unknown-frame-type",
	Reqs: []string{"TRN-004"},
	Text: "the connector ignores frames of unknown type, including connector-side types echoed back, and keeps the connection",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.SendRaw([]byte(`{"type":"x-conformance-unknown","data":{"n":1}}`+"\n"), false)
	p.SendRaw([]byte(`{"type":"descriptor","descriptor":{}}`+"\n"), false)
	p.SendRaw([]byte(`{"type":"outbound_result","requestId":"x","result":{"success":true}}`+"\n"), false)
	p.StayOpen(s.Quiet(), "TRN-004", "the connection to stay open after unknown frames")
	s.Outbound(p, h.SendAction(s.Chat(), "after unknown frames"), "")
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-008/malformed-json",
	Reqs: []string{"TRN-008", "RC-001"},
	Text: "the connector closes 1007 \"malformed frame\" on a line that is not JSON",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.SendRaw([]byte("{\"type\": \"outbound\", \n"), false)
	code, reason := p.ExpectClose("TRN-008", "a close 1007 \"malformed frame\"", s.Within(1))
	s.Check(code == contract.CloseInvalidPayload && reason == contract.ReasonMalformedFrame, "TRN-008",
		"close 1007 \"malformed frame\"", "%s", p.CloseDesc())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-008/not-an-object",
	Reqs: []string{"TRN-008", "RC-001"},
	Text: "the connector closes 1007 \"frame is not an object\" on a JSON line that is not an object",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.SendRaw([]byte("[1, 2, 3]\n"), false)
	code, reason := p.ExpectClose("TRN-008", "a close 1007 \"frame is not an object\"", s.Within(1))
	s.Check(code == contract.CloseInvalidPayload && reason == contract.ReasonNotObject, "TRN-008",
		"close 1007 \"frame is not an object\"", "%s", p.CloseDesc())
})

var _ = h.ConnectorCase(h.Case{
	ID:   "TRN-020/answers-ping",
	Reqs: []string{"TRN-020"},
	Text: "the connector answers WebSocket pings with pongs",
}, func(s *h.S) {
	p, _ := s.Connect()
	ctx, cancel := context.WithTimeout(s.Ctx, s.Within(1))
	defer cancel()
	s.Logf("ping")
	if err := p.Conn.Ping(ctx); err != nil {
		s.Failf("TRN-020", "a pong for a WebSocket ping", "%v", err)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "TRN-011/connector-pings",
	Reqs:  []string{"TRN-011"},
	Text:  "the connector sends a WebSocket ping every 30 s",
	Needs: h.NeedClock,
}, func(s *h.S) {
	p, _ := s.Connect()
	s.Step("advance the connector's clock by 31 s")
	if err := s.Run.Conn.Ctl.Advance(s.Ctx, 31*time.Second); err != nil {
		s.Harness("advance the clock: %v", err)
	}
	s.Eventually(s.Within(1), 20*time.Millisecond, func() bool { return p.PingCount() > 0 || p.IsClosed() })
	if p.PingCount() == 0 {
		s.Failf("TRN-011", "a WebSocket ping within 30 s", "no ping after 31 s; connection %s", p.CloseDesc())
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "TRN-018/large-event",
	Reqs:  []string{"TRN-018"},
	Text:  "an event just under 1,048,575 bytes, too big once framed, is refused by the control API or delivered in a frame within TRN-018",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	// Sized so that the event itself is a few bytes under the frame cap:
	// in an inbound frame, with its envelope, it is over it. A connector
	// that checks only the event delivers an oversize frame.
	m := s.NewMessage("")
	pad := contract.MaxFrameSize - 10 - len(h.EventJSON(m))
	m = s.NewMessage(strings.Repeat("a", pad))
	d, err := s.Run.Conn.Ctl.InjectDelivery(s.Ctx, s.Creds().GatewayID, m)
	if err != nil {
		var ce *h.ControlError
		if errors.As(err, &ce) && ce.Status/100 == 4 {
			s.Observe("the connector refused the event: %v", err)
			return
		}
		s.Harness("inject: %v", err)
	}
	s.Mu.Lock()
	if s.Msgs == nil {
		s.Msgs = map[string]h.Injected{}
	}
	s.Msgs[m.MessageID] = h.Injected{Delivery: d.Delivery, MessageID: d.MessageID, Nonce: m.Nonce}
	s.Mu.Unlock()
	if d.Delivery != "live" {
		return
	}
	// Every frame is checked against TRN-018 as it arrives.
	p.ExpectInbound("TRN-018", m)
})
