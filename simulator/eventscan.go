package simulator

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/relaykit/relaykit/contract"
)

// scanEvent is the fast path of InjectEvent: in one pass over raw it checks
// the JSON grammar, appends the compact form to dst (byte for byte what
// json.Compact writes), checks the event against IN-001 and IN-002, and
// reads the session source. It reports ok=false whenever anything is off,
// or merely unusual (a source value with escapes); the caller then takes
// the slow path through contract.ValidateFrame, which also words the error.
// An internal test holds it to the same verdicts as contract.ValidateFrame.
func scanEvent(dst, raw []byte) (out []byte, src contract.SessionSource, ok bool) {
	p := scanner{in: raw, out: dst}
	p.ws()
	if p.i >= len(p.in) || p.in[p.i] != '{' {
		return dst, src, false
	}
	sawSource := false
	valid := p.object(func(key []byte) bool {
		switch string(key) {
		case "source":
			if sawSource || p.i >= len(p.in) || p.in[p.i] != '{' {
				return false // a repeated key: let the slow path apply Go's rules
			}
			sawSource = true
			return p.source(&src)
		case "text":
			if p.i >= len(p.in) || p.in[p.i] != '"' {
				return false // IN-002: text, when present, is a string
			}
		}
		return p.value(1)
	})
	if !valid || !sawSource {
		return dst, src, false
	}
	p.ws()
	if p.i != len(p.in) || !utf8.Valid(p.out[len(dst):]) {
		return dst, src, false
	}
	return p.out, src, true
}

type scanner struct {
	in  []byte
	i   int
	out []byte
}

// maxDepth bounds nesting, so a hostile event cannot exhaust the stack.
const maxDepth = 1000

func (p *scanner) ws() {
	for p.i < len(p.in) {
		switch p.in[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object parses an object whose '{' is at p.i; member is called with each
// key once p.i is at its value, and must consume the value.
func (p *scanner) object(member func(key []byte) bool) bool {
	p.out = append(p.out, '{')
	p.i++
	p.ws()
	if p.i < len(p.in) && p.in[p.i] == '}' {
		p.out = append(p.out, '}')
		p.i++
		return true
	}
	for {
		if p.i >= len(p.in) || p.in[p.i] != '"' {
			return false
		}
		start := len(p.out)
		esc, ok := p.str()
		if !ok {
			return false
		}
		key := p.out[start+1 : len(p.out)-1]
		if esc {
			key = nil // an escaped key never names a field we read
		}
		p.ws()
		if p.i >= len(p.in) || p.in[p.i] != ':' {
			return false
		}
		p.out = append(p.out, ':')
		p.i++
		p.ws()
		if !member(key) {
			return false
		}
		p.ws()
		if p.i >= len(p.in) {
			return false
		}
		switch p.in[p.i] {
		case ',':
			p.out = append(p.out, ',')
			p.i++
			p.ws()
		case '}':
			p.out = append(p.out, '}')
			p.i++
			return true
		default:
			return false
		}
	}
}

// value parses any JSON value at p.i.
func (p *scanner) value(depth int) bool {
	if p.i >= len(p.in) || depth > maxDepth {
		return false
	}
	switch c := p.in[p.i]; {
	case c == '{':
		return p.object(func([]byte) bool { return p.value(depth + 1) })
	case c == '[':
		p.out = append(p.out, '[')
		p.i++
		p.ws()
		if p.i < len(p.in) && p.in[p.i] == ']' {
			p.out = append(p.out, ']')
			p.i++
			return true
		}
		for {
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			if p.i >= len(p.in) {
				return false
			}
			switch p.in[p.i] {
			case ',':
				p.out = append(p.out, ',')
				p.i++
				p.ws()
			case ']':
				p.out = append(p.out, ']')
				p.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		_, ok := p.str()
		return ok
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.num()
	}
	return false
}

func (p *scanner) lit(s string) bool {
	if len(p.in)-p.i < len(s) || string(p.in[p.i:p.i+len(s)]) != s {
		return false
	}
	p.out = append(p.out, s...)
	p.i += len(s)
	return true
}

// num checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and copies it.
func (p *scanner) num() bool {
	start := p.i
	if p.in[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.in) && p.in[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return false
	}
	if p.i < len(p.in) && p.in[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if p.i < len(p.in) && (p.in[p.i] == 'e' || p.in[p.i] == 'E') {
		p.i++
		if p.i < len(p.in) && (p.in[p.i] == '+' || p.in[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	p.out = append(p.out, p.in[start:p.i]...)
	return true
}

// strStop marks the bytes that end a run of plain string content.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str copies a string, quotes included, and reports whether it held an
// escape.
func (p *scanner) str() (escaped, ok bool) {
	in := p.in
	start := p.i
	i := p.i + 1
	for {
		for i < len(in) && !strStop[in[i]] {
			i++
		}
		if i >= len(in) {
			return false, false
		}
		switch in[i] {
		case '"':
			i++
			p.i = i
			p.out = append(p.out, in[start:i]...)
			return escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(in) {
				return false, false
			}
			switch in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(in) {
					return false, false
				}
				for _, h := range in[i+2 : i+6] {
					if !isHex(h) {
						return false, false
					}
				}
				i += 6
			default:
				return false, false
			}
		default:
			return false, false // a raw control character
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// source parses the event's source object, checking IN-002 and filling src.
func (p *scanner) source(src *contract.SessionSource) bool {
	var have [4]bool // platform, chat_id, chat_type, user_id
	ok := p.object(func(key []byte) bool {
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
		start := len(p.out)
		esc, ok := p.str()
		if !ok || esc {
			return false // escapes: let the slow path decode them
		}
		*dst = string(p.out[start+1 : len(p.out)-1])
		if required >= 0 {
			have[required] = true
		}
		return true
	})
	if !ok || !have[0] || !have[1] || !have[2] || !have[3] {
		return false
	}
	for _, t := range contract.ChatTypes {
		if src.ChatType == t {
			return true
		}
	}
	return false
}

// slowEvent is the general path: compact, validate with the contract's own
// validator and decode the source.
func slowEvent(raw []byte, unchecked bool) ([]byte, contract.SessionSource, error) {
	var src contract.SessionSource
	ev, err := compactJSON(raw)
	if err != nil || len(ev) == 0 || ev[0] != '{' {
		return nil, src, badRequest("event", "must be a JSON object")
	}
	if !unchecked {
		if err := validateDelivery(contract.TypeInbound, ev, "IN-001", "IN-002"); err != nil {
			return nil, src, err
		}
	}
	return ev, lenientSource(ev), nil
}

// lenientSource decodes what it can of event.source, field by field, so
// one odd value (an is_bot that is a string, in an unchecked event) does
// not lose the rest.
func lenientSource(ev []byte) contract.SessionSource {
	var src contract.SessionSource
	var top struct {
		Source map[string]json.RawMessage `json:"source"`
	}
	if json.Unmarshal(ev, &top) != nil {
		return src
	}
	for k, v := range top.Source {
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		json.Unmarshal(one, &src) // a mistyped field stays empty
	}
	return src
}
