package packaging

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goreleaserConfig is the part of GoReleaser v2's schema that
// .goreleaser.yaml uses; decoding is strict, so a misspelt key fails.
type goreleaserConfig struct {
	Version     int    `yaml:"version"`
	ProjectName string `yaml:"project_name"`
	Before      struct {
		Hooks []string `yaml:"hooks"`
	} `yaml:"before"`
	Builds []struct {
		ID      string   `yaml:"id"`
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Flags   []string `yaml:"flags"`
		Ldflags []string `yaml:"ldflags"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
	} `yaml:"builds"`
	Archives []struct {
		ID              string   `yaml:"id"`
		IDs             []string `yaml:"ids"`
		Formats         []string `yaml:"formats"`
		FormatOverrides []struct {
			Goos    string   `yaml:"goos"`
			Formats []string `yaml:"formats"`
		} `yaml:"format_overrides"`
		NameTemplate string   `yaml:"name_template"`
		Files        []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
	} `yaml:"checksum"`
	Snapshot struct {
		VersionTemplate string `yaml:"version_template"`
	} `yaml:"snapshot"`
	Changelog struct {
		Sort string `yaml:"sort"`
	} `yaml:"changelog"`
}

func readGoreleaser(t *testing.T) goreleaserConfig {
	t.Helper()
	var c goreleaserConfig
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, ".goreleaser.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return c
}

func TestGoreleaserConfig(t *testing.T) {
	c := readGoreleaser(t)
	if c.Version != 2 {
		t.Errorf("version: %d; GoReleaser v2 reads only version: 2", c.Version)
	}
	ids := map[string]bool{}
	binaries := map[string]bool{}
	for _, b := range c.Builds {
		what := ".goreleaser.yaml build " + b.ID
		ids[b.ID] = true
		binaries[b.Binary] = true
		checkMainPackage(t, what, b.Main)
		if filepath.Base(b.Main) != b.Binary {
			t.Errorf("%s: binary %q is not named after its main %s", what, b.Binary, b.Main)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Errorf("%s: env lacks CGO_ENABLED=0: the binaries would not be static", what)
		}
		for _, os := range []string{"linux", "darwin", "windows"} {
			if !slices.Contains(b.Goos, os) {
				t.Errorf("%s: goos lacks %s", what, os)
			}
		}
		for _, arch := range []string{"amd64", "arm64"} {
			if !slices.Contains(b.Goarch, arch) {
				t.Errorf("%s: goarch lacks %s", what, arch)
			}
		}
		targets := checkLinkerTargets(t, what, strings.Join(b.Ldflags, " "))
		for _, v := range []string{"version", "revision", "buildTime"} {
			if !slices.Contains(targets, module+"/internal/buildinfo."+v) {
				t.Errorf("%s: ldflags do not set buildinfo.%s", what, v)
			}
		}
	}
	for _, bin := range []string{"relaysim", "conform"} {
		if !binaries[bin] {
			t.Errorf(".goreleaser.yaml builds no %s", bin)
		}
	}
	for _, a := range c.Archives {
		for _, id := range a.IDs {
			if !ids[id] {
				t.Errorf(".goreleaser.yaml archive %s: ids names %q, which is no build", a.ID, id)
			}
		}
		for _, f := range a.Files {
			if _, err := os.Stat(filepath.Join(root(t), f)); err != nil {
				t.Errorf(".goreleaser.yaml archive %s: file %s: %v", a.ID, f, err)
			}
		}
	}
}

// renderLdflags fills the GoReleaser template fields the ldflags use with
// the values of a release v1.2.3-test.
func renderLdflags(t *testing.T, ldflags []string) string {
	t.Helper()
	s := strings.Join(ldflags, " ")
	for field, v := range map[string]string{".Version": "1.2.3-test", ".FullCommit": "fedcba9876543210fedcba9876543210fedcba98", ".Date": "2026-03-04T05:06:07Z"} {
		s = strings.ReplaceAll(s, "{{ "+field+" }}", v)
		s = strings.ReplaceAll(s, "{{"+field+"}}", v)
	}
	if strings.Contains(s, "{{") {
		t.Fatalf("ldflags use a template field this test does not fill: %s", s)
	}
	return s
}

// TestGoreleaserTargetsBuild builds every GoReleaser build, with its env,
// flags and ldflags, for this machine and for another target of its
// matrix, with GOOS/GOARCH go build as GoReleaser does. The native
// binaries run and report the release's version; the others are checked
// to be executables of their OS and architecture.
func TestGoreleaserTargetsBuild(t *testing.T) {
	needSlow(t)
	c := readGoreleaser(t)
	// This machine's target and windows/amd64, the one furthest from it
	// (another OS, another executable format, no signals): two of the
	// matrix, at about a minute of CPU each when the build cache is cold.
	// darwin/arm64 builds too (checked by hand), but a third target would
	// add as much again to every CI run.
	targets := [][2]string{{runtime.GOOS, runtime.GOARCH}}
	if runtime.GOOS != "windows" {
		targets = append(targets, [2]string{"windows", "amd64"})
	} else {
		targets = append(targets, [2]string{"linux", "arm64"})
	}
	for _, target := range targets {
		goos, goarch := target[0], target[1]
		for _, b := range c.Builds {
			if !slices.Contains(b.Goos, goos) || !slices.Contains(b.Goarch, goarch) {
				t.Fatalf("build %s does not target %s/%s", b.ID, goos, goarch)
			}
		}
		// One go build per target for all builds when they share their
		// flags, as they do: half the link steps of one per build.
		out := filepath.Join(scratch, "goreleaser", goos+"_"+goarch) + string(filepath.Separator)
		b0 := c.Builds[0]
		args := append([]string{"build"}, b0.Flags...)
		args = append(args, "-ldflags", renderLdflags(t, b0.Ldflags), "-o", out)
		for _, b := range c.Builds {
			if !slices.Equal(b.Flags, b0.Flags) || !slices.Equal(b.Ldflags, b0.Ldflags) || !slices.Equal(b.Env, b0.Env) {
				t.Fatalf("build %s has other flags than %s; build it on its own", b.ID, b0.ID)
			}
			args = append(args, b.Main)
		}
		goCmd(t, append(slices.Clone(b0.Env), "GOOS="+goos, "GOARCH="+goarch), args...)
		for _, b := range c.Builds {
			bin := filepath.Join(out, b.Binary)
			if goos == "windows" {
				bin += ".exe"
			}
			switch {
			case goos == runtime.GOOS && goarch == runtime.GOARCH:
				v, err := exec.Command(bin, "--version").CombinedOutput()
				if err != nil || !bytes.HasPrefix(v, []byte(b.Binary+" v1.2.3-test\n")) || !bytes.Contains(v, []byte("fedcba9876543210fedcba9876543210fedcba98")) {
					t.Errorf("%s --version: %v\n%s", b.Binary, err, v)
				}
			case goos == "windows":
				f, err := pe.Open(bin)
				if err != nil || f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
					t.Errorf("%s: not a windows/amd64 executable: %v", bin, err)
				}
				if f != nil {
					f.Close()
				}
			case goos == "linux":
				f, err := elf.Open(bin)
				if err != nil || f.Machine != elf.EM_AARCH64 {
					t.Errorf("%s: not a linux/arm64 executable: %v", bin, err)
				}
				if f != nil {
					f.Close()
				}
			}
		}
	}
}
