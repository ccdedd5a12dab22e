package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Frame types. The first five travel from gateway to connector, the rest
// from connector to gateway.
const (
	TypeHello              = "hello"
	TypeOutbound           = "outbound"
	TypeInterrupt          = "interrupt"
	TypeGoingIdle          = "going_idle"
	TypeInboundAck         = "inbound_ack"
	TypeDescriptor         = "descriptor"
	TypeInbound            = "inbound"
	TypeOutboundResult     = "outbound_result"
	TypeInterruptInbound   = "interrupt_inbound"
	TypeGoingIdleAck       = "going_idle_ack"
	TypePassthroughForward = "passthrough_forward"
)

// Frame is one NDJSON frame of either direction.
type Frame interface {
	// FrameType returns the frame's "type" value.
	FrameType() string
	appendJSON(dst []byte) ([]byte, error)
}

// Command is one entry of a Discord hello's command_manifest.
type Command struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Options are Discord application-command option objects, kept as
	// sent.
	Options []json.RawMessage `json:"options,omitempty"`
}

// Hello announces one identity the gateway fronts.
type Hello struct {
	Platform        string
	BotID           string
	CommandManifest []Command // sent only when non-nil
}

// Outbound asks the connector to perform an action.
type Outbound struct {
	RequestID string
	Action    Action
	// Platform and BotID route the action to one fronted identity; empty
	// means the connection's default (its first hello).
	Platform string
	BotID    string
}

// Interrupt asks the connector to route an interrupt to the instance owning
// a session.
type Interrupt struct {
	SessionKey string
	Reason     *string // always on the wire, null when nil
}

// GoingIdle asks the connector to flip the instance to buffered-only.
type GoingIdle struct{}

// InboundAck acknowledges a buffered delivery.
type InboundAck struct {
	BufferID string
}

// DescriptorFrame answers a hello.
type DescriptorFrame struct {
	Descriptor CapabilityDescriptor
}

// Inbound delivers one event. Event is kept raw so a connector relays what
// it was given byte for byte; decode it with DecodeEvent.
type Inbound struct {
	Event    json.RawMessage
	BufferID string // set on buffered replays only
}

// OutboundResult answers an Outbound.
type OutboundResult struct {
	RequestID string
	Result    Result
}

// InterruptInbound tells the gateway to cancel a session's turn.
type InterruptInbound struct {
	SessionKey string
	ChatID     string
}

// GoingIdleAck confirms the buffered-only flip is durable.
type GoingIdleAck struct{}

// Forward is a raw platform request the connector passes through, such as a
// Discord interaction.
type Forward struct {
	Platform string
	BotID    string
	Method   string
	Path     string
	Headers  [][2]string
	// Body is carried as standard base64 in "bodyB64".
	Body    []byte
	Profile string
}

// PassthroughForward delivers a Forward.
type PassthroughForward struct {
	Forward  Forward
	BufferID string
}

// UnknownFrame is a frame whose type this version does not know. Receivers
// ignore it (TRN-004).
type UnknownFrame struct {
	Type string
	Raw  json.RawMessage
}

func (Hello) FrameType() string              { return TypeHello }
func (Outbound) FrameType() string           { return TypeOutbound }
func (Interrupt) FrameType() string          { return TypeInterrupt }
func (GoingIdle) FrameType() string          { return TypeGoingIdle }
func (InboundAck) FrameType() string         { return TypeInboundAck }
func (DescriptorFrame) FrameType() string    { return TypeDescriptor }
func (Inbound) FrameType() string            { return TypeInbound }
func (OutboundResult) FrameType() string     { return TypeOutboundResult }
func (InterruptInbound) FrameType() string   { return TypeInterruptInbound }
func (GoingIdleAck) FrameType() string       { return TypeGoingIdleAck }
func (PassthroughForward) FrameType() string { return TypePassthroughForward }
func (f UnknownFrame) FrameType() string     { return f.Type }

