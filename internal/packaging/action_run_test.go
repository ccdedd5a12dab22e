//go:build unix

package packaging

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaykit/relaykit/internal/testkit"
)

// startRelaysim starts the relaysim binary bin with args and returns its
// env block; the cleanup stops it with SIGTERM and waits.
func startRelaysim(t *testing.T, bin string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	env := map[string]string{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(30 * time.Second)
	for env["GATEWAY_RELAY_PLATFORMS"] == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("relaysim %v ended without its env block:\n%s", args, stderr.String())
			}
			k, v, _ := strings.Cut(line, "=")
			env[k] = v
		case <-deadline:
			t.Fatalf("relaysim %v printed no env block in 30 s:\n%s", args, stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return env
}

// actionRun runs one run step of action.yml as the runner would: bash with
// the step's env, its expressions evaluated from exprs and the inputs
// (given ones, else the declared defaults). It returns the exit code, the
// output and what the step wrote to $GITHUB_OUTPUT.
func actionRun(t *testing.T, a actionFile, step string, inputs, exprs map[string]string, extraEnv ...string) (int, string, map[string]string) {
	t.Helper()
	var s *actionStep
	for i := range a.Runs.Steps {
		if a.Runs.Steps[i].Name == step || a.Runs.Steps[i].ID == step {
			s = &a.Runs.Steps[i]
		}
	}
	if s == nil {
		t.Fatalf("action.yml has no step %q", step)
	}
	dir := t.TempDir()
	outFile := filepath.Join(dir, "github_output")
	env := append(os.Environ(), "GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary.md"), "GITHUB_PATH="+filepath.Join(dir, "github_path"))
	env = append(env, extraEnv...)
	expr := regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)
	for k, v := range s.Env {
		v = expr.ReplaceAllStringFunc(v, func(m string) string {
			e := expr.FindStringSubmatch(m)[1]
			if name, ok := strings.CutPrefix(e, "inputs."); ok {
				if in, ok := inputs[name]; ok {
					return in
				}
				decl, ok := a.Inputs[name]
				if !ok {
					t.Fatalf("step %s: input %s is not declared", step, name)
				}
				return decl.Default
			}
			if v, ok := exprs[e]; ok {
				return v
			}
			t.Fatalf("step %s: no value for the expression %s", step, e)
			return ""
		})
		env = append(env, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", s.Run)
	cmd.Env = env
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("step %s: %v", step, err)
	}
	outputs := map[string]string{}
	if data, err := os.ReadFile(outFile); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			outputs[k] = v
		}
	}
	summary, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	outputs["(summary)"] = string(summary)
	return code, string(b), outputs
}

// TestActionRunsConform runs the Action's own steps with bash, as the
// runner does: it installs conform from this checkout, runs both suites
// (a few cases each) against relaysim and examples/echogateway, writes the
// three reports and the job summary, and turns conform's exit code into
// the job's verdict.
func TestActionRunsConform(t *testing.T) {
	needSlow(t)
	bins := staticBinaries(t)
	a, _ := readAction(t)
	runnerTemp := t.TempDir()
	exprs := map[string]string{"github.action_path": root(t)}

	code, out, _ := actionRun(t, a, "Install conform", nil, exprs, "RUNNER_TEMP="+runnerTemp)
	if code != 0 || !strings.Contains(out, "conform ") {
		t.Fatalf("Install conform: exit %d\n%s", code, out)
	}
	path := "PATH=" + filepath.Join(runnerTemp, "relaykit-bin") + string(os.PathListSeparator) + os.Getenv("PATH")

	env := startRelaysim(t, filepath.Join(bins, "relaysim"), "--addr", "127.0.0.1:0", "--manual-clock", "--identity-token", "conform")
	reports := t.TempDir()
	for _, tc := range []struct {
		suite  string
		inputs map[string]string
	}{
		{"connector", map[string]string{"suite": "connector", "url": env["GATEWAY_RELAY_URL"], "identity-token": "conform",
			"args": "--focus TRN-001,HS-003 -q", "reports-dir": filepath.Join(reports, "connector"), "implementation": "relaysim"}},
		{"gateway", map[string]string{"suite": "gateway", "exec": filepath.Join(bins, "echogateway"), "echo": "true", "timers": "true",
			"features": "all", "args": "--focus TRN-004 -q", "reports-dir": filepath.Join(reports, "gateway")}},
	} {
		code, out, outputs := actionRun(t, a, "conform", tc.inputs, exprs, path)
		if code != 0 || outputs["exit-code"] != "0" {
			t.Errorf("%s: step exit %d, exit-code %q\n%s", tc.suite, code, outputs["exit-code"], out)
			continue
		}
		for _, f := range []string{"conformance.md", "conformance.xml", "conformance.json"} {
			if fi, err := os.Stat(filepath.Join(tc.inputs["reports-dir"], f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: report %s: %v", tc.suite, f, err)
			}
		}
		if !strings.Contains(outputs["(summary)"], "conformance") {
			t.Errorf("%s: the job summary lacks the report:\n%s", tc.suite, outputs["(summary)"])
		}
	}

	// Usage errors become exit code 2 for the Verdict, after the upload.
	for _, inputs := range []map[string]string{{"suite": "connectors"}, {"suite": "connector"}, {"suite": "gateway"}} {
		inputs["reports-dir"] = t.TempDir()
		code, out, outputs := actionRun(t, a, "conform", inputs, exprs, path)
		if code != 0 || outputs["exit-code"] != "2" || !strings.Contains(out, "::error::") {
			t.Errorf("%v: step exit %d, exit-code %q\n%s", inputs, code, outputs["exit-code"], out)
		}
	}
	for in, want := range map[string]int{"0": 0, "1": 1, "2": 2, "3": 3, "": 1} {
		code, out, _ := actionRun(t, a, "Verdict", nil, map[string]string{"steps.conform.outputs.exit-code": in})
		if code != want {
			t.Errorf("Verdict with exit-code %q: exit %d, want %d\n%s", in, code, want, out)
		}
	}
}
