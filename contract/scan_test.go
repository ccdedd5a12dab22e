package contract_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

func TestRawField(t *testing.T) {
	for _, tc := range []struct {
		obj, key, want string
		found          bool
	}{
		{`{"type":"outbound","action":{"op":"send","x":[1,{"a":"}"}]}}`, "action", `{"op":"send","x":[1,{"a":"}"}]}`, true},
		{`{ "type" : "hello" , "platform":"telegram" }`, "platform", `"telegram"`, true},
		{`{"a":1,"a":2}`, "a", `2`, true},                // the last wins, as encoding/json decodes
		{`{"\u0061ction":null}`, "action", `null`, true}, // escaped keys match their text
		{`{"Action":{}}`, "action", ``, false},           // exact, unlike encoding/json's field matching
		{`{"outer":{"action":1}}`, "action", ``, false},  // top level only
		{`[{"action":1}]`, "action", ``, false},
		{`"action"`, "action", ``, false},
		{``, "action", ``, false},
		{`{"action":`, "action", ``, false},
	} {
		got, found := contract.RawField([]byte(tc.obj), tc.key)
		if string(got) != tc.want || found != tc.found {
			t.Errorf("RawField(%s, %q) = %q, %v; want %q, %v", tc.obj, tc.key, got, found, tc.want, tc.found)
		}
	}
}

// On every golden frame RawField returns what encoding/json finds for
// each top-level key.
func TestRawFieldAgreesWithEncodingJSON(t *testing.T) {
	golden, err := fixtures.GoldenFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		for _, line := range []string{g.Canonical, g.Reference} {
			if line == "" {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %v", g.Name, err)
			}
			for k, want := range m {
				got, found := contract.RawField([]byte(line), k)
				if !found || !bytes.Equal(got, want) {
					t.Errorf("%s: RawField(%q) = %q, %v; encoding/json has %q", g.Name, k, got, found, want)
				}
			}
		}
	}
}

// TestRawFieldTopLevel is the lookup relaysim stamps injected events by
// (it was the simulator's own topLevelValue, with these cases).
func TestRawFieldTopLevel(t *testing.T) {
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
		got, found := contract.RawField([]byte(tc.obj), "message_id")
		if string(got) != tc.want || found != tc.found {
			t.Errorf("%s: got %s %v, want %s %v", tc.obj, got, found, tc.want, tc.found)
		}
	}
}

// FuzzRawField holds the single-pass lookup to encoding/json: on any
// compact object, it finds the member a map decode keeps.
func FuzzRawField(f *testing.F) {
	for _, s := range []string{
		`{"message_id":"m1"}`, `{"a":{"message_id":"x"},"message_id":[1,"]"]}`, `{"message\u005fid":"e","message_id":"l"}`,
		`{"t":"\\\"message_id\\\":","message_id":null}`, `{"message_id":{"message_id":"in"}}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil || b.Len() == 0 || b.Bytes()[0] != '{' {
			return
		}
		ev := b.Bytes()
		var m map[string]json.RawMessage
		if json.Unmarshal(ev, &m) != nil {
			return
		}
		want, wantFound := m["message_id"]
		got, found := contract.RawField(ev, "message_id")
		if found != wantFound || (found && !bytes.Equal(got, want)) {
			t.Fatalf("%s: got %s %v, want %s %v", ev, got, found, want, wantFound)
		}
	})
}
