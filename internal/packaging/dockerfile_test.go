package packaging

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

type stage struct {
	base, name string
	instrs     []instruction
}

// parseDockerfile splits a Dockerfile into global ARGs and stages, the way
// BuildKit reads it: comments and blank lines are dropped (also inside a
// continuation), a trailing backslash continues the line.
func parseDockerfile(t *testing.T, text string) (globals map[string]string, stages []*stage) {
	t.Helper()
	globals = map[string]string{}
	var cur strings.Builder
	startLine := 0
	var instrs []instruction
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			startLine = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		instrs = append(instrs, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: startLine})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continuation line")
	}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := &stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			globals[k] = v
		case len(stages) == 0:
			t.Fatalf("Dockerfile line %d: %s before the first FROM", in.line, in.cmd)
		default:
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	return globals, stages
}

// keyValues parses ENV or ARG arguments: KEY=VALUE pairs, quotes removed.
func keyValues(args string) map[string]string {
	kv := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)=("[^"]*"|\S*)`).FindAllStringSubmatch(args, -1) {
		kv[m[1]] = strings.Trim(m[2], `"`)
	}
	return kv
}

func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

// dockerImage is what TestDockerfile learned, for the slow test.
type dockerImage struct {
	buildRun   string            // the RUN line with go build
	buildEnv   map[string]string // ENV and ARG defaults of the build stage
	outDir     string            // go build -o
	binaries   map[string]string // name -> path in the final image
	entrypoint []string
	env        map[string]string // ENV of the final stage
}

func readDockerfile(t *testing.T) dockerImage {
	t.Helper()
	globals, stages := parseDockerfile(t, readFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a small final one", len(stages))
	}
	img := dockerImage{buildEnv: map[string]string{}, binaries: map[string]string{}, env: map[string]string{}}

	// The build stage: the Go of go.mod, CGO off, both commands built.
	build := stages[0]
	if want := "golang:" + goDirective(t); expand(build.base, globals) != want {
		t.Errorf("build stage FROM %s (= %s); want %s, the go directive of go.mod", build.base, expand(build.base, globals), want)
	}
	for _, in := range build.instrs {
		switch in.cmd {
		case "ENV", "ARG":
			for k, v := range keyValues(in.args) {
				img.buildEnv[k] = v
			}
			if in.cmd == "ARG" && !strings.Contains(in.args, "=") {
				img.buildEnv[in.args] = ""
			}
		case "COPY":
			for _, src := range strings.Fields(in.args)[:len(strings.Fields(in.args))-1] {
				if strings.HasPrefix(src, "--") || src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(root(t), src)); err != nil {
					t.Errorf("Dockerfile line %d: COPY %s: %v", in.line, src, err)
				}
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				img.buildRun = in.args
			}
		}
	}
	if img.buildRun == "" {
		t.Fatal("the build stage has no RUN go build")
	}
	if img.buildEnv["CGO_ENABLED"] != "0" && !strings.Contains(img.buildRun, "CGO_ENABLED=0") {
		t.Error("the build stage does not set CGO_ENABLED=0: the binaries would not be static, and distroless/static has no libc")
	}
	m := regexp.MustCompile(`-o (\S+)/ `).FindStringSubmatch(img.buildRun)
	if m == nil {
		t.Fatalf("go build has no -o DIR/: %s", img.buildRun)
	}
	img.outDir = m[1]
	built := map[string]bool{}
	for _, pkg := range regexp.MustCompile(`\s(\./\S+)`).FindAllStringSubmatch(img.buildRun, -1) {
		checkMainPackage(t, "Dockerfile go build", pkg[1])
		built[path.Join(img.outDir, path.Base(pkg[1]))] = true
	}
	checkLinkerTargets(t, "Dockerfile go build", img.buildRun)

	// The final stage: small, not root, both binaries, relaysim first.
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.base, "gcr.io/distroless/static") && final.base != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch, a small image with no shell", final.base)
	}
	names := map[string]bool{}
	for _, st := range stages[:len(stages)-1] {
		names[st.name] = true
	}
	var expose, user string
	for _, in := range final.instrs {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			var from string
			var srcs []string
			for _, a := range f[:len(f)-1] {
				switch {
				case strings.HasPrefix(a, "--from="):
					from = strings.TrimPrefix(a, "--from=")
				case strings.HasPrefix(a, "--"):
				default:
					srcs = append(srcs, a)
				}
			}
			if !names[from] {
				t.Errorf("Dockerfile line %d: COPY --from=%q names no earlier stage", in.line, from)
			}
			dest := f[len(f)-1]
			for _, src := range srcs {
				if built[src] {
					img.binaries[path.Base(src)] = path.Join(dest, path.Base(src))
				}
			}
		case "ENV":
			for k, v := range keyValues(in.args) {
				img.env[k] = v
			}
		case "EXPOSE":
			expose = in.args
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &img.entrypoint); err != nil || len(img.entrypoint) == 0 {
				t.Errorf("ENTRYPOINT %s: want the exec form, a JSON array (there is no shell in the image)", in.args)
			}
		}
	}
	for _, bin := range []string{"relaysim", "conform"} {
		if img.binaries[bin] == "" {
			t.Errorf("the final image has no %s built by the build stage", bin)
		}
	}
	if len(img.entrypoint) > 0 && img.entrypoint[0] != img.binaries["relaysim"] {
		t.Errorf("ENTRYPOINT %v: want relaysim, at %s", img.entrypoint, img.binaries["relaysim"])
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("USER %q: the image must not run as root", user)
	}

	// relaysim's settings in the image are real env twins, and safe.
	relaysimFlags := flagNames(t, "cmd/relaysim")
	for k := range img.env {
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "RELAYSIM_")), "_", "-")
		if strings.HasPrefix(k, "RELAYSIM_") && !relaysimFlags[name] {
			t.Errorf("ENV %s: relaysim has no flag --%s, so it would ignore it", k, name)
		}
	}
	host, port, err := net.SplitHostPort(img.env["RELAYSIM_ADDR"])
	if err != nil {
		t.Fatalf("ENV RELAYSIM_ADDR=%q: want HOST:PORT so that the published port reaches relaysim (the default is loopback only): %v", img.env["RELAYSIM_ADDR"], err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		t.Errorf("ENV RELAYSIM_ADDR=%s: loopback inside a container is unreachable through -p", img.env["RELAYSIM_ADDR"])
	}
	if expose != port && expose != port+"/tcp" {
		t.Errorf("EXPOSE %q, but relaysim listens on port %s", expose, port)
	}
	if img.env["RELAYSIM_REQUIRE_CONTROL_TOKEN"] != "true" {
		t.Errorf("relaysim listens on %s in the image without RELAYSIM_REQUIRE_CONTROL_TOKEN=true: a published port would expose an open control API", img.env["RELAYSIM_ADDR"])
	}
	return img
}

