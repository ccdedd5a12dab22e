// Package layering holds the test that keeps the module's layering
// executable: which of its packages may import which, and what the
// binaries link.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/relaykit/relaykit"

// deps lists the packages pattern depends on (itself included), as go list
// -deps reports them for the current build.
func deps(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pattern).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}

// TestLayering: contract imports nothing of ours; client and simulator
// never import each other, conformance or Ginkgo; the connector binary
// (cmd/relaysim) links neither the gateway client nor the soak.
func TestLayering(t *testing.T) {
	for _, rule := range []struct {
		pattern string
		allowed func(pkg string) bool
		why     string
	}{
		{module + "/contract/...", func(p string) bool { return p == module+"/contract" || strings.HasPrefix(p, module+"/contract/") },
			"contract imports nothing of ours"},
		{module + "/client/...", func(p string) bool {
			return !strings.HasPrefix(p, module+"/simulator") && !strings.HasPrefix(p, module+"/conformance")
		}, "client never imports simulator or conformance"},
		{module + "/simulator/...", func(p string) bool {
			return !strings.HasPrefix(p, module+"/client") && !strings.HasPrefix(p, module+"/conformance")
		}, "simulator never imports client or conformance"},
		{module + "/cmd/relaysim", func(p string) bool {
			return !strings.HasPrefix(p, module+"/client") && !strings.HasPrefix(p, module+"/conformance") && p != module+"/soak"
		}, "the connector binary links no gateway code (the soak is cmd/relaysoak)"},
	} {
		for _, p := range deps(t, rule.pattern) {
			if strings.HasPrefix(p, module) && !rule.allowed(p) {
				t.Errorf("%s: %s depends on %s", rule.why, rule.pattern, p)
			}
		}
	}
	for _, pattern := range []string{module + "/client/...", module + "/simulator/...", module + "/contract/..."} {
		for _, p := range deps(t, pattern) {
			if strings.HasPrefix(p, "github.com/onsi/") {
				t.Errorf("%s depends on %s: Ginkgo and Gomega belong to conformance", pattern, p)
			}
		}
	}
}