func (f Hello) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeHello)
	w.str("platform", f.Platform)
	w.str("botId", f.BotID)
	if f.CommandManifest != nil {
		w.value("command_manifest", f.CommandManifest)
	}
	return w.close()
}

func (f Outbound) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeOutbound)
	w.str("requestId", f.RequestID)
	w.key("action")
	var err error
	w.buf, err = f.Action.appendJSON(w.buf)
	if err != nil {
		return nil, err
	}
	if f.Platform != "" {
		w.str("platform", f.Platform)
		w.strOmit("botId", f.BotID)
	}
	return w.close()
}

func (f Interrupt) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeInterrupt)
	w.str("session_key", f.SessionKey)
	w.strPtr("reason", f.Reason)
	return w.close()
}

func (GoingIdle) appendJSON(dst []byte) ([]byte, error) {
	return append(dst, `{"type":"going_idle"}`...), nil
}

func (f InboundAck) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeInboundAck)
	w.str("bufferId", f.BufferID)
	return w.close()
}

func (f DescriptorFrame) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeDescriptor)
	w.key("descriptor")
	var err error
	w.buf, err = f.Descriptor.appendJSON(w.buf)
	if err != nil {
		return nil, err
	}
	return w.close()
}

func (f Inbound) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeInbound)
	ev := f.Event
	if len(ev) == 0 {
		ev = json.RawMessage("{}")
	}
	w.key("event")
	w.buf = appendCompact(w.buf, ev, &w.err)
	w.strOmit("bufferId", f.BufferID)
	return w.close()
}

func (f OutboundResult) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeOutboundResult)
	w.str("requestId", f.RequestID)
	w.key("result")
	var err error
	w.buf, err = f.Result.appendJSON(w.buf)
	if err != nil {
		return nil, err
	}
	return w.close()
}

func (f InterruptInbound) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypeInterruptInbound)
	w.str("session_key", f.SessionKey)
	w.str("chat_id", f.ChatID)
	return w.close()
}

func (GoingIdleAck) appendJSON(dst []byte) ([]byte, error) {
	return append(dst, `{"type":"going_idle_ack"}`...), nil
}

func (f PassthroughForward) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("type", TypePassthroughForward)
	w.key("forward")
	var err error
	w.buf, err = f.Forward.appendJSON(w.buf)
	if err != nil {
		return nil, err
	}
	w.strOmit("bufferId", f.BufferID)
	return w.close()
}

func (f Forward) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.str("platform", f.Platform)
	w.str("botId", f.BotID)
	w.str("method", f.Method)
	w.str("path", f.Path)
	headers := f.Headers
	if headers == nil {
		headers = [][2]string{}
	}
	w.value("headers", headers)
	w.value("bodyB64", f.Body) // []byte encodes as standard base64
	w.strOmit("profile", f.Profile)
	return w.close()
}

func (f UnknownFrame) appendJSON(dst []byte) ([]byte, error) {
	var errp error
	out := appendCompact(dst, f.Raw, &errp)
	return out, errp
}

func appendCompact(dst []byte, raw json.RawMessage, errp *error) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		if *errp == nil {
			*errp = err
		}
		return append(dst, "null"...)
	}
	return append(dst, b.Bytes()...)
}

// EncodeFrame returns the canonical encoding of f: compact JSON with "type"
// first and keys in contract order, ending with "\n" (TRN-002).
func EncodeFrame(f Frame) ([]byte, error) { return AppendFrame(nil, f) }

// AppendFrame appends the canonical encoding of f, newline included, to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	out, err := f.appendJSON(dst)
	if err != nil {
		return dst, fmt.Errorf("failed to encode %s frame: %w", f.FrameType(), err)
	}
	return append(out, '\n'), nil
}