func TestDockerfile(t *testing.T) {
	img := readDockerfile(t)
	t.Logf("image: entrypoint %v, binaries %v, env %v", img.entrypoint, img.binaries, img.env)
}

// TestDockerignoreKeepsTheBuildInputs checks that every file the image's
// go build reads (go.mod, go.sum, the Go files and embedded files of every
// package of this module the two commands import) reaches the build
// context, and that .git does not.
func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	patterns := parseDockerignore(readFile(t, ".dockerignore"))
	out := goCmd(t, nil, "list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "`+module+`"}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`,
		"./cmd/relaysim", "./cmd/conform")
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(root(t), f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			files = append(files, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(files) < 20 {
		t.Fatalf("go list found only %d files: %v", len(files), files)
	}
	for _, f := range files {
		if excluded(patterns, f) {
			t.Errorf(".dockerignore excludes %s, which the image's go build needs", f)
		}
	}
	for _, f := range []string{".git/config", ".git", "docs/relaysim.md"} {
		if !excluded(patterns, f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

type ignorePattern struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore reads .dockerignore the way Docker does: one pattern a
// line, # comments, ! re-includes, ** any number of directories, and a
// pattern that matches a directory excludes everything below it.
func parseDockerignore(text string) []ignorePattern {
	var ps []ignorePattern
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, line[1:]
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("(/.*)?$") // a directory takes its contents along
		p.re = regexp.MustCompile(re.String())
		ps = append(ps, p)
	}
	return ps
}

func excluded(ps []ignorePattern, file string) bool {
	ex := false
	for _, p := range ps {
		if p.re.MatchString(file) {
			ex = !p.negate
		}
	}
	return ex
}

// TestDockerImageBinaries runs the Dockerfile's own go build line (its
// ARGs given, /out replaced by a temporary directory) and then the
// binaries as the image would: --version names the build arguments, and
// relaysim with the image's environment and no control token refuses to
// start instead of serving an open control API.
func TestDockerImageBinaries(t *testing.T) {
	needSlow(t)
	img := readDockerfile(t)
	out := filepath.Join(scratch, "docker-out")
	script := strings.ReplaceAll(img.buildRun, img.outDir+"/", out+"/")
	script = strings.ReplaceAll(script, img.outDir+" ", out+" ")
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = root(t)
	cmd.Env = os.Environ()
	args := map[string]string{"VERSION": "v0.9.9-docker", "REVISION": "0123456789abcdef0123456789abcdef01234567", "BUILD_TIME": "2026-01-02T03:04:05Z"}
	for k, v := range img.buildEnv {
		if a, ok := args[k]; ok {
			v = a
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's go build: %v\n%s\n%s", err, script, b)
	}
	for _, bin := range []string{"relaysim", "conform"} {
		b, err := exec.Command(filepath.Join(out, bin), "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(b), bin+" v0.9.9-docker\n") || !strings.Contains(string(b), args["REVISION"]) || !strings.Contains(string(b), "built     "+args["BUILD_TIME"]) {
			t.Errorf("%s --version: %v\n%s", bin, err, b)
		}
	}
	// The entrypoint with the image's environment, as docker run would
	// start it with no -e: refused before it listens.
	cmd = exec.Command(filepath.Join(out, "relaysim"), img.entrypoint[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range img.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), "RELAYSIM_CONTROL_TOKEN") {
		t.Errorf("relaysim with the image's environment and no control token: %v\n%s\nwant exit 2 asking for RELAYSIM_CONTROL_TOKEN", err, b)
	}
}
