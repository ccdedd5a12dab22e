package contract

import (
	"encoding/json"
	"fmt"
)

// Message types an event may carry (IN-003). Images are "photo".
var MessageTypes = []string{"text", "location", "photo", "video", "audio", "voice", "document", "sticker", "command"}

// Chat types a session source may carry (IN-002).
var ChatTypes = []string{"dm", "group", "channel", "thread"}

// MessageEvent is the event of an inbound frame: one message (or button
// press) from a chat platform, normalised by the connector.
type MessageEvent struct {
	Text             string          `json:"text"`
	MessageType      string          `json:"message_type"`
	MessageID        string          `json:"message_id,omitempty"`
	ReplyToMessageID string          `json:"reply_to_message_id,omitempty"`
	ReplyTo          *ReplyRef       `json:"reply_to,omitempty"`
	MediaURLs        []string        `json:"media_urls,omitempty"`
	Media            []MediaRef      `json:"media,omitempty"`
	Context          []ContextEntry  `json:"context,omitempty"`
	PromptResponse   *PromptResponse `json:"prompt_response,omitempty"`
	Source           SessionSource   `json:"source"`
}

// ReplyRef describes the message an event replies to.
type ReplyRef struct {
	Text   string `json:"text,omitempty"`
	Author string `json:"author,omitempty"`
	IsOwn  bool   `json:"is_own,omitempty"`
}

// MediaRef is one attachment of an event.
type MediaRef struct {
	URL      string `json:"url"`
	MIME     string `json:"mime,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
}

// ContextEntry is one earlier message the connector attached for context.
type ContextEntry struct {
	Text   string        `json:"text"`
	Source ContextAuthor `json:"source"`
}

// ContextAuthor names the author of a context entry.
type ContextAuthor struct {
	UserName string `json:"user_name,omitempty"`
	UserID   string `json:"user_id,omitempty"`
}

// PromptResponse is a press on a prompt button.
type PromptResponse struct {
	PromptID        string `json:"prompt_id"`
	OptionID        string `json:"option_id"`
	Label           string `json:"label,omitempty"`
	PromptMessageID string `json:"prompt_message_id,omitempty"`
}

// SessionSource says where an event came from. It is the input of
// [SessionKey].
type SessionSource struct {
	Platform              string `json:"platform"`
	ChatID                string `json:"chat_id"`
	ChatType              string `json:"chat_type"`
	ChatName              string `json:"chat_name,omitempty"`
	UserID                string `json:"user_id,omitempty"`
	UserDisplayName       string `json:"user_display_name,omitempty"`
	UserName              string `json:"user_name,omitempty"`
	UserHandle            string `json:"user_handle,omitempty"`
	ThreadID              string `json:"thread_id,omitempty"`
	ChatTopic             string `json:"chat_topic,omitempty"`
	UserIDAlt             string `json:"user_id_alt,omitempty"`
	ChatIDAlt             string `json:"chat_id_alt,omitempty"`
	ScopeID               string `json:"scope_id,omitempty"`
	ParentChatID          string `json:"parent_chat_id,omitempty"`
	MessageID             string `json:"message_id,omitempty"`
	Profile               string `json:"profile,omitempty"`
	AutoThreadCreated     bool   `json:"auto_thread_created,omitempty"`
	AutoThreadInitialName string `json:"auto_thread_initial_name,omitempty"`
	ProspectiveThreadID   string `json:"prospective_thread_id,omitempty"`
	IsBot                 bool   `json:"is_bot,omitempty"`
}

// DisplayName returns the first non-empty of user_display_name, user_name
// and user_handle.
func (s SessionSource) DisplayName() string {
	for _, v := range []string{s.UserDisplayName, s.UserName, s.UserHandle} {
		if v != "" {
			return v
		}
	}
	return ""
}

// DecodeEvent decodes an inbound event and applies the gateway's defaults.
// Keys match exactly, as in the reference gateway: a key that differs from
// a field name only in case ("CHAT_ID") is ignored, not taken for it. The
// defaults are:
// message_type "text" when absent or unknown, source.platform "relay",
// source.chat_type "dm", and source.message_id falling back to the
// top-level message_id.
func DecodeEvent(raw json.RawMessage) (MessageEvent, error) {
	var ev MessageEvent
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if jsonKind(raw) != "object" {
		return ev, fmt.Errorf("event: not a JSON object")
	}
	if json.Valid(raw) && hasLookAlikeKey(raw) {
		cleaned, err := withoutLookAlikeKeys(raw)
		if err != nil {
			return MessageEvent{}, fmt.Errorf("event: %w", err)
		}
		raw = cleaned
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return MessageEvent{}, fmt.Errorf("event: %w", err)
	}
	if !oneOf(ev.MessageType, MessageTypes) {
		ev.MessageType = "text"
	}
	if ev.Source.Platform == "" {
		ev.Source.Platform = "relay"
	}
	if ev.Source.ChatType == "" {
		ev.Source.ChatType = "dm"
	}
	if ev.Source.MessageID == "" {
		ev.Source.MessageID = ev.MessageID
	}
	return ev, nil
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}