// Decode errors. DecodeFrame wraps one of them with detail.
var (
	ErrMalformedFrame = errors.New("malformed frame")
	ErrNotObject      = errors.New("frame is not a JSON object")
	ErrMissingType    = errors.New("frame has no string type")
)

// FieldError is DecodeFrame's error for a known frame with a field of the
// wrong JSON type or shape, and Action.UnmarshalJSON's for an action key of
// the wrong type. It names the field, so a receiver can answer it without
// parsing the error text.
type FieldError struct {
	// Frame is the frame's type; "" for an action decoded on its own.
	Frame string
	// Field is the dotted path of the field: "requestId", "action.op".
	Field string
	// Problem says what is wrong: "wrong type (number)", "not an object".
	Problem string
}

func (e *FieldError) Error() string {
	if e.Frame == "" {
		return e.Field + ": " + e.Problem
	}
	return e.Frame + " frame: " + e.Field + ": " + e.Problem
}

// wrongType is the FieldError for a value of the wrong JSON type.
func wrongType(frame, field string, v []byte) *FieldError {
	return &FieldError{Frame: frame, Field: field, Problem: "wrong type (" + jsonKind(v) + ")"}
}

// DecodeFrame decodes one frame line (a trailing newline is allowed). It
// accepts any valid JSON formatting (TRN-006). It returns ErrMalformedFrame
// for invalid JSON, ErrNotObject for JSON that is not an object,
// ErrMissingType when "type" is absent or not a string, and a *FieldError
// naming the field when a known frame's field has the wrong JSON type.
// Unknown types decode as UnknownFrame. Decoding is lenient about missing
// fields, as the reference gateway is; ValidateFrame reports them.
// DecodeLine does the same and also reports what a connector needs beyond
// the frame.
func DecodeFrame(line []byte) (Frame, error) {
	f, _, err := DecodeLine(line)
	return f, err
}

// LineInfo is what DecodeLine reads from a frame line besides the typed
// frame: what a receiver keeps, forwards or answers without reading the
// line again.
type LineInfo struct {
	// Type is the frame's "type" when it is a string, also when the frame
	// failed to decode (a mistyped field); "" otherwise.
	Type string
	// InvalidUTF8 reports that a string in the line holds bytes that are
	// not UTF-8. DecodeLine, like encoding/json, still decodes such a
	// line; TRN-016 makes it a malformed frame, which the receiver
	// enforces. It is known for every line that is valid JSON, also when
	// DecodeLine returns ErrNotObject.
	InvalidUTF8 bool
	// RequestID and Platform are an outbound's requestId and platform when
	// they are strings, and Action its action as sent (aliasing the line;
	// nil when absent), also when the frame failed to decode, so that a
	// connector can still answer it (OUT-006). A repeated key gives its
	// last value.
	RequestID string
	Platform  string
	Action    []byte
	// ActionValid reports that an outbound's action certainly meets
	// OUT-003, OUT-004 and OUT-028, the verdict of OutboundActionValid:
	// false means "run ValidateFrame for the details", not necessarily
	// invalid.
	ActionValid bool
}

// inlineMembers is how many top-level members DecodeLine finds room for
// without allocating; every frame of the contract has fewer.
const inlineMembers = 12

