package harness

// Injected platform messages: the case's side of the testee control
// API's inject, and how inbound frames are matched to what was injected.

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// UserMessage is a platform message injected through the control API.
type UserMessage struct {
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

// NewMessage returns a DM from a test user on the case gateway's primary
// platform, with a unique chat and message id, and a unique nonce in its
// text so the suite recognises it even where the connector assigns its own
// message ids.
func (s *S) NewMessage(text string) UserMessage {
	nonce := "c0nf" + RandHex(4)
	return UserMessage{
		Platform: s.Primary().Platform, ChatID: "conform-chat-" + RandHex(4), ChatType: "dm",
		UserID: "conform-user", Text: text + " [" + nonce + "]", MessageID: "m-" + RandHex(6), Nonce: nonce,
	}
}

// Injected is what the connector said about an injected message.
type Injected struct {
	Delivery  string
	MessageID string // the message id the connector assigned, when it said
	chatID    string // the chat id the connector assigned, when it said
	Nonce     string
}

// Inject makes the connector receive m from its platform, for the case's
// gateway. It returns what the control API says happened to it, and
// remembers the message and chat ids the connector reports assigning, by
// which later waits recognise the event.
func (s *S) Inject(m UserMessage) string {
	s.Rely(BasicInject)
	s.Logf("inject %s message %s in %s/%s: %q", m.ChatType, m.MessageID, m.Platform, m.ChatID, m.Text)
	d, err := s.Run.Conn.Ctl.InjectDelivery(s.Ctx, s.Creds().GatewayID, m)
	if err != nil {
		s.Harness("inject through the control API: %v", err)
	}
	if d.MessageID != "" && d.MessageID != m.MessageID {
		s.Logf("the connector assigned message id %s to %s", d.MessageID, m.MessageID)
	}
	s.Mu.Lock()
	if s.Msgs == nil {
		s.Msgs = map[string]Injected{}
	}
	s.Msgs[m.MessageID] = Injected{Delivery: d.Delivery, MessageID: d.MessageID, chatID: d.ChatID, Nonce: m.Nonce}
	s.Mu.Unlock()
	return d.Delivery
}

// IsMsg matches an inbound frame carrying the injected message m: by the
// message id the connector reported assigning, by m's own id, or by the
// nonce in m's text.
func (s *S) IsMsg(m UserMessage) func(RxFrame) bool {
	return func(f RxFrame) bool {
		return f.Type == contract.TypeInbound && s.MsgOf(f) == m.MessageID
	}
}

// MsgOf returns the ID (as the suite made it) of the injected message an
// inbound frame carries, or "".
func (s *S) MsgOf(f RxFrame) string {
	id := EventMessageID(f)
	ev, _ := f.Obj["event"].(map[string]any)
	text, _ := ev["text"].(string)
	s.Mu.Lock()
	defer s.Mu.Unlock()
	for orig, in := range s.Msgs {
		if id != "" && (id == orig || id == in.MessageID) {
			return orig
		}
	}
	for orig, in := range s.Msgs {
		if in.Nonce != "" && strings.Contains(text, "["+in.Nonce+"]") {
			return orig
		}
	}
	return ""
}

// EventMessageID returns the message id of an inbound frame's event: the
// top-level message_id, else source.message_id.
func EventMessageID(f RxFrame) string {
	ev, _ := f.Obj["event"].(map[string]any)
	if id, ok := ev["message_id"].(string); ok && id != "" {
		return id
	}
	src, _ := ev["source"].(map[string]any)
	id, _ := src["message_id"].(string)
	return id
}

// BufferID returns the bufferId of a frame, or "".
func BufferID(f RxFrame) string { return f.Str("bufferId") }

// ExpectInbound waits for the inbound frame of m under requirement id.
func (p *Peer) ExpectInbound(id string, m UserMessage) RxFrame {
	return p.Expect(id, fmt.Sprintf("an inbound frame for message %s", m.MessageID), p.S.IsMsg(m))
}
