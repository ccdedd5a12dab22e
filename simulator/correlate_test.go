package simulator

import "testing"

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
