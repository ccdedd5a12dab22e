package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/conformance"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// mainArgsEnv makes the test binary act as the conform command: a suite
// runs at most once per process (Ginkgo), so each run is a child process.
const mainArgsEnv = "CONFORM_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(mainArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Exit(2)
		}
		os.Exit(dispatch(args, os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	if code == 0 {
		// The suites run in child processes; the parent must not leak.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// conform runs the command in a child process.
func conform(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(raw))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func call(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := dispatch(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"connector"},
		{"connector", "--url", "http://127.0.0.1:1", "--gateway-id", "g", "--secret", "s"},
		{"connector", "--url", "http://127.0.0.1:1", "--control", "http://x", "--parallel", "0"},
		{"connector", "--url", "http://127.0.0.1:1", "--control", "http://x", "--focus", "NOPE"},
		{"gateway", "--exec", "true", "--skip", "A,H,I,O,R,S,T,W"},
		{"connector", "--url", "http://127.0.0.1:1", "--control", "http://x", "--feature", "wake=maybe"},
		{"connector", "--url", "http://127.0.0.1:1", "--control", "http://x", "--baseline", "/nonexistent/baseline.yaml"},
		{"connector", "--no-such-flag"},
		{"gateway"},
		{"gateway", "--exec", "true", "extra"},
		{"list", "--side", "sideways"},
	} {
		if code, _, errs := call(args...); code != 2 {
			t.Errorf("conform %v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	// A label filter that does not parse is a usage error in plain words.
	code, _, errs := call("connector", "--url", "http://127.0.0.1:1", "--control", "http://x", "--label-filter", "MUST &&")
	if code != 2 || strings.Contains(errs, "\x1b[") || !strings.Contains(errs, "does not parse") {
		t.Errorf("bad label filter: exit %d, want 2 with a plain message:\n%q", code, errs)
	}
	// Nothing listening is not a usage error: it says what happened.
	if code, _, errs := call("connector", "--url", "http://127.0.0.1:1"); code != 3 || !strings.Contains(errs, "connection refused") {
		t.Errorf("connector where nothing listens: exit %d, want 3 naming the refused connection (%s)", code, errs)
	}
	if code, out, _ := call("--help"); code != 0 || !strings.Contains(out, "Exit codes") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

func TestList(t *testing.T) {
	code, out, _ := call("list")
	if code != 0 || !strings.Contains(out, "AUTH-010/wrong-secret") || !strings.Contains(out, "RC-012/second-strike-terminal") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	_, out, _ = call("list", "--side", "gateway", "--level", "SHOULD")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, " gateway ") || !strings.Contains(line, " SHOULD ") {
			t.Errorf("filtered list has %q", line)
		}
	}
	_, out, _ = call("list", "--prefix", "IDLE-01", "--json")
	var cases []conformance.Listed
	if err := json.Unmarshal([]byte(out), &cases); err != nil || len(cases) == 0 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	_, out, _ = call("list", "--markdown")
	doc, err := os.ReadFile("../../docs/conformance.md")
	if err != nil || out != string(doc) {
		t.Errorf("docs/conformance.md differs from conform list --markdown (%v); regenerate it", err)
	}
}

func newSim(t *testing.T) *simulator.Server {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Clock: clock.NewManual(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func TestConnectorRunWritesReports(t *testing.T) {
	sim := newSim(t)
	dir := t.TempDir()
	j, x, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.md")
	code, out, errs := conform(t, "connector", "--url", sim.URL(), "--control", sim.URL()+"/_relaysim",
		"--focus", "AUTH-005/,AUTH-002/", "--json", j, "--junit", x, "--report", md, "--implementation", "relaysim test")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "PASS") || !strings.Contains(errs, "AUTH-005/valid-token") {
		t.Errorf("no progress lines on stderr:\n%s", errs)
	}
	var res conformance.Result
	b, _ := os.ReadFile(j)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if c, ok := res.Case("AUTH-005/valid-token"); !ok || c.Verdict != conformance.Pass {
		t.Errorf("AUTH-005/valid-token: %+v", c)
	}
	if c, _ := res.Case("HS-004/descriptor-per-hello"); c.Verdict != conformance.Skipped {
		t.Errorf("unfocused case ran: %+v", c)
	}
	if xml, _ := os.ReadFile(x); !bytes.Contains(xml, []byte("<testsuite")) {
		t.Errorf("JUnit report:\n%s", xml)
	}
	if m, _ := os.ReadFile(md); !bytes.Contains(m, []byte("relaysim test")) || !bytes.Contains(m, []byte("| contract version | 1 |")) {
		t.Errorf("Markdown report:\n%s", m)
	}
}

func TestBaselineExpectedNewAndStale(t *testing.T) {
	sim := newSim(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "baseline.yaml")
	if err := os.WriteFile(base, []byte("side: connector\nexpected_failures:\n  - case: AUTH-002/missing-token\n    reason: we answer HTTP 401 for now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"connector", "--url", sim.URL(), "--control", sim.URL() + "/_relaysim", "--focus", "AUTH-002/,AUTH-010/wrong-secret", "-q"}
	if err := deviation.Apply(sim, deviation.NewSet(deviation.SimHTTP401Auth)); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := conform(t, args...); code != 1 || !strings.Contains(out, "FAIL AUTH-002/missing-token") {
		t.Errorf("deviating, no baseline: exit %d, want 1\n%s", code, out)
	}
	code, out, _ := conform(t, append(args, "--baseline", base)...)
	if code != 1 || !strings.Contains(out, "FAIL AUTH-010/wrong-secret") {
		t.Errorf("deviating, baseline lists one of two failures: exit %d, want 1\n%s", code, out)
	}
	if code, out, _ := conform(t, "connector", "--url", sim.URL(), "--control", sim.URL()+"/_relaysim", "--focus", "AUTH-002/", "--baseline", base, "-q"); code != 0 {
		t.Errorf("deviating, listed failure only: exit %d, want 0\n%s", code, out)
	}
	if err := deviation.Apply(sim, 0); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := conform(t, append(args, "--baseline", base)...); code != 1 || !strings.Contains(out, "stale") {
		t.Errorf("conformant with a baseline entry: exit %d, want 1 (stale)\n%s", code, out)
	}
}

func TestUnreachableControlIsHarnessError(t *testing.T) {
	if code, _, errs := conform(t, "connector", "--url", "http://127.0.0.1:1", "--control", "http://127.0.0.1:1/_relaysim", "-q"); code != 3 {
		t.Errorf("exit %d, want 3\n%s", code, errs)
	}
}
