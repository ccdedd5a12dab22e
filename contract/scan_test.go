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
