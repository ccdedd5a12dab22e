package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// encoding/json matches object keys to struct fields case-insensitively,
// so {"CHAT_ID": "y"} would fill chat_id. The reference gateway reads
// Python dicts, which match exactly; to agree with it on every event (and so
// on every session key), DecodeEvent drops look-alike keys before decoding.

// eventFieldNames is every JSON field name of MessageEvent and the types it
// contains. They are all lower-case snake case, so two of them never differ
// only in case.
var eventFieldNames = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				seen[name] = true
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(MessageEvent{}))
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	return names
})

// isLookAlikeKey reports whether k is not a field name but would match one
// case-insensitively.
func isLookAlikeKey(k string) bool {
	names := eventFieldNames()
	for _, n := range names {
		if k == n {
			return false
		}
	}
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// hasLookAlikeKey scans every object key at any depth of valid JSON raw.
// A key is a string followed by a colon; string values never are.
func hasLookAlikeKey(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end := skipString(raw, i)
		j := skipSpace(raw, end)
		if j < len(raw) && raw[j] == ':' && isLookAlikeKey(string(decodeKey(raw[i:end]))) {
			return true
		}
		i = end - 1
	}
	return false
}

// withoutLookAlikeKeys returns raw with every look-alike key removed at
// any depth. It is the slow path, taken only when hasLookAlikeKey is true.
func withoutLookAlikeKeys(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if isLookAlikeKey(k) {
					delete(x, k)
					continue
				}
				strip(child)
			}
		case []any:
			for _, child := range x {
				strip(child)
			}
		}
	}
	strip(v)
	return json.Marshal(v)
}
