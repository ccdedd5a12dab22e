package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Ops of the contract, the value of an action's "op" key.
const (
	OpSend         = "send"
	OpEdit         = "edit"
	OpTyping       = "typing"
	OpFollowUp     = "follow_up"
	OpGetChatInfo  = "get_chat_info"
	OpDraft        = "draft"
	OpTaskCard     = "task_card"
	OpTaskCardStop = "task_card_stop"
	OpDelete       = "delete"
	OpSendMedia    = "send_media"
	OpPrompt       = "prompt"
	OpReact        = "react"
	OpThreadCreate = "thread_create"
	OpThreadRename = "thread_rename"
)

// LegacyOps are the ops a descriptor allows when its supported_ops is empty.
var LegacyOps = []string{OpSend, OpEdit, OpTyping, OpFollowUp}

// AllOps lists every op of the contract.
var AllOps = []string{
	OpSend, OpEdit, OpTyping, OpFollowUp, OpGetChatInfo, OpDraft, OpTaskCard,
	OpTaskCardStop, OpDelete, OpSendMedia, OpPrompt, OpReact, OpThreadCreate,
	OpThreadRename,
}

// IsKnownOp reports whether op is an op of this contract.
func IsKnownOp(op string) bool {
	for _, o := range AllOps {
		if o == op {
			return true
		}
	}
	return false
}

// Result codes a failed outbound_result may carry.
const (
	CodeUnsupportedOp      = "unsupported_op"
	CodePlatformNotFronted = "platform_not_fronted"
	CodeEgressDeclined     = "egress_declined"
	CodeInvalidAction      = "invalid_action"
	CodeNotFound           = "not_found"
	CodeRateLimited        = "rate_limited"
	CodeInternal           = "internal"
)

// ResultCodes lists every result code of the contract.
var ResultCodes = []string{
	CodeUnsupportedOp, CodePlatformNotFronted, CodeEgressDeclined,
	CodeInvalidAction, CodeNotFound, CodeRateLimited, CodeInternal,
}

// Media kinds of a send_media action.
var MediaKinds = []string{"image", "voice", "audio", "video", "document"}

// Prompt kinds of a prompt action.
var PromptKinds = []string{"approval", "clarify", "choice"}

// PromptOption is one button of a prompt action.
type PromptOption struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Style string `json:"style,omitempty"` // primary, success, danger or secondary
}

// Action is the body of an outbound frame. Which fields are on the wire
// depends on Op; see the op table of the contract. Fields an op does not use
// are ignored when encoding.
type Action struct {
	Op string

	ChatID    string
	Content   string
	ReplyTo   *string // send, send_media, prompt: always on the wire, null when nil
	MessageID string

	// Status is typing's optional content: nil for a plain heartbeat, ""
	// to clear a status, otherwise a status phrase.
	Status *string

	SessionKey string // follow_up
	Kind       string // follow_up, e.g. "discord.interaction_token"

	DraftID int64 // draft
	Final   bool  // draft: seals the stream

	CardID string // task_card, task_card_stop
	Chunks []any  // task_card

	MediaKind string // send_media
	SourceURL string // send_media
	Filename  string // send_media, optional

	PromptKind string         // prompt
	PromptID   string         // prompt
	Options    []PromptOption // prompt
	TimeoutS   *float64       // prompt, advisory

	Emoji  string // react
	Remove bool   // react

	ThreadName             string // thread_create, thread_rename
	OnlyIfConnectorCreated bool   // thread_rename
	OnlyIfCurrentName      string // thread_rename

	// Metadata carries tenant discriminators (scope_id, user_id, profile)
	// and hints (format_hints, unfurl_links, thread_ts, ...).
	Metadata map[string]any

	// Extra holds keys this version does not know, kept for round trips.
	Extra map[string]json.RawMessage
}

// actionKeys is every action key this package knows.
var actionKeys = map[string]bool{
	"op": true, "chat_id": true, "content": true, "reply_to": true, "message_id": true,
	"session_key": true, "kind": true, "draft_id": true, "final": true, "card_id": true,
	"chunks": true, "media_kind": true, "source_url": true, "filename": true,
	"prompt_kind": true, "prompt_id": true, "options": true, "timeout_s": true,
	"emoji": true, "remove": true, "thread_name": true, "only_if_connector_created": true,
	"only_if_current_name": true, "metadata": true,
}

// MarshalJSON writes the keys of a.Op in canonical order.
func (a Action) MarshalJSON() ([]byte, error) { return a.appendJSON(nil) }