// DecodeLine decodes one frame line as DecodeFrame does, in a single
// validating pass over the line that also finds its members and checks its
// strings' UTF-8; each member is then decoded from where the pass found it.
// Besides the frame it returns what a receiver needs that the frame does
// not hold (LineInfo), also when decoding fails.
func DecodeLine(line []byte) (Frame, LineInfo, error) {
	var info LineInfo
	line = bytes.TrimRight(line, "\r\n")
	var inline [inlineMembers]member
	ms, isObject, badUTF8 := scanMembers(line, inline[:0])
	if !isObject {
		// Not an object, not JSON, or nested deeper than the scanner
		// goes: encoding/json gives the verdict.
		if !json.Valid(line) {
			return nil, info, ErrMalformedFrame
		}
		info.InvalidUTF8 = !utf8.Valid(line)
		ms = ms[:0]
		if eachField(line, func(k, v []byte) error {
			ms = append(ms, member{key: k, val: v})
			return nil
		}) != nil {
			return nil, info, ErrNotObject
		}
		badUTF8 = info.InvalidUTF8
	}
	info.InvalidUTF8 = badUTF8
	typ, hasType := "", false
	for _, m := range ms {
		if string(m.key) == "type" {
			typ, hasType = frameTypeString(m.val)
		}
	}
	if !hasType || typ == "" {
		return nil, info, ErrMissingType
	}
	info.Type = typ
	d := fieldDecoder{frame: typ}
	var f Frame
	switch typ {
	case TypeHello:
		h := Hello{}
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "platform":
				d.str(k, v, &h.Platform)
			case "botId":
				d.str(k, v, &h.BotID)
			case "command_manifest":
				d.any(k, v, &h.CommandManifest)
			}
		})
		f = h
	case TypeOutbound:
		o := Outbound{}
		var check actionCheck
		for _, m := range ms {
			k, v := m.key, m.val
			switch string(k) {
			case "requestId":
				s, isString := rawString(v)
				info.RequestID = s
				d.strKnown(k, v, s, isString, &o.RequestID)
			case "platform":
				s, isString := rawString(v)
				info.Platform = s
				d.strKnown(k, v, s, isString, &o.Platform)
			case "botId":
				if d.err == nil {
					d.str(k, v, &o.BotID)
				}
			case "action":
				info.Action = v
				check = actionCheck{}
				if d.err != nil {
					break
				}
				// The pass above checked the whole line, so the action is
				// decoded in place, its validity judged on the way.
				if err := o.Action.decodeChecked(v, &check); err != nil && !isNull(v) {
					fe := *err
					fe.Frame = TypeOutbound
					d.err = &fe
				}
			}
		}
		info.ActionValid = check.valid()
		f = o
	case TypeInterrupt:
		i := Interrupt{}
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "session_key":
				d.str(k, v, &i.SessionKey)
			case "reason":
				if !isNull(v) {
					var r string
					d.str(k, v, &r)
					i.Reason = &r
				}
			}
		})
		f = i
	case TypeGoingIdle:
		f = GoingIdle{}
	case TypeInboundAck:
		a := InboundAck{}
		d.each(ms, func(k, v []byte) {
			if string(k) == "bufferId" {
				a.BufferID = rawID(v)
			}
		})
		f = a
	case TypeDescriptor:
		var raw []byte
		d.each(ms, func(k, v []byte) {
			if string(k) == "descriptor" {
				raw = v
			}
		})
		if raw == nil || raw[0] != '{' {
			return nil, info, &FieldError{Frame: TypeDescriptor, Field: "descriptor", Problem: "missing or not an object"}
		}
		desc, err := DecodeDescriptor(raw)
		if err != nil {
			return nil, info, err
		}
		f = DescriptorFrame{Descriptor: desc}
	case TypeInbound:
		in := Inbound{}
		var bad bool
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "event":
				switch {
				case isNull(v):
					in.Event = nil
				case v[0] != '{':
					bad = true
				default:
					in.Event = append(json.RawMessage(nil), v...)
				}
			case "bufferId":
				in.BufferID = rawID(v)
			}
		})
		if bad {
			return nil, info, &FieldError{Frame: TypeInbound, Field: "event", Problem: "not an object"}
		}
		if in.Event == nil {
			in.Event = json.RawMessage("{}")
		}
		f = in
	case TypeOutboundResult:
		r := OutboundResult{}
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "requestId":
				r.RequestID = rawID(v)
			case "result":
				if v[0] == '{' {
					_ = r.Result.decodeValid(v)
				}
			}
		})
		f = r
	case TypeInterruptInbound:
		i := InterruptInbound{}
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "session_key":
				d.str(k, v, &i.SessionKey)
			case "chat_id":
				i.ChatID = rawID(v)
			}
		})
		f = i
	case TypeGoingIdleAck:
		f = GoingIdleAck{}
	case TypePassthroughForward:
		p := PassthroughForward{}
		var raw []byte
		d.each(ms, func(k, v []byte) {
			switch string(k) {
			case "forward":
				raw = v
			case "bufferId":
				p.BufferID = rawID(v)
			}
		})
		if raw == nil || raw[0] != '{' {
			return nil, info, &FieldError{Frame: TypePassthroughForward, Field: "forward", Problem: "missing or not an object"}
		}
		fw, err := decodeForward(raw)
		if err != nil {
			return nil, info, err
		}
		p.Forward = fw
		f = p
	default:
		return UnknownFrame{Type: typ, Raw: append(json.RawMessage(nil), line...)}, info, nil
	}
	if d.err != nil {
		return nil, info, d.err
	}
	return f, info, nil
}

