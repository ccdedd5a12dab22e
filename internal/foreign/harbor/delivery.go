package harbor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// Delivery modes /inbound and /passthrough report.
const (
	deliveryLive     = "live"
	deliveryBuffered = "buffered"
	deliveryFiltered = "filtered"
	deliveryDropped  = "dropped"
)

var errBufferFull = errors.New("the instance's buffer is full")

// sendable reports whether e may be replayed on c: its platform was
// answered on c and it has not been sent on c yet.
func (c *conn) sendable(e *entry) bool { return c.hasDescribed(e.platform) && !c.sent[e.id] }

func (in *instance) hasSendable(c *conn) bool {
	for _, e := range in.buffer {
		if c.sendable(e) {
			return true
		}
	}
	return false
}

// startDrainLocked starts replaying the instance's buffer to c.
func (s *Server) startDrainLocked(in *instance, c *conn) {
	if !in.flipped && len(in.buffer) == 0 {
		return
	}
	in.drain = c
	in.inflight = nil
	if s.dev == DevLiveDuringDrain {
		in.flipped = false // the bug: the flip is cleared when the drain starts
	}
	s.log.Info("drain start", "instance", in.id, "entries", len(in.buffer))
	s.pumpDrainLocked(in)
}

// pumpDrainLocked sends the next entry when nothing is in flight: harbor
// drains with a window of one and waits for each ack (IDLE-011 allows
// more, harbor takes the least). When nothing sendable is left the drain is
// complete and the flip clears (IDLE-008, IDLE-012).
func (s *Server) pumpDrainLocked(in *instance) {
	c := in.drain
	if c == nil || c.closing || c.gone || in.inflight != nil {
		return
	}
	var next *entry
	for _, e := range in.buffer {
		if c.sendable(e) {
			next = e
			break
		}
	}
	if next == nil {
		in.drain = nil
		if in.flipped {
			in.flipped = false
			s.log.Info("instance unflipped: drain complete", "instance", in.id)
		}
		return
	}
	if next.deliveries > 0 && s.dev == DevNewBufferIDs {
		next.id = s.newBufferID()
	}
	member := "event"
	if next.frameType == "passthrough_forward" {
		member = "forward"
	}
	frame := encodeFrame(map[string]any{"type": next.frameType, member: next.payload, "bufferId": next.id})
	if !c.enqueue(frame) {
		return
	}
	next.deliveries++
	c.sent[next.id] = true
	in.inflight = next
}

func (s *Server) newBufferID() string { return fmt.Sprintf("hb.%s.%d", s.tag, s.nextSeq()) }

// deliverLocked hands a frame for platform to the instance: live to its
// newest socket for that platform when it is not flipped, not draining and
// has nothing older buffered for the platform; buffered otherwise
// (IDLE-007). It returns the delivery and the buffer id of a buffered one.
func (s *Server) deliverLocked(g *gateway, frameType, platform string, payload json.RawMessage) (string, string, error) {
	in := s.instanceOf(g)
	target := in.liveConn(platform)
	draining := in.drain != nil && s.dev != DevLiveDuringDrain
	older := false
	for _, e := range in.buffer {
		if e.platform == platform && s.dev != DevLiveDuringDrain {
			older = true
			break
		}
	}
	if target != nil && !in.flipped && !draining && !older {
		member := "event"
		if frameType == "passthrough_forward" {
			member = "forward"
		}
		if target.enqueue(encodeFrame(map[string]any{"type": frameType, member: payload})) {
			return deliveryLive, "", nil
		}
	}
	if frameType == "passthrough_forward" && s.dev == DevPassthroughDropped {
		return deliveryDropped, "", nil
	}
	e := &entry{id: s.newBufferID(), frameType: frameType, platform: platform, payload: payload, at: s.clk.Now()}
	if len(in.buffer) >= maxBufferEntries || in.bytes+e.size() > maxBufferBytes {
		return "", "", errBufferFull
	}
	in.buffer = append(in.buffer, e)
	in.bytes += e.size()
	s.log.Info("buffered", "instance", in.id, "bufferId", e.id, "frameType", frameType)
	s.maybeWakeLocked(in)
	s.pumpDrainLocked(in) // a running drain picks the new entry up after the backlog
	return deliveryBuffered, e.id, nil
}

// maybeWakeLocked sends the wake request of a flipped instance: for the
// first event buffered since the flip, and at most once per cooldown
// (WAKE-002, WAKE-003).
func (s *Server) maybeWakeLocked(in *instance) {
	if !in.flipped || in.wakeURL == "" {
		return
	}
	now := s.clk.Now()
	cooled := in.lastWake.IsZero() || now.Sub(in.lastWake) >= s.opts.WakeCooldown
	if s.dev != DevWakeEveryEvent {
		if !cooled {
			s.log.Info("wake suppressed by cooldown", "instance", in.id)
			return
		}
		if in.wokeSinceFlip && len(in.conns) > 0 {
			return // already woken and back: no need
		}
	}
	in.lastWake = now
	in.wokeSinceFlip = true
	url := in.wakeURL
	s.wg.Add(1)
	s.wakes.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.wakes.Done()
		// WAKE-002: a bare GET; nothing from the event, no credentials.
		req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, url, nil)
		if err != nil {
			s.log.Warn("wake request not built", "instance", in.id, "err", err)
			return
		}
		resp, err := s.wakeClient.Do(req)
		if err != nil {
			s.log.Warn("wake failed", "instance", in.id, "err", err) // WAKE-004: swallowed
			return
		}
		resp.Body.Close()
		s.log.Info("wake sent", "instance", in.id, "status", resp.StatusCode)
	}()
}

// passes applies the instance's relevance policy for the event's platform
// (HTTP-015, HTTP-016). DMs always pass, bots' DMs included.
func (in *instance) passes(dev string, src source, addressed bool) bool {
	p, ok := in.policies[src.Platform]
	if !ok {
		p = policy{} // HTTP-015: the all-default policy
	}
	if src.ChatType == "dm" {
		if dev == DevBotDMFiltered && src.IsBot && !p.AllowOtherBots {
			return false
		}
		return true
	}
	if src.IsBot && !p.AllowOtherBots {
		return false
	}
	if p.RequireAddress && !addressed && !slices.Contains(p.FreeResponseScopes, src.ChatID) &&
		(src.ScopeID == "" || !slices.Contains(p.FreeResponseScopes, src.ScopeID)) {
		return false
	}
	return true
}

// remember records what harbor's platform knows after an event: the
// session it belongs to (for interrupts and follow_up) and the chat.
func (s *Server) rememberLocked(g *gateway, src source) {
	t := s.tenant(g.tenant)
	key := sessionKey(src, s.dev == DevSessionKeyNoThread)
	t.sessions.put(key, sessionOwner{instance: instanceKey(g.tenant, g.instance), platform: src.Platform, chatID: src.ChatID})
	name := src.ChatName
	if name == "" {
		name = src.ChatID
	}
	t.chats.put(src.Platform+"\x00"+src.ChatID, chatInfo{name: name, kind: src.ChatType})
}
