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

// UnmarshalJSON decodes an action. Ids sent as JSON numbers are accepted
// and turned into strings; unknown keys land in Extra. A key with the wrong
// JSON type is an error naming it. Use ValidateFrame to check an action
// against the contract.
func (a *Action) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return &FieldError{Field: "action", Problem: "not valid JSON"}
	}
	if err := a.decodeValid(b); err != nil {
		return err
	}
	return nil
}

// decodeValid is UnmarshalJSON for input already known to be valid JSON.
func (a *Action) decodeValid(b []byte) *FieldError { return a.decodeChecked(b, nil) }

// decodeChecked decodes an action known to be valid JSON and, when check is
// not nil, feeds it every key on the way, so OutboundActionValid's verdict
// costs no second walk.
func (a *Action) decodeChecked(b []byte, check *actionCheck) *FieldError {
	var out Action
	var content string
	hasContent := false
	var ferr *FieldError
	err := eachField(b, func(k, v []byte) error {
		if check != nil {
			check.add(k, v)
		}
		if ferr != nil {
			return nil
		}
		null := isNull(v)
		switch string(k) {
		case "op":
			if !null {
				out.Op, ferr = opString(k, v)
			}
		case "chat_id":
			out.ChatID = rawID(v)
		case "message_id":
			out.MessageID = rawID(v)
		case "content":
			if !null {
				content, ferr = actionString(k, v)
				hasContent = true
			}
		case "reply_to":
			if !null {
				r := rawID(v)
				out.ReplyTo = &r
			}
		case "session_key":
			if !null {
				out.SessionKey, ferr = actionString(k, v)
			}
		case "kind":
			if !null {
				out.Kind, ferr = actionString(k, v)
			}
		case "draft_id":
			out.DraftID, ferr = decodeAction(k, v, out.DraftID)
		case "final":
			out.Final, ferr = decodeAction(k, v, out.Final)
		case "card_id":
			if !null {
				out.CardID, ferr = actionString(k, v)
			}
		case "chunks":
			out.Chunks, ferr = decodeAction(k, v, out.Chunks)
		case "media_kind":
			if !null {
				out.MediaKind, ferr = actionString(k, v)
			}
		case "source_url":
			if !null {
				out.SourceURL, ferr = actionString(k, v)
			}
		case "filename":
			if !null {
				out.Filename, ferr = actionString(k, v)
			}
		case "prompt_kind":
			if !null {
				out.PromptKind, ferr = actionString(k, v)
			}
		case "prompt_id":
			if !null {
				out.PromptID, ferr = actionString(k, v)
			}
		case "options":
			out.Options, ferr = decodeAction(k, v, out.Options)
		case "timeout_s":
			out.TimeoutS, ferr = decodeAction(k, v, out.TimeoutS)
		case "emoji":
			if !null {
				out.Emoji, ferr = actionString(k, v)
			}
		case "remove":
			out.Remove, ferr = decodeAction(k, v, out.Remove)
		case "thread_name":
			if !null {
				out.ThreadName, ferr = actionString(k, v)
			}
		case "only_if_connector_created":
			out.OnlyIfConnectorCreated, ferr = decodeAction(k, v, out.OnlyIfConnectorCreated)
		case "only_if_current_name":
			if !null {
				out.OnlyIfCurrentName, ferr = actionString(k, v)
			}
		case "metadata":
			if out.Metadata == nil && string(v) == "{}" {
				out.Metadata = map[string]any{} // the common case, without reflection
			} else {
				out.Metadata, ferr = decodeAction(k, v, out.Metadata)
			}
		default:
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[string(k)] = append(json.RawMessage(nil), v...)
		}
		return nil
	})
	if err != nil {
		return &FieldError{Field: "action", Problem: "not a JSON object"}
	}
	if ferr != nil {
		return ferr
	}
	if out.Op == OpTyping {
		if hasContent {
			status := content
			out.Status = &status
		}
	} else if hasContent {
		out.Content = content
	}
	*a = out
	return nil
}

// actionString decodes a string key of an action: null leaves it empty,
// any other non-string is a FieldError naming the key.
func actionString(k, v []byte) (string, *FieldError) {
	if isNull(v) {
		return "", nil
	}
	s, ok := rawString(v)
	if !ok {
		return "", wrongType("", "action."+string(k), v)
	}
	return s, nil
}

// opString is actionString for op, which shares the constants' memory when
// it names a known op.
func opString(k, v []byte) (string, *FieldError) {
	if len(v) >= 2 && v[0] == '"' {
		inner := v[1 : len(v)-1]
		for _, op := range AllOps {
			if string(inner) == op {
				return op, nil
			}
		}
	}
	return actionString(k, v)
}

// decodeAction decodes a key of an action with encoding/json into a copy
// of its current value (a repeated key merges into a map, as encoding/json
// does): null leaves it as it is, a value of the wrong type is a
// FieldError.
func decodeAction[T any](k, v []byte, cur T) (T, *FieldError) {
	if isNull(v) {
		return cur, nil
	}
	x := cur
	if err := json.Unmarshal(v, &x); err != nil {
		return x, wrongType("", "action."+string(k), v)
	}
	return x, nil
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
func (r Result) MarshalJSON() ([]byte, error) {
	// Sized for the keys and strings, so that a result without chat_info
	// or extra keys costs one allocation (results are made per action).
	n := len(`{"success":false,"message_id":"","error":"","code":"","ambiguous":true,"thread_id":"","auto_thread_name":""}`) +
		len(r.MessageID) + len(r.Error) + len(r.Code) + len(r.ThreadID) + len(r.AutoThreadName)
	return r.appendJSON(make([]byte, 0, n))
}

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
	if !json.Valid(b) {
		return fmt.Errorf("result: not valid JSON")
	}
	return r.decodeValid(b)
}

// decodeValid is UnmarshalJSON for input already known to be valid JSON.
func (r *Result) decodeValid(b []byte) error {
	var out Result
	scanErr := eachField(b, func(k, v []byte) error {
		switch string(k) {
		case "success":
			out.Success = rawBool(v)
		case "message_id":
			out.MessageID = rawID(v)
		case "error":
			out.Error, _ = rawString(v)
		case "code":
			out.Code = codeString(v)
		case "ambiguous":
			out.Ambiguous = rawBool(v)
		case "thread_id":
			out.ThreadID = rawID(v)
		case "auto_thread_name":
			out.AutoThreadName, _ = rawString(v)
		case "chat_info":
			if len(v) > 0 && v[0] == '{' {
				info := &ChatInfo{}
				if json.Unmarshal(v, info) == nil {
					out.ChatInfo = info
				} else {
					out.ChatInfo = nil
				}
			}
		default:
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[string(k)] = append(json.RawMessage(nil), v...)
		}
		return nil
	})
	if scanErr != nil {
		return fmt.Errorf("result: not a JSON object")
	}
	*r = out
	return nil
}

// codeString decodes a result's code, sharing the constants' memory when it
// is one of ResultCodes; anything but a string gives "".
func codeString(v []byte) string {
	if len(v) >= 2 && v[0] == '"' {
		inner := v[1 : len(v)-1]
		for _, c := range ResultCodes {
			if string(inner) == c {
				return c
			}
		}
	}
	s, _ := rawString(v)
	return s
}

func containsFold(s, sub string) bool {
	return bytes.Contains(bytes.ToLower([]byte(s)), []byte(sub))
}