// frameTypes are the frame types a decoded frame's Type shares memory
// with.
var frameTypes = []string{
	TypeOutboundResult, TypeOutbound, TypeInbound, TypeInboundAck, TypeHello, TypeDescriptor,
	TypeInterrupt, TypeInterruptInbound, TypeGoingIdle, TypeGoingIdleAck, TypePassthroughForward,
}

// frameTypeString decodes a frame's type as rawString does, without
// allocating for a type of the contract.
func frameTypeString(v []byte) (string, bool) {
	if len(v) >= 2 && v[0] == '"' {
		inner := v[1 : len(v)-1]
		for _, t := range frameTypes {
			if string(inner) == t {
				return t, true
			}
		}
	}
	return rawString(v)
}

// fieldDecoder decodes the fields of a frame, keeping the first error.
type fieldDecoder struct {
	frame string
	err   error
}

// each calls fn with every member in order until a field fails.
func (d *fieldDecoder) each(ms []member, fn func(k, v []byte)) {
	for _, m := range ms {
		if d.err != nil {
			return
		}
		fn(m.key, m.val)
	}
}

func (d *fieldDecoder) any(k, v []byte, dst any) {
	if isNull(v) {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		d.err = wrongType(d.frame, string(k), v)
	}
}

func (d *fieldDecoder) str(k, v []byte, dst *string) {
	s, ok := rawString(v)
	d.strKnown(k, v, s, ok, dst)
}

// strKnown is str for a value rawString has already decoded; it does
// nothing once a field failed.
func (d *fieldDecoder) strKnown(k, v []byte, s string, isString bool, dst *string) {
	if d.err != nil || isNull(v) {
		return
	}
	if !isString {
		d.err = wrongType(d.frame, string(k), v)
		return
	}
	*dst = s
}

// decodeForward applies the reference gateway's coercions: scalar fields
// become strings, header entries that are not string pairs are dropped, and
// a body that is not valid standard base64 becomes empty.
func decodeForward(raw json.RawMessage) (Forward, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Forward{}, &FieldError{Frame: TypePassthroughForward, Field: "forward", Problem: err.Error()}
	}
	fw := Forward{
		Platform: rawID(m["platform"]),
		BotID:    rawID(m["botId"]),
		Method:   rawID(m["method"]),
		Path:     rawID(m["path"]),
		Profile:  rawID(m["profile"]),
	}
	var headers []json.RawMessage
	if json.Unmarshal(m["headers"], &headers) == nil {
		for _, h := range headers {
			var pair []string
			if json.Unmarshal(h, &pair) == nil && len(pair) == 2 {
				fw.Headers = append(fw.Headers, [2]string{pair[0], pair[1]})
			}
		}
	}
	var body []byte
	if json.Unmarshal(m["bodyB64"], &body) == nil {
		fw.Body = body
	}
	return fw, nil
}
