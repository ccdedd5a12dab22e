package contract

// The decoders as they were before DecodeLine: DecodeFrame over json.Valid
// and repeated top-level walks, the action and result decoders with string
// keys, and OutboundActionValid's own walk. FuzzDecodeLineAgreesWithReference
// holds the single-pass decoder to them, value for value and error for
// error.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

func refEachField(obj []byte, fn func(key string, val []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errNotObjectScan
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) {
			return errNotObjectScan
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		if i >= len(obj) || obj[i] != '"' {
			return errNotObjectScan
		}
		end := skipString(obj, i)
		key := refDecodeKey(obj[i:end])
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errNotObjectScan
		}
		i = skipSpace(obj, i+1)
		if i >= len(obj) {
			return errNotObjectScan
		}
		vEnd := skipValue(obj, i)
		if err := fn(key, obj[i:vEnd]); err != nil {
			return err
		}
		i = vEnd
	}
}

func refDecodeKey(quoted []byte) string {
	if len(quoted) >= 2 && bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

func refDecodeFrame(line []byte) (Frame, error) {
	line = bytes.TrimRight(line, "\r\n")
	if !json.Valid(line) {
		return nil, ErrMalformedFrame
	}
	typ, hasType := "", false
	if err := refEachField(line, func(k string, v []byte) error {
		if k == "type" {
			typ, hasType = rawString(v)
		}
		return nil
	}); err != nil {
		return nil, ErrNotObject
	}
	if !hasType || typ == "" {
		return nil, ErrMissingType
	}
	d := refFieldDecoder{frame: typ}
	var f Frame
	switch typ {
	case TypeHello:
		h := Hello{}
		d.each(line, func(k string, v []byte) {
			switch k {
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
		d.each(line, func(k string, v []byte) {
			switch k {
			case "requestId":
				d.str(k, v, &o.RequestID)
			case "action":
				// The line is already valid JSON, so skip encoding/json's
				// second scan and decode in place.
				if err := refDecodeAction(&o.Action, v); err != nil && !isNull(v) {
					fe := *err
					fe.Frame = TypeOutbound
					d.err = &fe
				}
			case "platform":
				d.str(k, v, &o.Platform)
			case "botId":
				d.str(k, v, &o.BotID)
			}
		})
		f = o
	case TypeInterrupt:
		i := Interrupt{}
		d.each(line, func(k string, v []byte) {
			switch k {
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
		d.each(line, func(k string, v []byte) {
			if k == "bufferId" {
				a.BufferID = rawID(v)
			}
		})
		f = a
	case TypeDescriptor:
		var raw []byte
		d.each(line, func(k string, v []byte) {
			if k == "descriptor" {
				raw = v
			}
		})
		if raw == nil || raw[0] != '{' {
			return nil, &FieldError{Frame: TypeDescriptor, Field: "descriptor", Problem: "missing or not an object"}
		}
		desc, err := DecodeDescriptor(raw)
		if err != nil {
			return nil, err
		}
		f = DescriptorFrame{Descriptor: desc}
	case TypeInbound:
		in := Inbound{}
		var bad bool
		d.each(line, func(k string, v []byte) {
			switch k {
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
			return nil, &FieldError{Frame: TypeInbound, Field: "event", Problem: "not an object"}
		}
		if in.Event == nil {
			in.Event = json.RawMessage("{}")
		}
		f = in
	case TypeOutboundResult:
		r := OutboundResult{}
		d.each(line, func(k string, v []byte) {
			switch k {
			case "requestId":
				r.RequestID = rawID(v)
			case "result":
				if v[0] == '{' {
					_ = refDecodeResult(&r.Result, v)
				}
			}
		})
		f = r
	case TypeInterruptInbound:
		i := InterruptInbound{}
		d.each(line, func(k string, v []byte) {
			switch k {
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
		d.each(line, func(k string, v []byte) {
			switch k {
			case "forward":
				raw = v
			case "bufferId":
				p.BufferID = rawID(v)
			}
		})
		if raw == nil || raw[0] != '{' {
			return nil, &FieldError{Frame: TypePassthroughForward, Field: "forward", Problem: "missing or not an object"}
		}
		fw, err := decodeForward(raw)
		if err != nil {
			return nil, err
		}
		p.Forward = fw
		f = p
	default:
		return UnknownFrame{Type: typ, Raw: append(json.RawMessage(nil), line...)}, nil
	}
	if d.err != nil {
		return nil, d.err
	}
	return f, nil
}

// fieldDecoder decodes the fields of a frame, keeping the first error.
type refFieldDecoder struct {
	frame string
	err   error
}

func (d *refFieldDecoder) each(obj []byte, fn func(k string, v []byte)) {
	_ = refEachField(obj, func(k string, v []byte) error {
		if d.err == nil {
			fn(k, v)
		}
		return nil
	})
}

func (d *refFieldDecoder) any(k string, v []byte, dst any) {
	if isNull(v) {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		d.err = wrongType(d.frame, k, v)
	}
}

func (d *refFieldDecoder) str(k string, v []byte, dst *string) {
	if isNull(v) {
		return
	}
	s, ok := rawString(v)
	if !ok {
		d.err = wrongType(d.frame, k, v)
		return
	}
	*dst = s
}

// decodeValid is UnmarshalJSON for input already known to be valid JSON.
func refDecodeAction(a *Action, b []byte) *FieldError {
	var out Action
	var content *string
	err := refEachField(b, func(k string, v []byte) error {
		str := func(dst *string) error {
			if isNull(v) {
				return nil
			}
			s, ok := rawString(v)
			if !ok {
				return wrongType("", "action."+k, v)
			}
			*dst = s
			return nil
		}
		decode := func(dst any) error {
			if isNull(v) {
				return nil
			}
			if err := json.Unmarshal(v, dst); err != nil {
				return wrongType("", "action."+k, v)
			}
			return nil
		}
		switch k {
		case "op":
			return str(&out.Op)
		case "chat_id":
			out.ChatID = rawID(v)
		case "message_id":
			out.MessageID = rawID(v)
		case "content":
			if !isNull(v) {
				var c string
				if err := str(&c); err != nil {
					return err
				}
				content = &c
			}
		case "reply_to":
			if !isNull(v) {
				r := rawID(v)
				out.ReplyTo = &r
			}
		case "session_key":
			return str(&out.SessionKey)
		case "kind":
			return str(&out.Kind)
		case "draft_id":
			return decode(&out.DraftID)
		case "final":
			return decode(&out.Final)
		case "card_id":
			return str(&out.CardID)
		case "chunks":
			return decode(&out.Chunks)
		case "media_kind":
			return str(&out.MediaKind)
		case "source_url":
			return str(&out.SourceURL)
		case "filename":
			return str(&out.Filename)
		case "prompt_kind":
			return str(&out.PromptKind)
		case "prompt_id":
			return str(&out.PromptID)
		case "options":
			return decode(&out.Options)
		case "timeout_s":
			return decode(&out.TimeoutS)
		case "emoji":
			return str(&out.Emoji)
		case "remove":
			return decode(&out.Remove)
		case "thread_name":
			return str(&out.ThreadName)
		case "only_if_connector_created":
			return decode(&out.OnlyIfConnectorCreated)
		case "only_if_current_name":
			return str(&out.OnlyIfCurrentName)
		case "metadata":
			return decode(&out.Metadata)
		default:
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = append(json.RawMessage(nil), v...)
		}
		return nil
	})
	if errors.Is(err, errNotObjectScan) {
		return &FieldError{Field: "action", Problem: "not a JSON object"}
	}
	if err != nil {
		return err.(*FieldError)
	}
	if out.Op == OpTyping {
		out.Status = content
	} else if content != nil {
		out.Content = *content
	}
	*a = out
	return nil
}

func refDecodeResult(r *Result, b []byte) error {
	var out Result
	var err error
	scanErr := refEachField(b, func(k string, v []byte) error {
		switch k {
		case "success":
			out.Success = rawBool(v)
		case "message_id":
			out.MessageID = rawID(v)
		case "error":
			out.Error, _ = rawString(v)
		case "code":
			out.Code, _ = rawString(v)
		case "ambiguous":
			out.Ambiguous = rawBool(v)
		case "thread_id":
			out.ThreadID = rawID(v)
		case "auto_thread_name":
			out.AutoThreadName, _ = rawString(v)
		case "chat_info":
			if len(v) > 0 && v[0] == '{' {
				out.ChatInfo = &ChatInfo{}
				if e := json.Unmarshal(v, out.ChatInfo); e != nil {
					out.ChatInfo = nil
				}
			}
		default:
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = append(json.RawMessage(nil), v...)
		}
		return err
	})
	if scanErr != nil {
		return fmt.Errorf("result: not a JSON object")
	}
	*r = out
	return nil
}

func refOutboundActionValid(line []byte) bool {
	action, _ := refRawField(line, "action")
	if len(action) == 0 || action[0] != '{' {
		return false
	}
	var (
		op    string
		kinds map[string]byte
		seen  [8]string
		n     int
		ok    = true
	)
	err := refEachField(action, func(k string, v []byte) error {
		if kinds == nil {
			// op comes first in canonical and reference frames; any other
			// order takes the slow path.
			var known bool
			op, _ = rawString(v)
			kinds, known = fastActionKinds[op]
			if k != "op" || !known {
				return errNotObjectScan
			}
			return nil
		}
		switch {
		case k == "op":
			return errNotObjectScan // a duplicate op
		case k == "content" && op == OpTyping:
			ok = ok && len(v) > 0 && v[0] == '"'
		case k == "metadata":
			// Keys starting with "_" break OUT-028, which the slow path
			// words; a cheap byte search is enough to send it there.
			ok = ok && len(v) > 0 && v[0] == '{' && !containsUnderscoreKey(v)
		}
		want, required := kinds[k]
		if !required {
			return nil
		}
		for _, s := range seen[:n] {
			if s == k {
				return errNotObjectScan // a duplicate key: let the slow path judge
			}
		}
		seen[n] = k
		n++
		switch want {
		case 's':
			ok = ok && len(v) > 0 && v[0] == '"'
		case 'S':
			ok = ok && len(v) > 0 && (v[0] == '"' || isNull(v))
		case 'o':
			ok = ok && len(v) > 0 && v[0] == '{'
		case 'b':
			ok = ok && (string(v) == "true" || string(v) == "false")
		}
		return nil
	})
	return err == nil && ok && kinds != nil && n == len(kinds)
}

func refRawField(obj []byte, key string) ([]byte, bool) {
	var val []byte
	found := false
	if refEachField(obj, func(k string, v []byte) error {
		if k == key {
			val, found = v, true
		}
		return nil
	}) != nil {
		return nil, false
	}
	return val, found
}
