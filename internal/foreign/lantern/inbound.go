package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// event is what lantern reads of a MessageEvent, defaults applied (IN-009).
type event struct {
	Text        string
	MessageType string
	MessageID   string
	Source      source
	MediaURLs   []string
	Press       *press
}

// press is a prompt_response.
type press struct {
	PromptID string
	OptionID string
}

var messageTypes = map[string]bool{"text": true, "location": true, "photo": true, "video": true, "audio": true,
	"voice": true, "document": true, "sticker": true, "command": true}

// knownPlatforms are read as themselves; any other platform reads as
// "relay" (section 6.3), unless lantern fronts it.
var knownPlatforms = map[string]bool{"discord": true, "telegram": true, "slack": true, "whatsapp": true, "signal": true,
	"matrix": true, "mattermost": true, "email": true, "sms": true, "homeassistant": true, "relay": true}

// parseEvent reads an event object leniently: a member of the wrong type
// counts as absent.
func (g *gateway) parseEvent(raw json.RawMessage) event {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	ev := event{Text: str(m, "text"), MessageType: str(m, "message_type"), MessageID: str(m, "message_id")}
	if !messageTypes[ev.MessageType] {
		ev.MessageType = "text"
	}
	src, _ := m["source"].(map[string]any)
	ev.Source = source{
		Platform: str(src, "platform"), ChatID: str(src, "chat_id"), ChatType: str(src, "chat_type"),
		ThreadID: str(src, "thread_id"), ProspectiveThreadID: str(src, "prospective_thread_id"),
		UserID: str(src, "user_id"), UserIDAlt: str(src, "user_id_alt"), ScopeID: str(src, "scope_id"),
		Profile: str(src, "profile"), MessageID: str(src, "message_id"),
	}
	if ev.Source.Platform == "" || !(knownPlatforms[ev.Source.Platform] || g.botIdentity(ev.Source.Platform)) {
		ev.Source.Platform = "relay"
	}
	if ev.Source.ChatType == "" {
		ev.Source.ChatType = "dm"
	}
	if ev.MessageID == "" {
		ev.MessageID = ev.Source.MessageID
	}
	if list, ok := m["media_urls"].([]any); ok {
		for _, u := range list {
			if s, ok := u.(string); ok {
				ev.MediaURLs = append(ev.MediaURLs, s)
			}
		}
	}
	if pr, ok := m["prompt_response"].(map[string]any); ok {
		ev.Press = &press{PromptID: str(pr, "prompt_id"), OptionID: str(pr, "option_id")}
	}
	return ev
}

func (g *gateway) botIdentity(platform string) bool {
	for _, id := range g.cfg.identities {
		if id.platform == platform {
			return true
		}
	}
	return false
}

// replayKey is <platform>:<chat_id>:<message_id>, "" for an event without
// a message id, which is never dropped as a replay (IN-010).
func (g *gateway) replayKey(ev event) string {
	if ev.MessageID == "" && g.dev != devDedupeWithoutMessageID {
		return ""
	}
	return ev.Source.Platform + ":" + ev.Source.ChatID + ":" + ev.MessageID
}

func (g *gateway) sessionKeyOf(ev event) string {
	return sessionKey(ev.Source, g.dev == devDiscordScopeInKey)
}

// bufferIDOf returns a frame's bufferId, "" for a live delivery.
func bufferIDOf(m map[string]json.RawMessage) string {
	var id string
	if json.Unmarshal(m["bufferId"], &id) != nil {
		return ""
	}
	return id
}

// onInbound handles an inbound frame on the reader: the replay check, then
// admission (a synced journal record and a turn slot), then the ack of a
// buffered delivery, then the turn (IDLE-013, IDLE-014, IDLE-016).
func (g *gateway) onInbound(c *conn, m map[string]json.RawMessage) {
	bufferID := bufferIDOf(m)
	ev := g.parseEvent(m["event"])
	key := g.replayKey(ev)
	if key != "" && g.seen.has(key) {
		// Already admitted: the replay counts as admitted and is acked,
		// but not run again.
		g.log.Info("replay of an admitted event", "key", key, "bufferId", bufferID)
		if bufferID == "" {
			return
		}
		switch g.dev {
		case devReplayDroppedUnacked:
			return
		case devReplayAckedTwice:
			c.ack(bufferID)
		}
		c.ack(bufferID)
		return
	}
	if err := g.admit("inbound", key, bufferID, m["event"], ev); err != nil {
		g.log.Warn("event not admitted", "message_id", ev.MessageID, "bufferId", bufferID, "err", err)
		return
	}
	g.seen.add(key)
	g.meta.learn(ev.Source)
	if bufferID != "" {
		c.ack(bufferID)
	}
	g.dispatch(ev)
}

// errRejected is the echo profile's /reject: an event lantern refuses to
// admit.
var errRejected = errors.New("rejected on request (/reject)")

