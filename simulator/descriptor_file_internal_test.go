package simulator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/fixtures"
)

// TestDescriptorSchemaIsApplied: the JSON Schema check of descriptor files
// runs and names fields (ParseDescriptor reports it only when the
// contract's own checks pass, which catch the same mistakes first).
func TestDescriptorSchemaIsApplied(t *testing.T) {
	for p, raw := range fixtures.DescriptorPresets() {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		if probs := schemaProblems(obj); len(probs) != 0 {
			t.Errorf("preset %s: %v", p, probs)
		}
	}
	probs := schemaProblems(map[string]any{"contract_version": json.Number("1"), "platform": json.Number("7"), "len_unit": "bytes"})
	var fields []string
	for _, p := range probs {
		fields = append(fields, p[0])
	}
	got := strings.Join(fields, " ")
	for _, want := range []string{"platform", "len_unit"} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem names %s: %v", want, probs)
		}
	}
	if !strings.Contains(formatProbs(probs), "missing") {
		t.Errorf("missing required fields not reported: %v", probs)
	}
}

func formatProbs(probs [][2]string) string {
	var b strings.Builder
	for _, p := range probs {
		b.WriteString(p[0] + ": " + p[1] + "\n")
	}
	return b.String()
}
