package harbor

import (
	"bytes"
	"encoding/json"
)

// encodeFrame serialises v as one frame: compact JSON, HTML characters left
// alone, and the newline every frame ends with (TRN-002).
func encodeFrame(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("harbor: unencodable frame: " + err.Error()) // only harbor's own values get here
	}
	return b.Bytes()
}

func rawString(m map[string]json.RawMessage, k string) (string, bool) {
	raw, ok := m[k]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// handleFrame acts on one frame object from the gateway. Frames of a type
// harbor does not know, or that travel only towards the gateway, are
// ignored and journaled (TRN-004).
func (s *Server) handleFrame(c *conn, m map[string]json.RawMessage) {
	typ, _ := rawString(m, "type")
	switch typ {
	case "hello":
		s.onHello(c, m)
	case "outbound":
		s.onOutbound(c, m)
	case "interrupt":
		s.onInterrupt(c, m)
	case "going_idle":
		s.onGoingIdle(c)
	case "inbound_ack":
		s.onAck(c, m)
	default:
		s.log.Info("frame ignored", "conn", c.id, "type", typ)
	}
}

func (s *Server) onHello(c *conn, m map[string]json.RawMessage) {
	plat, _ := rawString(m, "platform")
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing {
		return
	}
	c.sawHello = true
	if plat == "" || !c.gw.fronts(plat) || !served(plat) {
		s.log.Info("hello for a platform not fronted", "conn", c.id, "gateway", c.gw.id, "platform", plat)
		if !c.handshaked() {
			grace := s.opts.UnfrontedGrace
			if left := s.opts.HelloTimeout - s.clk.Now().Sub(c.openedAt); left < grace {
				grace = left
			}
			c.timers = append(c.timers, s.clk.AfterFunc(grace, func() { s.helloDeadline(c) }))
		}
		return
	}
	first := !c.handshaked()
	if !c.hasDescribed(plat) {
		c.described = append(c.described, plat)
	}
	if first && s.dev == DevDrainBeforeDesc {
		c.handshakeAt = s.clk.Now()
		s.startDrainLocked(c.inst, c)
	}
	c.enqueue(encodeFrame(map[string]any{"type": "descriptor", "descriptor": platformTable[plat].descriptor}))
	if first {
		c.handshakeAt = s.clk.Now()
		if s.dev != DevDrainBeforeDesc {
			// IDLE-009: the replay starts after the first descriptor of a
			// connection, never before and never again on a later hello.
			s.startDrainLocked(c.inst, c)
		}
		return
	}
	// A later hello adds a platform: entries of that platform left behind
	// by a drain that could not send them may go now.
	if c.inst.drain == nil && !c.idled && c.inst.hasSendable(c) && c.newest() {
		s.startDrainLocked(c.inst, c)
	}
}

// newest reports whether c is the newest handshaked socket of its
// instance, the one deliveries go to.
func (c *conn) newest() bool {
	for i := len(c.inst.conns) - 1; i >= 0; i-- {
		if o := c.inst.conns[i]; o.handshaked() && !o.closing {
			return o == c
		}
	}
	return false
}

// onGoingIdle flips the instance to buffered-only and then acks. The flip
// lives in harbor's store, which outlives every socket; the ack is queued
// behind every frame decided before the flip (IDLE-003, IDLE-005).
func (s *Server) onGoingIdle(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing {
		return
	}
	c.idleCount++
	c.idled = true
	in := c.inst
	if !in.flipped {
		in.flipped = true
		in.wokeSinceFlip = false
		s.log.Info("instance flipped", "instance", in.id, "tenant", in.tenant)
	}
	if in.drain != nil {
		// Going idle ends the drain; the entry in flight may still be acked.
		in.drain = nil
	}
	if s.dev == DevSecondIdleUnacked && c.idleCount > 1 {
		return
	}
	c.enqueue(encodeFrame(map[string]string{"type": "going_idle_ack"}))
}

func (s *Server) onAck(c *conn, m map[string]json.RawMessage) {
	id, _ := rawString(m, "bufferId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing {
		return
	}
	in := c.inst
	idx := -1
	for i, e := range in.buffer {
		if e.id == id {
			idx = i
			break
		}
	}
	if id == "" || idx < 0 || in.buffer[idx].deliveries == 0 {
		// IDLE-017: unknown, duplicate, never-delivered or another
		// instance's ids are no-ops, journaled (IDLE-018).
		s.log.Info("no-op ack", "conn", c.id, "instance", in.id, "bufferId", id)
		return
	}
	e := in.buffer[idx]
	if s.dev == DevAckClearsBuffer {
		for _, x := range in.buffer {
			in.bytes -= x.size()
		}
		in.buffer = nil
	} else {
		in.buffer = append(in.buffer[:idx:idx], in.buffer[idx+1:]...)
		in.bytes -= e.size()
	}
	s.log.Info("ack", "instance", in.id, "bufferId", id)
	if in.inflight == e || s.dev == DevAckClearsBuffer {
		in.inflight = nil
	}
	s.pumpDrainLocked(in)
}

// onInterrupt routes an interrupt to the instance that owns the session
// (IN-011); the sender gets no reply. Interrupts have no buffered form: one
// for an instance without a live socket, or flipped, or draining, is
// dropped and journaled.
func (s *Server) onInterrupt(c *conn, m map[string]json.RawMessage) {
	key, ok := rawString(m, "session_key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closing || !ok || key == "" {
		return
	}
	t := s.tenant(c.gw.tenant)
	owner, found := t.sessions.get(key)
	if !found {
		s.log.Info("interrupt for an unknown session dropped", "conn", c.id, "session", key)
		return
	}
	in := s.instances[owner.instance]
	if s.dev == DevInterruptToSender {
		in = c.inst
	}
	if in == nil || in.flipped || in.drain != nil {
		s.log.Info("interrupt dropped: owner not live", "session", key)
		return
	}
	target := in.liveConn(owner.platform)
	if target == nil {
		s.log.Info("interrupt dropped: no live socket", "session", key)
		return
	}
	target.enqueue(encodeFrame(map[string]string{"type": "interrupt_inbound", "session_key": key, "chat_id": owner.chatID}))
}

// liveConn is the newest handshaked socket of the instance that answered a
// hello for platform.
func (in *instance) liveConn(platform string) *conn {
	for i := len(in.conns) - 1; i >= 0; i-- {
		c := in.conns[i]
		if !c.closing && !c.gone && c.hasDescribed(platform) {
			return c
		}
	}
	return nil
}
