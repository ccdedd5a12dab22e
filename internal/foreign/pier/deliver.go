package pier

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Inbound delivery and the drain.
//
// pier is its own platform: an event handed to it through POST /inbound is
// what a user wrote, and pier turns it into the event a gateway sees. It
// mints the message id (whatever message_id the injected event carried),
// keeps only the fields of the contract's MessageEvent and SessionSource,
// defaults chat_type to dm and user_id to pier-guest, reads an unknown
// message_type as text, and adds pier_seq, a field no contract version
// defines (a gateway ignores it).

// eventKeys and sourceKeys are the fields pier carries over.
var (
	eventKeys = []string{"text", "message_type", "reply_to_message_id", "reply_to", "media_urls", "media",
		"context", "context_error", "prompt_response"}
	sourceKeys = []string{"chat_id", "chat_type", "chat_name", "chat_topic", "chat_id_alt", "parent_chat_id",
		"thread_id", "prospective_thread_id", "auto_thread_created", "auto_thread_initial_name", "user_id",
		"user_id_alt", "user_display_name", "user_name", "user_handle", "scope_id", "profile", "is_bot", "guild_id"}
	messageTypes = map[string]bool{"text": true, "location": true, "photo": true, "video": true, "audio": true,
		"voice": true, "document": true, "sticker": true, "command": true}
	chatTypes = map[string]bool{"dm": true, "group": true, "channel": true, "thread": true}
)

// frameOverhead bounds what an inbound frame adds around its event.
const frameOverhead = 128

// delivery is the answer of POST /inbound.
type delivery struct {
	Delivery  string `json:"delivery"`
	BufferID  string `json:"bufferId,omitempty"`
	MessageID string `json:"messageId"`
	ChatID    string `json:"chatId"`
}

// controlError is a control API refusal: an HTTP status and a message
// naming the field.
type controlError struct {
	status int
	msg    string
}

func (e *controlError) Error() string { return e.msg }

func badField(format string, args ...any) error {
	return &controlError{status: 400, msg: fmt.Sprintf(format, args...)}
}

// buildEvent makes pier's event from an injected one.
func buildEvent(in map[string]any, g *gateway) (ev, src map[string]any, err error) {
	rawSrc, ok := in["source"].(map[string]any)
	if !ok {
		return nil, nil, badField("event.source: missing or not an object")
	}
	platform, ok := rawSrc["platform"].(string)
	if !ok || platform == "" {
		return nil, nil, badField("event.source.platform: missing or not a string")
	}
	if !g.fronts(platform) {
		return nil, nil, badField("event.source.platform: pier does not front %q for gateway %q (it fronts %s)",
			platform, g.id, joinPlatforms(g.platforms))
	}
	src = map[string]any{"platform": platform}
	for _, k := range sourceKeys {
		if v, ok := rawSrc[k]; ok && v != nil {
			src[k] = v
		}
	}
	for _, k := range []string{"chat_id", "chat_type", "user_id"} {
		if v, ok := src[k]; ok {
			if _, isStr := v.(string); !isStr {
				return nil, nil, badField("event.source.%s: not a string", k)
			}
		}
	}
	if chat, _ := src["chat_id"].(string); chat == "" {
		return nil, nil, badField("event.source.chat_id: missing or empty")
	}
	if ct, _ := src["chat_type"].(string); ct == "" {
		src["chat_type"] = "dm"
	} else if !chatTypes[ct] {
		return nil, nil, badField("event.source.chat_type: %q is not dm, group, channel or thread", ct)
	}
	if u, _ := src["user_id"].(string); u == "" {
		src["user_id"] = "pier-guest"
	}
	ev = map[string]any{}
	for _, k := range eventKeys {
		if v, ok := in[k]; ok && v != nil {
			ev[k] = v
		}
	}
	if mt, _ := ev["message_type"].(string); !messageTypes[mt] {
		ev["message_type"] = "text"
	}
	ev["source"] = src
	return ev, src, nil
}

