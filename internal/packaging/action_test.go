package packaging

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// actionFile is the schema of a composite action's metadata (action.yml);
// decoding is strict, so a misspelt key fails.
type actionFile struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Author      string `yaml:"author"`
	Branding    struct {
		Icon  string `yaml:"icon"`
		Color string `yaml:"color"`
	} `yaml:"branding"`
	Inputs map[string]struct {
		Description string `yaml:"description"`
		Required    bool   `yaml:"required"`
		Default     string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	With  map[string]string `yaml:"with"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	Run   string            `yaml:"run"`
}

func readAction(t *testing.T) (actionFile, string) {
	t.Helper()
	text := readFile(t, "action.yml")
	var a actionFile
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a, text
}

// The variables the runner gives a run step beside its env.
var runnerVars = []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_PATH", "GITHUB_ENV", "RUNNER_TEMP", "PATH", "HOME"}

func TestActionFile(t *testing.T) {
	a, text := readAction(t)
	if a.Name == "" || a.Description == "" {
		t.Error("action.yml needs a name and a description (the Marketplace requires them)")
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using %q: want composite", a.Runs.Using)
	}

	// Every input is used, and every input used is declared.
	_, after, _ := strings.Cut(text, "\noutputs:")
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\binputs\.([A-Za-z0-9_-]+)`).FindAllStringSubmatch(after, -1) {
		used[m[1]] = true
	}
	for name := range a.Inputs {
		if !used[name] {
			t.Errorf("input %s is declared but never used", name)
		}
	}
	for name := range used {
		if _, ok := a.Inputs[name]; !ok {
			t.Errorf("inputs.%s is used but not declared", name)
		}
	}
	if in, ok := a.Inputs["suite"]; !ok || !in.Required {
		t.Error("input suite must be declared and required")
	}

	ids := map[string]bool{}
	uploads := 0
	conformFlags := flagNames(t, "cmd/conform")
	for i, s := range a.Runs.Steps {
		what := "step " + s.Name + s.ID + s.Uses
		if (s.Run == "") == (s.Uses == "") {
			t.Errorf("%s (#%d): needs exactly one of run and uses", what, i+1)
		}
		if s.ID != "" {
			ids[s.ID] = true
		}
		if s.Uses != "" {
			if !regexp.MustCompile(`^[\w.-]+/[\w.-]+@v\d+$`).MatchString(s.Uses) {
				t.Errorf("%s: uses %q: want owner/name@vN, a maintained major version", what, s.Uses)
			}
			if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
				uploads++
				if s.If != "always()" {
					t.Errorf("%s: if %q: the reports must be uploaded when the suite fails too (if: always())", what, s.If)
				}
				if !strings.Contains(s.With["path"], "inputs.reports-dir") {
					t.Errorf("%s: path %q does not upload the reports directory", what, s.With["path"])
				}
			}
			continue
		}
		if s.Shell != "bash" {
			t.Errorf("%s: shell %q: a composite run step must name its shell; the scripts are bash", what, s.Shell)
		}
		// An expression pasted into a script is a shell injection: inputs
		// reach scripts through env only.
		if strings.Contains(s.Run, "${{") {
			t.Errorf("%s: the script contains an expression; pass it through env", what)
		}
		// Every variable the script reads is set.
		for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(s.Run, -1) {
			if _, ok := s.Env[m[1]]; !ok && !slices.Contains(runnerVars, m[1]) {
				t.Errorf("%s: the script reads $%s, which neither its env nor the runner sets", what, m[1])
			}
		}
		// Every conform flag the script passes exists.
		for _, m := range regexp.MustCompile(`(?:^|[\s(])--([a-z][a-z-]*)`).FindAllStringSubmatch(s.Run, -1) {
			if !conformFlags[m[1]] {
				t.Errorf("%s: the script passes --%s, which conform does not define", what, m[1])
			}
		}
	}
	if uploads != 1 {
		t.Errorf("%d actions/upload-artifact steps; want one, for the reports", uploads)
	}
	for name, o := range a.Outputs {
		for _, m := range regexp.MustCompile(`steps\.([\w-]+)\.`).FindAllStringSubmatch(o.Value, -1) {
			if !ids[m[1]] {
				t.Errorf("output %s reads steps.%s, which is no step id", name, m[1])
			}
		}
	}
	for _, flagName := range []string{"report", "junit", "json"} {
		if !strings.Contains(text, "--"+flagName+" ") {
			t.Errorf("the action does not write the --%s report", flagName)
		}
	}
}
