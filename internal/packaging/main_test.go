package packaging

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const module = "github.com/relaykit/relaykit"

var slow = flag.Bool("packaging.slow", false, "also build the release targets, run the built binaries, the Action's script and the README's flows (slow: builds every binary; CI sets it)")

// scratch holds what the slow tests build, shared between them.
var scratch string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "relaykit-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func needSlow(t *testing.T) {
	t.Helper()
	if !*slow {
		t.Skip("builds binaries: run with -packaging.slow (CI does)")
	}
}

// root is the repository root.
func root(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at the repository root %s: %v", dir, err)
	}
	return dir
}

func readFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goDirective is the go line of go.mod, such as 1.26.
func goDirective(t testing.TB) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return m[1]
}

// checkMainPackage fails unless rel (./cmd/x) is a main package of the
// module.
func checkMainPackage(t testing.TB, what, rel string) {
	t.Helper()
	if !strings.HasPrefix(rel, "./") {
		t.Errorf("%s: package %q: want a ./relative path inside the module", what, rel)
		return
	}
	if name := packageName(t, filepath.Join(root(t), rel)); name != "main" {
		t.Errorf("%s: %s is package %q, not a main package", what, rel, name)
	}
}

func packageName(t testing.TB, dir string) string {
	t.Helper()
	files, err := parseGoFiles(dir, parser.PackageClauseOnly)
	if err != nil {
		return fmt.Sprintf("unreadable: %v", err)
	}
	for _, f := range files {
		return f.Name.Name
	}
	return "none"
}

// parseGoFiles parses the non-test Go files of dir.
func parseGoFiles(dir string, mode parser.Mode) ([]*ast.File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, mode)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// checkLinkerTargets fails unless every -X path.name=value in ldflags
// names a package-level string variable of a package of this module: a
// misspelt target is silently ignored by the linker.
func checkLinkerTargets(t testing.TB, what, ldflags string) []string {
	t.Helper()
	var targets []string
	for _, m := range regexp.MustCompile(`-X[= ]+(\S+?)=`).FindAllStringSubmatch(ldflags, -1) {
		target := m[1]
		targets = append(targets, target)
		dot := strings.LastIndex(target, ".")
		if dot < 0 || !strings.HasPrefix(target, module+"/") {
			t.Errorf("%s: -X %s: want %s/<package>.<variable>", what, target, module)
			continue
		}
		pkg, name := target[:dot], target[dot+1:]
		if !stringVars(t, filepath.Join(root(t), strings.TrimPrefix(pkg, module+"/")))[name] {
			t.Errorf("%s: -X %s: package %s has no package-level string variable %s", what, target, pkg, name)
		}
	}
	if len(targets) == 0 {
		t.Errorf("%s: no -X linker flags: --version would not name the release", what)
	}
	return targets
}

func stringVars(t testing.TB, dir string) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	files, err := parseGoFiles(dir, 0)
	if err != nil {
		t.Errorf("parse %s: %v", dir, err)
		return vars
	}
	{
		for _, f := range files {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" && len(vs.Values) == 0 {
						for _, n := range vs.Names {
							vars[n.Name] = true
						}
					}
				}
			}
		}
	}
	return vars
}

// flagNames returns the flags the Go files of dir define with the flag
// package (fs.String("name", ...), fs.StringVar(&v, "name", ...), ...).
func flagNames(t testing.TB, rel string) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`\bfs\.(?:String|Bool|Int|Int64|Uint|Duration|Float64|Func|Var)(?:Var)?\((?:&[^,]+,\s*)?"([a-z0-9-]+)"`)
	names := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(root(t), rel, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatalf("found no flags in %s", rel)
	}
	return names
}

// runGo runs the go command in the repository root dir with extra
// environment.
func runGo(dir string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("go %s (%s): %v\n%s", strings.Join(args, " "), strings.Join(env, " "), err, out.String())
	}
	return out.String(), nil
}

// goCmd is runGo that fails the test on error and logs the time taken.
func goCmd(t testing.TB, env []string, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := runGo(root(t), env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go %s %s: %s", strings.Join(env, " "), strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return out
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// staticBinaries builds relaysim, conform and examples/echogateway the way
// the Dockerfile does (CGO_ENABLED=0, -trimpath), once for all the slow
// tests, and returns their directory.
func staticBinaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir = filepath.Join(scratch, "bin")
		start := time.Now()
		_, binErr = runGo(root(t), []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", binDir+string(filepath.Separator),
			"./cmd/relaysim", "./cmd/conform", "./examples/echogateway")
		t.Logf("static build of relaysim, conform, echogateway: %s", time.Since(start).Round(100*time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func asExit(err error, target **exec.ExitError) bool {
	return errors.As(err, target)
}
