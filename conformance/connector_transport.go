package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 2: transport and framing.

var _ = connectorCase(Case{
	ID:   "TRN-012/plain-upgrade",
	Reqs: []string{"TRN-012", "TRN-015"},
	Text: "the connector accepts a plain WebSocket upgrade (no subprotocol, Origin or compression) at /relay",
}, func(s *S) {
	r := s.dial(s.validToken())
	if r.p == nil {
		if r.status != 0 {
			s.Failf("TRN-012", "HTTP 101 for a plain upgrade at /relay with a valid token", "HTTP %d", r.status)
		}
		s.Harness("dial: %v", r.err)
	}
	s.handshake(r.p, s.primary())
})

var _ = connectorCase(Case{
	ID:   "TRN-001/frame-hygiene",
	Reqs: []string{"TRN-001", "TRN-002", "TRN-003", "TRN-018"},
	Text: "every frame the connector writes is one JSON object with a string type, ends with one newline and fits in 1 MiB",
}, func(s *S) {
	p, _ := s.connect()
	s.outbound(p, sendAction(s.chat(), "hygiene"), "")
	p.send(contract.GoingIdle{})
	p.expect("IDLE-004", "a going_idle_ack", ofType(contract.TypeGoingIdleAck))
	// Every frame was checked by the reader; a violation has already
	// failed the case under its own requirement.
	if len(p.all()) == 0 {
		s.Harness("no frame received to check")
	}
})

