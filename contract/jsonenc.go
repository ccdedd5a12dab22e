package contract

import (
	"bytes"
	"encoding/json"
	"sort"
	"unicode/utf8"
)

// objectWriter appends a JSON object with keys in the order they are added.
// The contract's canonical encoding fixes key order per frame and op, which
// encoding/json cannot express for structs with conditional keys.
type objectWriter struct {
	buf   []byte
	first bool
	err   error
}

func newObject(dst []byte) *objectWriter {
	return &objectWriter{buf: append(dst, '{'), first: true}
}

func (w *objectWriter) key(k string) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	w.buf = appendString(w.buf, k)
	w.buf = append(w.buf, ':')
}

func (w *objectWriter) str(k, v string) { w.key(k); w.buf = appendString(w.buf, v) }

func (w *objectWriter) strOmit(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *objectWriter) strPtr(k string, v *string) {
	w.key(k)
	if v == nil {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = appendString(w.buf, *v)
}

func (w *objectWriter) boolean(k string, v bool) {
	w.key(k)
	if v {
		w.buf = append(w.buf, "true"...)
	} else {
		w.buf = append(w.buf, "false"...)
	}
}

func (w *objectWriter) raw(k string, v json.RawMessage) {
	w.key(k)
	if len(v) == 0 {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = append(w.buf, v...)
}

func (w *objectWriter) value(k string, v any) {
	w.key(k)
	w.buf = appendValue(w.buf, v, &w.err)
}

// extra appends keys not known to the struct, sorted, skipping any key
// already written.
func (w *objectWriter) extra(m map[string]json.RawMessage, skip func(string) bool) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.raw(k, m[k])
	}
}

func (w *objectWriter) close() ([]byte, error) {
	return append(w.buf, '}'), w.err
}

// appendValue encodes v compactly without HTML escaping; maps come out with
// sorted keys, as encoding/json does.
func appendValue(dst []byte, v any, errp *error) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if *errp == nil {
			*errp = err
		}
		return append(dst, "null"...)
	}
	out := b.Bytes()
	return append(dst, out[:len(out)-1]...)
}

// appendString appends s as a JSON string, leaving non-ASCII and HTML
// characters unescaped.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript line
		// parsing; escape them like encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
