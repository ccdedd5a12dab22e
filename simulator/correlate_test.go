package simulator

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestTopLevelValue(t *testing.T) {
	for _, tc := range []struct {
		obj, want string
		found     bool
	}{
		{`{"message_id":"m1","text":"x"}`, `"m1"`, true},
		{`{"text":"x","message_id":"m1"}`, `"m1"`, true},
		{`{"text":"x"}`, "", false},
		{`{}`, "", false},
		// Only top-level members count.
		{`{"source":{"message_id":"s1"},"text":"\"message_id\":\"no\""}`, "", false},
		{`{"context":[{"message_id":"c1"}],"message_id":"m2"}`, `"m2"`, true},
		{`{"reply_to":{"text":"a,\"message_id\":1"},"x":["message_id"]}`, "", false},
		// A value that is a key's look-alike, then the real key.
		{`{"text":"message_id","message_id":"m3"}`, `"m3"`, true},
		// An escaped key is still the key; the last duplicate wins, as in
		// encoding/json.
		{`{"message\u005fid":"m4"}`, `"m4"`, true},
		{`{"message_id":"m5","message_id":"m6"}`, `"m6"`, true},
		// Other value kinds are found as they are.
		{`{"message_id":42}`, `42`, true},
		{`{"message_id":{"a":[1,{"b":"}"}]},"t":1}`, `{"a":[1,{"b":"}"}]}`, true},
		{`{"message_id":null}`, `null`, true},
	} {
		got, found := topLevelValue([]byte(tc.obj), "message_id")
		if string(got) != tc.want || found != tc.found {
			t.Errorf("%s: got %s %v, want %s %v", tc.obj, got, found, tc.want, tc.found)
		}
	}
}

// FuzzTopLevelValue holds the single-pass lookup to encoding/json: on any
// compact object, it finds the member a map decode keeps.
func FuzzTopLevelValue(f *testing.F) {
	for _, s := range []string{
		`{"message_id":"m1"}`, `{"a":{"message_id":"x"},"message_id":[1,"]"]}`, `{"message\u005fid":"e","message_id":"l"}`,
		`{"t":"\\\"message_id\\\":","message_id":null}`, `{"message_id":{"message_id":"in"}}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := compactJSON(raw)
		if err != nil || len(ev) == 0 || ev[0] != '{' {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(ev, &m) != nil {
			return
		}
		want, wantFound := m["message_id"]
		got, found := topLevelValue(ev, "message_id")
		if found != wantFound || (found && !bytes.Equal(got, want)) {
			t.Fatalf("%s: got %s %v, want %s %v", ev, got, found, want, wantFound)
		}
	})
}
