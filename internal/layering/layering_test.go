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
// never import each other, conformance or Ginkgo; the test peer
// (internal/wspeer) and the bad-input catalogue know only the contract;
// the suite links no gateway client; the connector binary (cmd/relaysim)
// links neither the gateway client nor the soak.
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
		{module + "/internal/wspeer", func(p string) bool {
			return p == module+"/internal/wspeer" || p == module+"/contract"
		}, "the one WebSocket test peer knows only the contract: the suite, the catalogue and the soak share it"},
		{module + "/internal/badinput", func(p string) bool {
			return p == module+"/internal/badinput" || p == module+"/internal/wspeer" || p == module+"/contract" || p == module+"/fixtures"
		}, "the bad-input catalogue reaches a connector only over the wire"},
		{module + "/conformance/...", func(p string) bool { return !strings.HasPrefix(p, module+"/client") }, "the suite judges gateways over the wire and links no gateway client"},
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
	for _, pattern := range []string{module + "/client/...", module + "/simulator/...", module + "/contract/...", module + "/internal/wspeer"} {
		for _, p := range deps(t, pattern) {
			if strings.HasPrefix(p, "github.com/onsi/") {
				t.Errorf("%s depends on %s: Ginkgo and Gomega belong to conformance", pattern, p)
			}
		}
	}
}

// imports lists what the packages matching pattern import directly, by
// package.
func imports(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", pattern).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}

// TestCasesImportOnlyTheHarness: the suite's cases (every package under
// conformance/internal but the harness) import, of this module, only the
// harness, the contract, the bad-input catalogue and the fixtures. They
// reach an implementation over the wire, through the testee control API
// or through the harness (which drives the in-process simulator for the
// gateway suite), never by calling the simulator or the client.
func TestCasesImportOnlyTheHarness(t *testing.T) {
	harness := module + "/conformance/internal/harness"
	allowed := func(p string) bool {
		return p == harness || p == module+"/contract" || strings.HasPrefix(p, module+"/contract/") ||
			p == module+"/internal/badinput" || p == module+"/fixtures"
	}
	n := 0
	for pkg, imps := range imports(t, module+"/conformance/internal/...") {
		if pkg == harness {
			continue
		}
		n++
		for _, p := range imps {
			if strings.HasPrefix(p, module) && !allowed(p) {
				t.Errorf("%s imports %s: cases reach implementations only over the wire or through the harness", pkg, p)
			}
		}
	}
	if n < 2 {
		t.Errorf("found %d cases packages under conformance/internal, want the connector's and the gateway's", n)
	}
}