func (a Action) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("op", a.Op)
	meta := func() {
		if a.Metadata == nil {
			w.raw("metadata", json.RawMessage("{}"))
		} else {
			w.value("metadata", a.Metadata)
		}
	}
	switch a.Op {
	case OpSend:
		w.str("chat_id", a.ChatID)
		w.str("content", a.Content)
		w.strPtr("reply_to", a.ReplyTo)
		meta()
	case OpEdit:
		w.str("chat_id", a.ChatID)
		w.str("message_id", a.MessageID)
		w.str("content", a.Content)
		meta()
	case OpTyping:
		w.str("chat_id", a.ChatID)
		meta()
		if a.Status != nil {
			w.str("content", *a.Status)
		}
	case OpFollowUp:
		w.str("session_key", a.SessionKey)
		w.str("kind", a.Kind)
		w.str("content", a.Content)
		meta()
	case OpGetChatInfo:
		w.str("chat_id", a.ChatID)
	case OpDraft:
		w.str("chat_id", a.ChatID)
		w.key("draft_id")
		w.buf = strconv.AppendInt(w.buf, a.DraftID, 10)
		w.str("content", a.Content)
		w.boolean("final", a.Final)
		meta()
	case OpTaskCard:
		w.str("chat_id", a.ChatID)
		w.str("card_id", a.CardID)
		chunks := a.Chunks
		if chunks == nil {
			chunks = []any{}
		}
		w.value("chunks", chunks)
		meta()
	case OpTaskCardStop:
		w.str("chat_id", a.ChatID)
		w.str("card_id", a.CardID)
		meta()
	case OpDelete:
		w.str("chat_id", a.ChatID)
		w.str("message_id", a.MessageID)
		meta()
	case OpSendMedia:
		w.str("chat_id", a.ChatID)
		w.str("media_kind", a.MediaKind)
		w.str("source_url", a.SourceURL)
		w.str("content", a.Content)
		w.strPtr("reply_to", a.ReplyTo)
		meta()
		w.strOmit("filename", a.Filename)
	case OpPrompt:
		w.str("chat_id", a.ChatID)
		w.str("content", a.Content)
		w.str("prompt_kind", a.PromptKind)
		w.str("prompt_id", a.PromptID)
		opts := a.Options
		if opts == nil {
			opts = []PromptOption{}
		}
		w.value("options", opts)
		w.strPtr("reply_to", a.ReplyTo)
		meta()
		if a.TimeoutS != nil {
			w.value("timeout_s", *a.TimeoutS)
		}
	case OpReact:
		w.str("chat_id", a.ChatID)
		w.str("message_id", a.MessageID)
		w.str("emoji", a.Emoji)
		w.boolean("remove", a.Remove)
		meta()
	case OpThreadCreate:
		w.str("chat_id", a.ChatID)
		w.str("thread_name", a.ThreadName)
		meta()
	case OpThreadRename:
		w.str("chat_id", a.ChatID)
		w.str("message_id", a.MessageID)
		w.str("thread_name", a.ThreadName)
		meta()
		if a.OnlyIfConnectorCreated {
			w.boolean("only_if_connector_created", true)
		}
		w.strOmit("only_if_current_name", a.OnlyIfCurrentName)
	default:
		// An op this version does not know: write what is set.
		w.strOmit("chat_id", a.ChatID)
		w.strOmit("message_id", a.MessageID)
		w.strOmit("content", a.Content)
		if a.Metadata != nil {
			w.value("metadata", a.Metadata)
		}
	}
	w.extra(a.Extra, func(string) bool { return false })
	return w.close()
}

// actionWire mirrors Action with presence-aware fields for decoding.
type actionWire struct {
	Op                     string          `json:"op"`
	ChatID                 json.RawMessage `json:"chat_id"`
	Content                *string         `json:"content"`
	ReplyTo                *string         `json:"reply_to"`
	MessageID              json.RawMessage `json:"message_id"`
	SessionKey             string          `json:"session_key"`
	Kind                   string          `json:"kind"`
	DraftID                int64           `json:"draft_id"`
	Final                  bool            `json:"final"`
	CardID                 string          `json:"card_id"`
	Chunks                 []any           `json:"chunks"`
	MediaKind              string          `json:"media_kind"`
	SourceURL              string          `json:"source_url"`
	Filename               string          `json:"filename"`
	PromptKind             string          `json:"prompt_kind"`
	PromptID               string          `json:"prompt_id"`
	Options                []PromptOption  `json:"options"`
	TimeoutS               *float64        `json:"timeout_s"`
	Emoji                  string          `json:"emoji"`
	Remove                 bool            `json:"remove"`
	ThreadName             string          `json:"thread_name"`
	OnlyIfConnectorCreated bool            `json:"only_if_connector_created"`
	OnlyIfCurrentName      string          `json:"only_if_current_name"`
	Metadata               map[string]any  `json:"metadata"`
}

