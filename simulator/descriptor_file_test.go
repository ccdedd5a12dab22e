package simulator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// exampleDescriptor is the checked-in example of docs/relaysim.md.
const exampleDescriptor = "../examples/relaysim/smallchat.json"

// TestDescriptorFileIsServed: a platform described by a file is answered
// with exactly that descriptor, and the simulator gates ops by it.
func TestDescriptorFileIsServed(t *testing.T) {
	d, err := simulator.LoadDescriptorFile(exampleDescriptor)
	if err != nil {
		t.Fatal(err)
	}
	if d.Platform != "smallchat" || d.MaxMessageLength != 50 || d.LenUnit != contract.LenUnitUTF16 {
		t.Fatalf("decoded %+v", d)
	}
	descs, err := simulator.DefaultDescriptors()
	if err != nil {
		t.Fatal(err)
	}
	descs[d.Platform] = d
	s := start(t, simulator.Options{Descriptors: descs})
	if got := s.Platforms(); got[len(got)-1] != "smallchat" {
		t.Fatalf("served platforms %v", got)
	}
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"smallchat"}})
	g := dialGW(t, s, "gw1")
	got := g.hello("smallchat")
	if diff := cmp.Diff(d, got[0]); diff != "" {
		t.Fatalf("descriptor on the wire (-file +wire):\n%s", diff)
	}
	if r := g.call("smallchat", contract.Action{Op: contract.OpReact, ChatID: "c", MessageID: "m1", Emoji: "👍"}); r.Code != "unsupported_op" {
		t.Fatalf("react, which the file does not list: %+v", r)
	}
	if r := g.call("smallchat", contract.Action{Op: contract.OpDelete, ChatID: "c", MessageID: "m1"}); !r.Success {
		t.Fatalf("delete, which the file lists: %+v", r)
	}
}

// TestDescriptorFileErrorsNameFileAndField: every refusal names the file
// and the field to fix.
func TestDescriptorFileErrorsNameFileAndField(t *testing.T) {
	good := func(edit func(m map[string]string)) string {
		m := map[string]string{
			"contract_version": `1`, "platform": `"tiny"`, "label": `"Tiny"`, "max_message_length": `50`,
			"supports_draft_streaming": `false`, "supports_edit": `true`, "supports_threads": `false`,
			"markdown_dialect": `"plain"`, "len_unit": `"utf16"`,
		}
		edit(m)
		var parts []string
		for _, k := range append(contract.RequiredDescriptorFields, "supported_ops", "emoji", "suported_ops", "colour") {
			if v, ok := m[k]; ok {
				parts = append(parts, `"`+k+`": `+v)
			}
		}
		return "{\n  " + strings.Join(parts, ",\n  ") + "\n}\n"
	}
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"missing required", good(func(m map[string]string) { delete(m, "len_unit") }), "len_unit", "missing"},
		{"wrong type", good(func(m map[string]string) { m["max_message_length"] = `"50"` }), "max_message_length", "must be an integer"},
		{"unknown unit", good(func(m map[string]string) { m["len_unit"] = `"bytes"` }), "len_unit", "chars or utf16"},
		{"zero limit", good(func(m map[string]string) { m["max_message_length"] = `0` }), "max_message_length", "write 4096"},
		{"misspelt optional", good(func(m map[string]string) { m["suported_ops"] = `["send"]` }), "suported_ops", `did you mean "supported_ops"`},
		{"unknown member", good(func(m map[string]string) { m["colour"] = `"red"` }), "colour", "a descriptor has contract_version"},
		{"unknown op", good(func(m map[string]string) { m["supported_ops"] = `["send", "sned"]` }), "supported_ops.1", `unknown op "sned" (HS-010)`},
		{"task_card alone", good(func(m map[string]string) { m["supported_ops"] = `["task_card"]` }), "supported_ops", "HS-023"},
		{"ops not a list", good(func(m map[string]string) { m["supported_ops"] = `"send"` }), "supported_ops", "must be a list"},
		{"contract version", good(func(m map[string]string) { m["contract_version"] = `0` }), "contract_version", ">= 1"},
		{"platform with a comma", good(func(m map[string]string) { m["platform"] = `"a,b"` }), "platform", "GATEWAY_RELAY_PLATFORMS"},
		{"empty platform", good(func(m map[string]string) { m["platform"] = `""` }), "platform", "must not be empty"},
		{"syntax", "{\n  \"platform\": \"tiny\",\n  ,\n}", "", "line 3, column 3"},
		{"not an object", `["send"]`, "", "must be a JSON object"},
		{"two values", `{} {}`, "", "more than one JSON value"},
		{"empty file", ``, "", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tiny.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := simulator.LoadDescriptorFile(path)
			var fe *simulator.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FileError", err)
			}
			if !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s and say %q", err, path, tc.want)
			}
			found := false
			for _, line := range strings.Split(err.Error(), "\n") {
				found = found || strings.HasPrefix(line, path+": "+tc.field+": ") || (tc.field == "" && strings.HasPrefix(line, path+": "))
			}
			if !found {
				t.Fatalf("no line of %q names field %q", err, tc.field)
			}
		})
	}
	if _, err := simulator.LoadDescriptorFile(filepath.Join(t.TempDir(), "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json: cannot read it") {
		t.Fatalf("absent file: %v", err)
	}
}