var _ = connectorCase(Case{
	ID:   "TRN-005/batched-and-split",
	Reqs: []string{"TRN-005"},
	Text: "the connector accepts several frames in one message and one frame split across messages",
}, func(s *S) {
	id := s.primary()
	p := s.mustDial("AUTH-005", s.validToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	s.Step("hello split across three messages")
	a, b := len(hello)/3, 2*len(hello)/3
	p.sendRaw(hello[:a], false)
	p.sendRaw(hello[a:b], false)
	p.sendRaw(hello[b:], false)
	p.expect("TRN-005", "a descriptor for a hello split across three messages", ofType(contract.TypeDescriptor))
	s.Step("two outbound frames in one message")
	r1, r2 := newRequestID(), newRequestID()
	f1, _ := contract.EncodeFrame(contract.Outbound{RequestID: r1, Action: sendAction(s.chat(), "one")})
	f2, _ := contract.EncodeFrame(contract.Outbound{RequestID: r2, Action: sendAction(s.chat(), "two")})
	p.sendRaw(append(f1, f2...), false)
	for _, rid := range []string{r1, r2} {
		p.expect("TRN-005", "a result for each of two frames sent in one message", func(f rxFrame) bool {
			return f.Type == contract.TypeOutboundResult && f.str("requestId") == rid
		})
	}
})

var _ = connectorCase(Case{
	ID:   "TRN-006/reference-serialisation",
	Reqs: []string{"TRN-006"},
	Text: "the connector accepts frames serialised like the reference gateway: spaces after separators, \\uXXXX escapes, surrogate pairs, any key order",
}, func(s *S) {
	id := s.primary()
	p := s.mustDial("AUTH-005", s.validToken())
	s.Step("Python-style hello with keys reordered")
	p.sendRaw([]byte(fmt.Sprintf(`{"botId": %s, "platform": %s, "type": "hello"}`+"\n", pyJSON(id.BotID), pyJSON(id.Platform))), false)
	p.expect("TRN-006", "a descriptor for a Python-style hello", ofType(contract.TypeDescriptor))
	s.Step("Python-style outbound with escapes and an astral character")
	rid := newRequestID()
	p.sendRaw([]byte(`{"type": "outbound", "requestId": "`+rid+`", "action": {"op": "send", "chat_id": `+pyJSON(s.chat())+`, "content": "h\u00e9 \ud83d\udd0c", "reply_to": null, "metadata": {}}}`+"\n"), false)
	s.awaitResult(p, rid)
	p.stayOpen(s.quiet(), "TRN-006", "the connection to stay open")
})

var _ = connectorCase(Case{
	ID:   "TRN-017/blank-lines",
	Reqs: []string{"TRN-017"},
	Text: "the connector skips empty and whitespace-only lines",
}, func(s *S) {
	id := s.primary()
	p := s.mustDial("AUTH-005", s.validToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	p.sendRaw(append([]byte("\n  \n\t\n"), hello...), false)
	p.expect("TRN-017", "a descriptor for a hello after blank lines", ofType(contract.TypeDescriptor))
	p.stayOpen(s.quiet(), "TRN-017", "blank lines not to close the connection")
})

var _ = connectorCase(Case{
	ID:   "TRN-016/binary-message",
	Reqs: []string{"TRN-016"},
	Text: "the connector reads a binary message as UTF-8 text",
}, func(s *S) {
	id := s.primary()
	p := s.mustDial("AUTH-005", s.validToken())
	hello, _ := contract.EncodeFrame(contract.Hello{Platform: id.Platform, BotID: id.BotID})
	p.sendRaw(hello, true)
	p.expect("TRN-016", "a descriptor for a hello sent as a binary message", ofType(contract.TypeDescriptor))
})

var _ = connectorCase(Case{
	ID:   "TRN-016/invalid-utf8",
	Reqs: []string{"TRN-016", "TRN-008", "RC-001"},
	Text: "the connector closes 1007 on a binary message that is not valid UTF-8",
}, func(s *S) {
	p, _ := s.connect()
	p.sendRaw([]byte("{\"type\":\"hello\",\"platform\":\"\xff\xfe\"}\n"), true)
	code, _ := p.expectClose("TRN-016", "a close 1007", s.within(1))
	s.Check(code == contract.CloseInvalidPayload, "TRN-016", "close 1007 for invalid UTF-8", "%s", p.closeDesc())
})

var _ = connectorCase(Case{
	ID:   "TRN-007/one-mib-frame",
	Reqs: []string{"TRN-007"},
	Text: "the connector accepts a frame of exactly 1 MiB (newline excluded)",
}, func(s *S) {
	p, _ := s.connect()
	rid := newRequestID()
	frame := paddedOutbound(rid, s.chat(), contract.MaxFrameSize)
	p.sendRaw(frame, false)
	f := p.expect("TRN-007", "an outbound_result for a 1 MiB frame, and no close", func(f rxFrame) bool {
		return f.Type == contract.TypeOutboundResult && f.str("requestId") == rid
	})
	_ = f
	p.stayOpen(s.quiet(), "TRN-007", "the connection to stay open after a 1 MiB frame")
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

var _ = connectorCase(Case{
	ID:   "TRN-009/oversized-frame",
	Reqs: []string{"TRN-009", "RC-001"},
	Text: "the connector closes 1009 \"frame too large\" on a frame over 1 MiB",
}, func(s *S) {
	p, _ := s.connect()
	p.sendRaw(paddedOutbound(newRequestID(), s.chat(), contract.MaxFrameSize+1), false)
	code, reason := p.expectClose("TRN-009", "a close 1009 \"frame too large\"", s.within(1))
	s.Check(code == contract.CloseTooBig && reason == contract.ReasonFrameTooLarge, "TRN-009",
		"close 1009 \"frame too large\"", "%s", p.closeDesc())
})

var _ = connectorCase(Case{
	ID:   "TRN-004/unknown-frame-type",
	Reqs: []string{"TRN-004"},
	Text: "the connector ignores frames of unknown type, including connector-side types echoed back, and keeps the connection",
}, func(s *S) {
	p, _ := s.connect()
	p.sendRaw([]byte(`{"type":"x-conformance-unknown","data":{"n":1}}`+"\n"), false)
	p.sendRaw([]byte(`{"type":"descriptor","descriptor":{}}`+"\n"), false)
	p.sendRaw([]byte(`{"type":"outbound_result","requestId":"x","result":{"success":true}}`+"\n"), false)
	p.stayOpen(s.quiet(), "TRN-004", "the connection to stay open after unknown frames")
	s.outbound(p, sendAction(s.chat(), "after unknown frames"), "")
})

var _ = connectorCase(Case{
	ID:   "TRN-008/malformed-json",
	Reqs: []string{"TRN-008", "RC-001"},
	Text: "the connector closes 1007 \"malformed frame\" on a line that is not JSON",
}, func(s *S) {
	p, _ := s.connect()
	p.sendRaw([]byte("{\"type\": \"outbound\", \n"), false)
	code, reason := p.expectClose("TRN-008", "a close 1007 \"malformed frame\"", s.within(1))
	s.Check(code == contract.CloseInvalidPayload && reason == contract.ReasonMalformedFrame, "TRN-008",
		"close 1007 \"malformed frame\"", "%s", p.closeDesc())
})

var _ = connectorCase(Case{
	ID:   "TRN-008/not-an-object",
	Reqs: []string{"TRN-008", "RC-001"},
	Text: "the connector closes 1007 \"frame is not an object\" on a JSON line that is not an object",
}, func(s *S) {
	p, _ := s.connect()
	p.sendRaw([]byte("[1, 2, 3]\n"), false)
	code, reason := p.expectClose("TRN-008", "a close 1007 \"frame is not an object\"", s.within(1))
	s.Check(code == contract.CloseInvalidPayload && reason == contract.ReasonNotObject, "TRN-008",
		"close 1007 \"frame is not an object\"", "%s", p.closeDesc())
})

var _ = connectorCase(Case{
	ID:   "TRN-020/answers-ping",
	Reqs: []string{"TRN-020"},
	Text: "the connector answers WebSocket pings with pongs",
}, func(s *S) {
	p, _ := s.connect()
	ctx, cancel := context.WithTimeout(s.ctx, s.within(1))
	defer cancel()
	s.Logf("ping")
	if err := p.conn.Ping(ctx); err != nil {
		s.Failf("TRN-020", "a pong for a WebSocket ping", "%v", err)
	}
})

var _ = connectorCase(Case{
	ID:    "TRN-011/connector-pings",
	Reqs:  []string{"TRN-011"},
	Text:  "the connector sends a WebSocket ping every 30 s",
	Needs: NeedClock,
}, func(s *S) {
	p, _ := s.connect()
	s.Step("advance the connector's clock by 31 s")
	if err := s.run.conn.ctl.advance(s.ctx, 31*time.Second); err != nil {
		s.Harness("advance the clock: %v", err)
	}
	s.eventually(s.within(1), 20*time.Millisecond, func() bool { return p.pingCount() > 0 || p.isClosed() })
	if p.pingCount() == 0 {
		s.Failf("TRN-011", "a WebSocket ping within 30 s", "no ping after 31 s; connection %s", p.closeDesc())
	}
})

var _ = connectorCase(Case{
	ID:    "TRN-018/large-event",
	Reqs:  []string{"TRN-018"},
	Text:  "an event just under 1,048,575 bytes, too big once framed, is refused by the control API or delivered in a frame within TRN-018",
	Needs: NeedControl,
}, func(s *S) {
	p, _ := s.connect()
	// Sized so that the event itself is a few bytes under the frame cap:
	// in an inbound frame, with its envelope, it is over it. A connector
	// that checks only the event delivers an oversize frame.
	m := s.newMessage("")
	pad := contract.MaxFrameSize - 10 - len(eventJSON(m))
	m = s.newMessage(strings.Repeat("a", pad))
	d, err := s.run.conn.ctl.injectDelivery(s.ctx, s.creds().GatewayID, m)
	if err != nil {
		var ce *controlError
		if errors.As(err, &ce) && ce.Status/100 == 4 {
			s.Observe("the connector refused the event: %v", err)
			return
		}
		s.Harness("inject: %v", err)
	}
	s.mu.Lock()
	if s.msgs == nil {
		s.msgs = map[string]injected{}
	}
	s.msgs[m.MessageID] = injected{delivery: d.Delivery, messageID: d.MessageID, nonce: m.Nonce}
	s.mu.Unlock()
	if d.Delivery != "live" {
		return
	}
	// Every frame is checked against TRN-018 as it arrives.
	p.expectInbound("TRN-018", m)
})
