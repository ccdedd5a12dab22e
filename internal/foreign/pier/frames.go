package pier

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/coder/websocket"
)

// inFrame is one decoded frame from a gateway.
type inFrame struct {
	typ string
	m   map[string]json.RawMessage
}

var (
	errMalformed = errors.New("not valid JSON")
	errNotObject = errors.New("not a JSON object")
)

// decodeFrame decodes one line. A line that is not one JSON value is
// malformed; a JSON value that is not an object is errNotObject (TRN-008).
func decodeFrame(line []byte) (inFrame, error) {
	if !json.Valid(line) {
		return inFrame{}, errMalformed
	}
	if t := bytes.TrimLeft(line, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return inFrame{}, errNotObject
	}
	var f inFrame
	if err := json.Unmarshal(line, &f.m); err != nil {
		return inFrame{}, errMalformed
	}
	f.typ, _ = f.str("type")
	return f, nil
}

// str returns member k when it is a string.
func (f inFrame) str(k string) (string, bool) {
	raw, ok := f.m[k]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// handle dispatches one frame. A frame whose type pier does not know,
// including a connector-side type echoed back and a frame without a usable
// type, is ignored without any answer (TRN-003, TRN-004).
func (c *relayConn) handle(f inFrame) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing {
		return
	}
	switch f.typ {
	case "hello":
		c.helloLocked(f)
	case "outbound":
		c.outboundLocked(f)
	case "interrupt":
		c.interruptLocked(f)
	case "going_idle":
		c.goingIdleLocked()
	case "inbound_ack":
		c.ackLocked(f)
	case "":
	default:
		if s.cfg.deviant(DevCloseOnUnknownType) {
			c.closeLocked(websocket.StatusUnsupportedData, "unsupported frame type")
		}
	}
}

// helloLocked answers a hello: one descriptor for a platform pier fronts
// for the gateway (HS-004, HS-013), and for anything else no descriptor but
// an error frame and a journal entry (HS-014, HS-015). The first descriptor
// makes its platform the connection's default (OUT-013) and starts the
// replay of the instance's buffer (IDLE-009).
func (c *relayConn) helloLocked(f inFrame) {
	s := c.s
	if !c.helloSeen {
		c.helloSeen = true
		if c.helloTimer != nil {
			c.helloTimer.Stop()
		}
		// HS-014: decide within HelloWindow of the first hello, and never
		// later than 30 s after the socket opened.
		wait := s.cfg.HelloWindow
		if left := 30*time.Second - s.cfg.clk.Now().Sub(c.opened); left < wait {
			wait = max(left, 0)
		}
		c.frontTimer = s.cfg.clk.AfterFunc(wait, c.helloWindowOver)
	}
	platform, ok := f.str("platform")
	if !ok || platform == "" {
		if !s.cfg.deviant(DevHelloNoPlatformAnswer) {
			s.cfg.Logger.Info("pier: hello without a platform", "gateway", c.g.id)
			c.enqueueLocked(frame(map[string]any{"type": "error", "code": "platform_not_fronted",
				"message": "a hello must name a platform; pier fronts " + joinPlatforms(c.g.platforms) + " for this gateway"}))
			return
		}
		platform = c.g.platforms[0]
	}
	if !c.g.fronts(platform) {
		s.cfg.Logger.Info("pier: hello for an unfronted platform", "gateway", c.g.id, "platform", platform)
		c.enqueueLocked(frame(map[string]any{"type": "error", "code": "platform_not_fronted",
			"message": "pier does not front " + quote(platform) + " for this gateway; it fronts " + joinPlatforms(c.g.platforms)}))
		return
	}
	named := platform
	if platform == PlatformOps && s.cfg.deviant(DevDescriptorPlatformName) {
		named = "pier.ops"
	}
	c.enqueueLocked(descriptorFrame(platform, named))
	c.answered[platform] = true
	if c.defaultPlat == "" {
		c.defaultPlat = platform
		c.drainStarted = true
	} else if s.cfg.deviant(DevBacklogEveryHello) {
		c.inflight = map[string]bool{}
	}
	c.pumpLocked()
}

// goingIdleLocked flips the instance to buffered-only delivery and then
// acknowledges (IDLE-003, IDLE-004). The flip is state of the instance,
// not of the socket, so it survives the socket (IDLE-008).
func (c *relayConn) goingIdleLocked() {
	if !c.s.cfg.deviant(DevAckBeforeFlip) {
		c.inst.flipped = true
		c.idle = true
	}
	c.enqueueLocked(frame(map[string]any{"type": "going_idle_ack"}))
}

// ackLocked releases one buffer entry of the connection's instance. An ack
// pier cannot use is a no-op it only journals: no close, no frame
// (IDLE-017, IDLE-018).
func (c *relayConn) ackLocked(f inFrame) {
	id, ok := f.str("bufferId")
	i := -1
	if ok && id != "" {
		i = c.inst.find(id)
	}
	if i < 0 {
		c.s.cfg.Logger.Info("pier: no-op ack", "gateway", c.g.id, "bufferId", id)
		if c.s.cfg.deviant(DevErrorOnNoopAck) {
			c.enqueueLocked(frame(map[string]any{"type": "error", "code": "unknown_buffer_id",
				"message": "no buffer entry " + quote(id)}))
		}
		return
	}
	c.inst.remove(i)
	delete(c.inflight, id)
	c.pumpLocked()
}

// interruptLocked routes an interrupt to the instance pier delivered the
// session to, as interrupt_inbound on its socket (IN-011). The sender gets
// no answer of any kind, whatever the interrupt looks like.
func (c *relayConn) interruptLocked(f inFrame) {
	key, ok := f.str("session_key")
	if !ok || key == "" {
		return
	}
	ref, ok := c.g.tenant.sessions.get(key)
	if !ok {
		return
	}
	if to := ref.inst.live; to != nil && to.answered[ref.platform] {
		to.enqueueLocked(frame(map[string]any{"type": "interrupt_inbound", "session_key": key, "chat_id": ref.chat}))
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func joinPlatforms(ps []string) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}
