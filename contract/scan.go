package contract

import (
	"bytes"
	"encoding/json"
	"errors"
)

// The hot frames (outbound, outbound_result, inbound, inbound_ack) are
// decoded by walking the top-level keys of an already validated object
// instead of building a map[string]json.RawMessage: it is several times
// faster and allocates little, which matters at 100,000 frames a second.

var errNotObjectScan = errors.New("not an object")

// eachField calls fn with every top-level key and raw value of the JSON
// object obj, in order. Keys are the raw bytes between the quotes, unescaped
// when they hold an escape (switch on string(key): that does not
// allocate). obj should be valid JSON (callers check with json.Valid, or
// scanned it): on invalid input eachField never panics, but it only
// promises to return errNotObjectScan for structural damage it happens to
// meet.
func eachField(obj []byte, fn func(key, val []byte) error) error {
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
		key := decodeKey(obj[i:end])
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// decodeKey returns the text of a quoted key: the bytes between the quotes,
// or a fresh unescaped copy when they hold an escape.
func decodeKey(quoted []byte) []byte {
	if len(quoted) < 2 {
		return nil
	}
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	return unescapeKey(inner)
}

// unescapeKey decodes the escapes of a key's raw text; text that does not
// decode gives an empty key, which names no field.
func unescapeKey(raw []byte) []byte {
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return nil
	}
	return []byte(s)
}

// rawString decodes a JSON string value, taking the fast path when it has
// no escapes. ok is false when val is not a string.
func rawString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	return unquote(val)
}

// unquote is rawString's slow path, apart so that the string
// encoding/json decodes into goes to the heap only when there are escapes.
func unquote(val []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

// rawID decodes a string or number id; anything else gives "".
func rawID(val []byte) string {
	if s, ok := rawString(val); ok {
		return s
	}
	if len(val) > 0 && (val[0] == '-' || (val[0] >= '0' && val[0] <= '9')) {
		return string(val)
	}
	return ""
}

func rawBool(val []byte) bool { return len(val) == 4 && string(val) == "true" }

func isNull(val []byte) bool { return len(val) == 4 && string(val) == "null" }

// RawField returns the raw JSON value of key among the top-level keys of
// the JSON object obj, and whether it is there. Keys match exactly (not
// case-insensitively as encoding/json matches struct fields); when a key
// repeats, the last value wins, as encoding/json decodes it. The value
// aliases obj: copy it to keep it past obj's lifetime. obj should be valid
// JSON, as DecodeFrame has established for a frame line; RawField never
// panics on anything else and reports false for what is not an object.
//
// It lets a connector pick one member out of a hot frame (the action of an
// outbound, say) without a second full decode.
func RawField(obj []byte, key string) ([]byte, bool) {
	var val []byte
	found := false
	if eachField(obj, func(k, v []byte) error {
		if string(k) == key {
			val, found = v, true
		}
		return nil
	}) != nil {
		return nil, false
	}
	return val, found
}
