package conformance

// Injected platform messages: the case's side of the testee control
// API's inject, and how inbound frames are matched to what was injected.

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// userMessage is a platform message injected through the control API.
type userMessage struct {
	Platform  string
	ChatID    string
	ChatType  string
	UserID    string
	Text      string
	MessageID string
	IsBot     bool
	Addressed bool
	ScopeID   string
	MediaURLs []string // attachments, as the event's media_urls
	ThreadID  string   // the thread the message was posted in
	// Nonce is a unique token in Text by which the suite recognises the
	// event when the connector assigns its own message ids.
	Nonce string
}

// newMessage returns a DM from a test user on the case gateway's primary
// platform, with a unique chat and message id, and a unique nonce in its
// text so the suite recognises it even where the connector assigns its own
// message ids.
func (s *S) newMessage(text string) userMessage {
	nonce := "c0nf" + randHex(4)
	return userMessage{
		Platform: s.primary().Platform, ChatID: "conform-chat-" + randHex(4), ChatType: "dm",
		UserID: "conform-user", Text: text + " [" + nonce + "]", MessageID: "m-" + randHex(6), Nonce: nonce,
	}
}

// injected is what the connector said about an injected message.
type injected struct {
	delivery  string
	messageID string // the message id the connector assigned, when it said
	chatID    string // the chat id the connector assigned, when it said
	nonce     string
}

// inject makes the connector receive m from its platform, for the case's
// gateway. It returns what the control API says happened to it, and
// remembers the message and chat ids the connector reports assigning, by
// which later waits recognise the event.
func (s *S) inject(m userMessage) string {
	s.rely(basicInject)
	s.Logf("inject %s message %s in %s/%s: %q", m.ChatType, m.MessageID, m.Platform, m.ChatID, m.Text)
	d, err := s.run.conn.ctl.injectDelivery(s.ctx, s.creds().GatewayID, m)
	if err != nil {
		s.Harness("inject through the control API: %v", err)
	}
	if d.MessageID != "" && d.MessageID != m.MessageID {
		s.Logf("the connector assigned message id %s to %s", d.MessageID, m.MessageID)
	}
	s.mu.Lock()
	if s.msgs == nil {
		s.msgs = map[string]injected{}
	}
	s.msgs[m.MessageID] = injected{delivery: d.Delivery, messageID: d.MessageID, chatID: d.ChatID, nonce: m.Nonce}
	s.mu.Unlock()
	return d.Delivery
}

// isMsg matches an inbound frame carrying the injected message m: by the
// message id the connector reported assigning, by m's own id, or by the
// nonce in m's text.
func (s *S) isMsg(m userMessage) func(rxFrame) bool {
	return func(f rxFrame) bool {
		return f.Type == contract.TypeInbound && s.msgOf(f) == m.MessageID
	}
}

// msgOf returns the ID (as the suite made it) of the injected message an
// inbound frame carries, or "".
func (s *S) msgOf(f rxFrame) string {
	id := eventMessageID(f)
	ev, _ := f.Obj["event"].(map[string]any)
	text, _ := ev["text"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	for orig, in := range s.msgs {
		if id != "" && (id == orig || id == in.messageID) {
			return orig
		}
	}
	for orig, in := range s.msgs {
		if in.nonce != "" && strings.Contains(text, "["+in.nonce+"]") {
			return orig
		}
	}
	return ""
}

// eventMessageID returns the message id of an inbound frame's event: the
// top-level message_id, else source.message_id.
func eventMessageID(f rxFrame) string {
	ev, _ := f.Obj["event"].(map[string]any)
	if id, ok := ev["message_id"].(string); ok && id != "" {
		return id
	}
	src, _ := ev["source"].(map[string]any)
	id, _ := src["message_id"].(string)
	return id
}

// bufferID returns the bufferId of a frame, or "".
func bufferID(f rxFrame) string { return f.str("bufferId") }

// expectInbound waits for the inbound frame of m under requirement id.
func (p *peer) expectInbound(id string, m userMessage) rxFrame {
	return p.expect(id, fmt.Sprintf("an inbound frame for message %s", m.MessageID), p.s.isMsg(m))
}