// inject delivers an event the platform received for gateway gid: live,
// buffered, or filtered by the default relevance policy (a bot's message
// outside a DM is not delivered, HTTP-015).
func (s *Server) inject(gid string, in map[string]any) (delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[gid]
	if g == nil {
		return delivery{}, &controlError{status: 404, msg: fmt.Sprintf("gatewayId: no gateway %q is enrolled", gid)}
	}
	ev, src, err := buildEvent(in, g)
	if err != nil {
		return delivery{}, err
	}
	platform := src["platform"].(string)
	chat := src["chat_id"].(string)
	s.msgSeq++
	s.eventSeq++
	msgID := "pm." + b36(s.msgSeq) + "." + s.boot
	ev["message_id"] = msgID
	ev["pier_seq"] = s.eventSeq
	body, err := json.Marshal(ev)
	if err != nil {
		return delivery{}, badField("event: %v", err)
	}
	// The inbound frame around the event, {"bufferId":"q<seq>@<tag>",
	// "event":...,"type":"inbound"}, adds 41 bytes plus a bufferId of at most
	// 28 (two base-36 uint64s and two marks): 128 keeps every frame pier
	// writes within 1 MiB (TRN-018).
	if len(body)+frameOverhead > maxFrame {
		return delivery{}, &controlError{status: 413, msg: "event: its inbound frame would exceed 1 MiB"}
	}
	t := g.tenant
	out := delivery{MessageID: msgID, ChatID: chat}
	name, _ := src["chat_name"].(string)
	if name == "" {
		name = chat
	}
	t.chats.put(chatKey(platform, chat), chatInfo{name: name, kind: src["chat_type"].(string)})
	t.messages.put(msgID, message{platform: platform, chat: chat})
	if isBot, _ := src["is_bot"].(bool); isBot && src["chat_type"] != "dm" {
		out.Delivery = "filtered"
		return out, nil
	}
	t.sessions.put(sessionKey(src), sessionRef{inst: g.inst, platform: platform, chat: chat})
	inst := g.inst
	order := s.eventSeq
	if c := inst.live; c != nil && c.liveLocked(platform) {
		c.enqueueItemLocked(liveFrame(platform, body, order))
		out.Delivery = "live"
		return out, nil
	}
	if s.ghostDeliverLocked(inst, platform, body, order) {
		out.Delivery = "live"
		return out, nil
	}
	if !s.roomLocked(inst, body) {
		return delivery{}, &controlError{status: 507, msg: fmt.Sprintf(
			"the buffer of instance %q is full (%d entries, %d bytes)", inst.id, len(inst.buffer), inst.bytes)}
	}
	out.Delivery, out.BufferID = "buffered", s.bufferLocked(inst, platform, body, order).id
	return out, nil
}

// liveFrame makes the queue item of a live delivery of body, an encoded
// event, for platform: the inbound frame, and the event kept beside it
// for buffering should the socket end before the frame is written
// (rebufferLocked). The event is a slice of the frame, so the queue holds
// it once.
func liveFrame(platform string, body []byte, order uint64) outItem {
	const head = `{"type":"inbound","event":`
	data := make([]byte, 0, len(head)+len(body)+2)
	data = append(data, head...)
	data = append(data, body...)
	data = append(data, "}\n"...)
	ev := data[len(head) : len(head)+len(body) : len(head)+len(body)]
	return outItem{data: data, live: &liveItem{platform: platform, event: ev, order: order}}
}

// roomLocked reports whether body fits the instance's buffer.
func (s *Server) roomLocked(inst *instance, body []byte) bool {
	return len(inst.buffer) < s.cfg.MaxBuffered && inst.bytes+len(body) <= s.cfg.MaxBufferBytes
}

// bufferLocked adds an event for platform to the instance's buffer, with a
// fresh bufferId, and lets the instance's socket replay it. order is the
// event's pier_seq: the buffer is kept in injection order, so a new event
// is its newest entry and one a closed socket never wrote
// (rebufferLocked) goes back behind the events injected before it.
func (s *Server) bufferLocked(inst *instance, platform string, body []byte, order uint64) *entry {
	inst.seq++
	e := &entry{id: "q" + b36(inst.seq) + "@" + inst.tag, platform: platform, event: body, order: order}
	i := len(inst.buffer)
	for i > 0 && inst.buffer[i-1].order > order {
		i--
	}
	inst.buffer = slices.Insert(inst.buffer, i, e)
	inst.bytes += len(body)
	if c := inst.live; c != nil {
		c.pumpLocked()
	}
	return e
}

// liveLocked reports whether an event for platform goes out live on c: the
// socket answered that platform, its drain is complete and the instance is
// not flipped (IN-007, IDLE-007, IDLE-012).
func (c *relayConn) liveLocked(platform string) bool {
	if c.closing || !c.drainStarted || c.idle || !c.answered[platform] {
		return false
	}
	if c.s.cfg.deviant(DevLiveDuringDrain) {
		return true
	}
	return c.drained && !c.inst.flipped
}

// pumpLocked replays buffer entries, oldest first, keeping at most
// DrainWindow of them unacknowledged (IDLE-009, IDLE-011). An entry whose
// platform the socket has not answered yet waits while the hello window
// runs (IN-007 forbids sending it earlier, and order is kept); after the
// window it is left for a later connection. The drain is complete when no
// replayed entry awaits its ack and nothing replayable is left; only then
// is the flip cleared and live delivery resumed (IDLE-008, IDLE-012).
func (c *relayConn) pumpLocked() {
	if c.closing || !c.drainStarted || c.idle {
		return
	}
	inst := c.inst
	stalled, left := false, false
	for _, e := range inst.buffer {
		if c.inflight[e.id] {
			continue
		}
		if !c.answered[e.platform] {
			if !c.windowOver && c.g.fronts(e.platform) {
				stalled = true
				break
			}
			continue
		}
		if len(c.inflight) >= c.s.cfg.DrainWindow {
			left = true
			break
		}
		c.enqueueLocked(frame(map[string]any{"type": "inbound", "bufferId": e.id, "event": json.RawMessage(e.event)}))
		c.inflight[e.id] = true
	}
	c.drained = !stalled && !left && len(c.inflight) == 0
	if c.drained {
		inst.flipped = false
	}
}
