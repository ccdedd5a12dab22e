package contract

import "unicode/utf8"

// scanner reads JSON in one validating pass: the grammar of RFC 8259 and
// nesting up to maxDepth, noting any string that is not UTF-8. With
// compact set it also appends the compact form of what it reads to out,
// byte for byte what json.Compact writes. It is the single pass behind the
// hot frames: DecodeLine checks a line and finds its members with it, and
// ScanEvent checks, compacts and reads an event with it.
//
// Every method reports false on input it cannot vouch for: invalid JSON,
// or nesting deeper than maxDepth (which encoding/json still accepts up to
// 10,000 levels). Callers then take a slow path that gives the exact
// verdict, so the scanner never needs to word an error.
type scanner struct {
	in      []byte
	i       int
	compact bool
	out     []byte
	// badUTF8 is set once a string holds a byte sequence that is not
	// UTF-8. encoding/json accepts such strings; TRN-016 does not.
	badUTF8 bool
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
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

// emit appends c to the compact copy, if one is kept.
func (p *scanner) emit(c byte) {
	if p.compact {
		p.out = append(p.out, c)
	}
}

// object reads an object whose '{' is at p.i. member is called with each
// key (its raw bytes between the quotes, and whether they hold an escape)
// once p.i is at the key's value, and must read the value.
func (p *scanner) object(member func(key []byte, escaped bool) bool) bool {
	p.emit('{')
	p.i++
	p.ws()
	if p.i < len(p.in) && p.in[p.i] == '}' {
		p.emit('}')
		p.i++
		return true
	}
	for {
		if p.i >= len(p.in) || p.in[p.i] != '"' {
			return false
		}
		start := p.i
		esc, ok := p.str()
		if !ok {
			return false
		}
		key := p.in[start+1 : p.i-1]
		p.ws()
		if p.i >= len(p.in) || p.in[p.i] != ':' {
			return false
		}
		p.emit(':')
		p.i++
		p.ws()
		if !member(key, esc) {
			return false
		}
		p.ws()
		if p.i >= len(p.in) {
			return false
		}
		switch p.in[p.i] {
		case ',':
			p.emit(',')
			p.i++
			p.ws()
		case '}':
			p.emit('}')
			p.i++
			return true
		default:
			return false
		}
	}
}

// value reads any JSON value at p.i, depth levels down.
func (p *scanner) value(depth int) bool {
	if p.i >= len(p.in) || depth > maxDepth {
		return false
	}
	switch c := p.in[p.i]; {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{':
		return p.object(func([]byte, bool) bool { return p.value(depth + 1) })
	case c == '[':
		p.emit('[')
		p.i++
		p.ws()
		if p.i < len(p.in) && p.in[p.i] == ']' {
			p.emit(']')
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
				p.emit(',')
				p.i++
				p.ws()
			case ']':
				p.emit(']')
				p.i++
				return true
			default:
				return false
			}
		}
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
	if p.compact {
		p.out = append(p.out, s...)
	}
	p.i += len(s)
	return true
}

// num reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *scanner) num() bool {
	start := p.i
	if p.in[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.in) && p.in[p.i] == '0' {
		p.i++
	} else if p.digits() == 0 {
		return false
	}
	if p.i < len(p.in) && p.in[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return false
		}
	}
	if p.i < len(p.in) && (p.in[p.i] == 'e' || p.in[p.i] == 'E') {
		p.i++
		if p.i < len(p.in) && (p.in[p.i] == '+' || p.in[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return false
		}
	}
	if p.compact {
		p.out = append(p.out, p.in[start:p.i]...)
	}
	return true
}

func (p *scanner) digits() int {
	n := 0
	for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// strStop marks the bytes that end a run of plain ASCII string content.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str reads a string, quotes included, and reports whether it held an
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
		switch c := in[i]; {
		case c == '"':
			i++
			p.i = i
			if p.compact {
				p.out = append(p.out, in[start:i]...)
			}
			return escaped, true
		case c == '\\':
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
		case c >= 0x80:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				p.badUTF8 = true
			}
			i += size
		default:
			return false, false // a raw control character
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// member is one top-level key of an object and its raw value.
type member struct {
	key, val []byte
}

// scanMembers checks that obj is one JSON object, with nothing but
// whitespace around it, and appends its members to dst in order, keys
// unescaped. It reports false for anything else, and for input the
// scanner cannot vouch for; the caller then asks encoding/json.
func scanMembers(obj []byte, dst []member) ([]member, bool, bool) {
	p := scanner{in: obj}
	p.ws()
	if p.i >= len(p.in) || p.in[p.i] != '{' {
		return dst, false, false
	}
	ok := p.object(func(key []byte, escaped bool) bool {
		if escaped {
			key = unescapeKey(key)
		}
		start := p.i
		if !p.value(1) {
			return false
		}
		dst = append(dst, member{key: key, val: p.in[start:p.i]})
		return true
	})
	if !ok {
		return dst, false, false
	}
	p.ws()
	return dst, p.i == len(p.in), p.badUTF8
}