// admit reserves a turn slot and appends the event to the journal.
func (g *gateway) admit(kind, key, bufferID string, raw json.RawMessage, ev event) error {
	if strings.TrimSpace(ev.Text) == "/reject" {
		return errRejected
	}
	if !g.turns.reserve() {
		return errors.New("every turn slot is busy")
	}
	rec := struct {
		At       int64           `json:"at"`
		Kind     string          `json:"kind"`
		Key      string          `json:"key,omitempty"`
		BufferID string          `json:"bufferId,omitempty"`
		Event    json.RawMessage `json:"event,omitempty"`
	}{time.Now().UnixMilli(), kind, key, bufferID, raw}
	if !json.Valid(raw) {
		rec.Event = nil
	}
	if err := g.journal.append(rec); err != nil {
		g.turns.release()
		return err
	}
	return nil
}

// dispatch starts the turn of an admitted event on its reserved slot.
func (g *gateway) dispatch(ev event) {
	t := g.turns.start(g.turnCtx, g.sessionKeyOf(ev), ev.Source.ChatID)
	go func() {
		defer g.turns.end(t)
		defer func() {
			if r := recover(); r != nil {
				g.log.Error("turn failed", "panic", r)
			}
		}()
		g.runTurn(t, ev)
	}()
}

// onInterrupt cancels the running turn of exactly the named session
// (IN-012).
func (g *gateway) onInterrupt(m map[string]json.RawMessage) {
	var key, chat string
	_ = json.Unmarshal(m["session_key"], &key)
	_ = json.Unmarshal(m["chat_id"], &chat)
	n := g.turns.interrupt(key, chat, g.dev == devInterruptCancelsChat)
	g.log.Info("interrupt_inbound", "session_key", key, "cancelled", n)
}

// onForward handles a passthrough_forward: it turns a Discord interaction
// into an event, admits it like an inbound event, and acks a buffered one
// once admitted (IDLE-015). A forward is recognised as a replay by its
// bufferId.
func (g *gateway) onForward(c *conn, m map[string]json.RawMessage) {
	bufferID := bufferIDOf(m)
	if bufferID != "" && (g.dev == devForwardAckedOnArrival || g.dev == devForwardAckedTwice) {
		c.ack(bufferID)
	}
	ackAfter := bufferID != "" && g.dev != devForwardAckedOnArrival
	if bufferID != "" && g.fwdSeen.has(bufferID) {
		if ackAfter {
			c.ack(bufferID)
		}
		return
	}
	ev, ok := g.forwardEvent(m["forward"])
	key := ""
	if bufferID != "" {
		key = "passthrough:" + bufferID
	}
	if err := g.admit("forward", key, bufferID, m["forward"], ev); err != nil {
		g.log.Warn("forward not admitted", "bufferId", bufferID, "err", err)
		return
	}
	g.fwdSeen.add(bufferID)
	if ok {
		g.meta.learn(ev.Source)
	}
	if ackAfter {
		c.ack(bufferID)
	}
	if !ok || (ev.Text == "" && ev.Press == nil) {
		g.turns.release() // nothing to run (a ping, or a request lantern does not read)
		return
	}
	g.dispatch(ev)
}

// forwardEvent reads a Discord interaction out of a forward: a slash
// command becomes "/<name> <values>", a component press its custom_id, an
// hp1: token a prompt press. ok is false for anything else.
func (g *gateway) forwardEvent(raw json.RawMessage) (event, bool) {
	var fw struct {
		Platform string `json:"platform"`
		BodyB64  string `json:"bodyB64"`
	}
	if json.Unmarshal(raw, &fw) != nil {
		return event{}, false
	}
	body, err := base64.StdEncoding.DecodeString(fw.BodyB64)
	if err != nil {
		return event{}, false
	}
	var in struct {
		ID        string `json:"id"`
		Type      int    `json:"type"`
		GuildID   string `json:"guild_id"`
		ChannelID string `json:"channel_id"`
		Member    struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"member"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Data struct {
			Name     string `json:"name"`
			CustomID string `json:"custom_id"`
			Options  []struct {
				Value any `json:"value"`
			} `json:"options"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &in) != nil {
		return event{}, false
	}
	platform := fw.Platform
	if platform == "" {
		platform = "discord"
	}
	ev := event{MessageType: "command", MessageID: in.ID, Source: source{Platform: platform, ChatID: in.ChannelID,
		ChatType: "dm", ScopeID: in.GuildID, UserID: in.Member.User.ID}}
	if in.GuildID != "" {
		ev.Source.ChatType = "group"
	}
	if ev.Source.UserID == "" {
		ev.Source.UserID = in.User.ID
	}
	switch in.Type {
	case 2:
		parts := []string{"/" + in.Data.Name}
		for _, o := range in.Data.Options {
			if s, ok := o.Value.(string); ok {
				parts = append(parts, s)
			}
		}
		ev.Text = strings.Join(parts, " ")
	case 3:
		if rest, ok := strings.CutPrefix(in.Data.CustomID, "hp1:"); ok {
			pid, oid, _ := strings.Cut(rest, ":")
			ev.Press = &press{PromptID: pid, OptionID: oid}
		} else {
			ev.Text = in.Data.CustomID
		}
	default:
		return ev, false
	}
	return ev, true
}
