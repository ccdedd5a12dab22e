package packaging

import (
	"regexp"
	"strings"
	"testing"
)

// readmeFlows returns the README's shell blocks marked with
// <!-- flow: NAME ... -->, by name; blocks of one name, such as the
// "(continued)" ones that go on in the same shell, are joined in order.
func readmeFlows(t *testing.T) map[string]string {
	t.Helper()
	flows := map[string]string{}
	re := regexp.MustCompile("(?s)<!-- flow: ([a-z-]+)[^>]*-->\\s*```sh\\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(readFile(t, "README.md"), -1) {
		flows[m[1]] += m[2]
	}
	for _, name := range []string{"quickstart", "loop", "conform-relaysim"} {
		if flows[name] == "" {
			t.Fatalf("README.md has no <!-- flow: %s --> before a ```sh block", name)
		}
	}
	return flows
}

// TestReadmeFlowsNameNoPort: the README's flows take relaysim's URL from
// its env block. A flow that names 8765 talks to whatever holds 8765,
// which is not the relaysim it started when that one moved to a free port.
func TestReadmeFlowsNameNoPort(t *testing.T) {
	comment := regexp.MustCompile(`(?m)\s#\s.*$`)
	for name, script := range readmeFlows(t) {
		code := comment.ReplaceAllString(script, "")
		for _, bad := range []string{"8765", "localhost:", "127.0.0.1:"} {
			if strings.Contains(code, bad) {
				t.Errorf("README flow %s names %q outside a comment: it must use the URL of relaysim's env block\n%s", name, bad, script)
			}
		}
		if strings.Contains(code, "--addr") {
			t.Errorf("README flow %s passes --addr: relaysim then fails when the port is taken instead of taking a free one", name)
		}
	}
}
