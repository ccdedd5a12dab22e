package contract

// EventScan is what ScanEvent reads from an event.
type EventScan struct {
	// Event is dst with the compact event appended.
	Event []byte
	// Source is the event's session source.
	Source SessionSource
	// MessageID is the raw JSON value of the event's top-level message_id,
	// aliasing Event; nil when there is none. When the key repeats, the
	// last value is kept, as encoding/json decodes it.
	MessageID []byte
}

// ScanEvent is the fast path for a connector that takes events from
// outside (relaysim's inject does): in one pass over raw it checks the
// JSON grammar and UTF-8, appends the compact form to dst (byte for byte
// what json.Compact writes), checks the event against IN-001 and IN-002,
// and reads the session source and the top-level message_id. It reports
// ok=false whenever anything is off, or merely unusual (a source value with
// escapes, a repeated source); the caller then takes the slow path, where
// ValidateFrame on the frame AppendInbound writes words the violations.
// A test and a fuzz target hold it to ValidateFrame's verdicts.
func ScanEvent(dst, raw []byte) (EventScan, bool) {
	p := scanner{in: raw, compact: true, out: dst}
	var ev EventScan
	p.ws()
	if p.i >= len(p.in) || p.in[p.i] != '{' {
		return EventScan{Event: dst}, false
	}
	sawSource := false
	msgAt, msgEnd := -1, -1
	valid := p.object(func(key []byte, escaped bool) bool {
		if escaped {
			// A key spelled with escapes may still name a field; only the
			// slow path decodes it.
			return false
		}
		switch string(key) {
		case "source":
			if sawSource || p.i >= len(p.in) || p.in[p.i] != '{' {
				return false // a repeated key: let the slow path apply Go's rules
			}
			sawSource = true
			return p.source(&ev.Source)
		case "text":
			if p.i >= len(p.in) || p.in[p.i] != '"' {
				return false // IN-002: text, when present, is a string
			}
		case "message_id":
			msgAt = len(p.out)
			if !p.value(1) {
				return false
			}
			msgEnd = len(p.out)
			return true
		}
		return p.value(1)
	})
	if !valid || !sawSource || p.badUTF8 {
		return EventScan{Event: dst}, false
	}
	p.ws()
	if p.i != len(p.in) {
		return EventScan{Event: dst}, false
	}
	ev.Event = p.out
	if msgAt >= 0 {
		ev.MessageID = p.out[msgAt:msgEnd:msgEnd]
	}
	return ev, true
}

// source parses the event's source object, checking IN-002 and filling src.
func (p *scanner) source(src *SessionSource) bool {
	var have [4]bool // platform, chat_id, chat_type, user_id
	ok := p.object(func(key []byte, escaped bool) bool {
		if escaped {
			key = nil // an escaped key never names a field we read
		}
		var dst *string
		required := -1
		switch string(key) {
		case "platform":
			dst, required = &src.Platform, 0
		case "chat_id":
			dst, required = &src.ChatID, 1
		case "chat_type":
			dst, required = &src.ChatType, 2
		case "user_id":
			dst, required = &src.UserID, 3
		case "chat_name":
			dst = &src.ChatName
		case "user_display_name":
			dst = &src.UserDisplayName
		case "user_name":
			dst = &src.UserName
		case "user_handle":
			dst = &src.UserHandle
		case "thread_id":
			dst = &src.ThreadID
		case "chat_topic":
			dst = &src.ChatTopic
		case "user_id_alt":
			dst = &src.UserIDAlt
		case "chat_id_alt":
			dst = &src.ChatIDAlt
		case "scope_id":
			dst = &src.ScopeID
		case "parent_chat_id":
			dst = &src.ParentChatID
		case "message_id":
			dst = &src.MessageID
		case "profile":
			dst = &src.Profile
		case "auto_thread_initial_name":
			dst = &src.AutoThreadInitialName
		case "prospective_thread_id":
			dst = &src.ProspectiveThreadID
		case "is_bot", "auto_thread_created":
			b := p.i < len(p.in) && p.in[p.i] == 't'
			if !p.value(2) {
				return false
			}
			if string(key) == "is_bot" {
				src.IsBot = b
			} else {
				src.AutoThreadCreated = b
			}
			return true
		default:
			return p.value(2)
		}
		if p.i >= len(p.in) {
			return false
		}
		if p.in[p.i] != '"' {
			// Optional fields may be null; nothing else but a string.
			if required < 0 && p.lit("null") {
				*dst = ""
				return true
			}
			return false
		}
		start := p.i
		esc, ok := p.str()
		if !ok || esc {
			return false // escapes: let the slow path decode them
		}
		*dst = string(p.in[start+1 : p.i-1])
		if required >= 0 {
			have[required] = true
		}
		return true
	})
	if !ok || !have[0] || !have[1] || !have[2] || !have[3] {
		return false
	}
	for _, t := range ChatTypes {
		if src.ChatType == t {
			return true
		}
	}
	return false
}