// UnmarshalJSON decodes an action. Ids sent as JSON numbers are accepted
// and turned into strings; unknown keys land in Extra. Use ValidateFrame to
// check an action against the contract.
func (a *Action) UnmarshalJSON(b []byte) error {
	var w actionWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("action: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("action: %w", err)
	}
	*a = Action{
		Op: w.Op, ChatID: idString(w.ChatID), ReplyTo: w.ReplyTo, MessageID: idString(w.MessageID),
		SessionKey: w.SessionKey, Kind: w.Kind, DraftID: w.DraftID, Final: w.Final,
		CardID: w.CardID, Chunks: w.Chunks, MediaKind: w.MediaKind, SourceURL: w.SourceURL,
		Filename: w.Filename, PromptKind: w.PromptKind, PromptID: w.PromptID, Options: w.Options,
		TimeoutS: w.TimeoutS, Emoji: w.Emoji, Remove: w.Remove, ThreadName: w.ThreadName,
		OnlyIfConnectorCreated: w.OnlyIfConnectorCreated, OnlyIfCurrentName: w.OnlyIfCurrentName,
		Metadata: w.Metadata,
	}
	if w.Op == OpTyping {
		a.Status = w.Content
	} else if w.Content != nil {
		a.Content = *w.Content
	}
	for k, v := range all {
		if !actionKeys[k] {
			if a.Extra == nil {
				a.Extra = map[string]json.RawMessage{}
			}
			a.Extra[k] = v
		}
	}
	return nil
}

// idString renders a JSON string or number id as a string; other values
// give "".
func idString(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}

// ChatInfo is what get_chat_info returns.
type ChatInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is the body of an outbound_result, and what a gateway's call
// returns when the transport answers on the connector's behalf.
type Result struct {
	Success   bool
	MessageID string
	Error     string
	// Code classifies a failure; one of ResultCodes.
	Code string
	// Ambiguous marks a failure after the frame reached the wire: the
	// action may have been applied.
	Ambiguous bool
	// ThreadID and AutoThreadName report a thread the connector created
	// for a send.
	ThreadID       string
	AutoThreadName string
	// ChatInfo answers get_chat_info in its nested form.
	ChatInfo *ChatInfo
	// Extra holds other keys, such as the flat get_chat_info form.
	Extra map[string]json.RawMessage
}

var resultKeys = map[string]bool{
	"success": true, "message_id": true, "error": true, "code": true, "ambiguous": true,
	"thread_id": true, "auto_thread_name": true, "chat_info": true,
}

// Declined reports whether the result is an egress decline: code
// egress_declined, or an error containing "egress declined:".
func (r Result) Declined() bool {
	return r.Code == CodeEgressDeclined || containsFold(r.Error, "egress declined:")
}

// Info returns get_chat_info's answer from the nested or the flat form,
// falling back to chatID as the name and "dm" as the type.
func (r Result) Info(chatID string) ChatInfo {
	info := ChatInfo{}
	if r.ChatInfo != nil {
		info = *r.ChatInfo
	} else {
		_ = json.Unmarshal(r.Extra["name"], &info.Name)
		_ = json.Unmarshal(r.Extra["type"], &info.Type)
	}
	if info.Name == "" {
		info.Name = chatID
	}
	if info.Type == "" {
		info.Type = "dm"
	}
	return info
}

// MarshalJSON writes the result in canonical key order, omitting empty keys
// except success.
func (r Result) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

func (r Result) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.boolean("success", r.Success)
	w.strOmit("message_id", r.MessageID)
	w.strOmit("error", r.Error)
	w.strOmit("code", r.Code)
	if r.Ambiguous {
		w.boolean("ambiguous", true)
	}
	w.strOmit("thread_id", r.ThreadID)
	w.strOmit("auto_thread_name", r.AutoThreadName)
	if r.ChatInfo != nil {
		w.value("chat_info", r.ChatInfo)
	}
	w.extra(r.Extra, func(k string) bool { return resultKeys[k] })
	return w.close()
}

// UnmarshalJSON decodes a result leniently: ids may be numbers, and other
// keys land in Extra.
func (r *Result) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if all == nil {
		return fmt.Errorf("result: not a JSON object")
	}
	var out Result
	_ = json.Unmarshal(all["success"], &out.Success)
	out.MessageID = idString(all["message_id"])
	_ = json.Unmarshal(all["error"], &out.Error)
	_ = json.Unmarshal(all["code"], &out.Code)
	_ = json.Unmarshal(all["ambiguous"], &out.Ambiguous)
	out.ThreadID = idString(all["thread_id"])
	_ = json.Unmarshal(all["auto_thread_name"], &out.AutoThreadName)
	if v, ok := all["chat_info"]; ok && jsonKind(v) == "object" {
		out.ChatInfo = &ChatInfo{}
		_ = json.Unmarshal(v, out.ChatInfo)
	}
	for k, v := range all {
		if !resultKeys[k] {
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = v
		}
	}
	*r = out
	return nil
}

func containsFold(s, sub string) bool {
	return bytes.Contains(bytes.ToLower([]byte(s)), []byte(sub))
}
