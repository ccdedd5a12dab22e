package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func stamped(version string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/relaykit/relaykit", Version: version}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestFromBuildInfo(t *testing.T) {
	const rev = "45540ae170fc0558315215007f0ae6902242040b"
	for _, tc := range []struct {
		name             string
		bi               *debug.BuildInfo
		ldVer, ldRev, ld string
		want             []string // lines the output must contain
		not              []string
	}{{
		name: "go install module@tag",
		bi:   stamped("v1.2.3", "GOOS", "darwin", "GOARCH", "arm64"),
		want: []string{"relaysim v1.2.3\n", "module    github.com/relaykit/relaykit\n", "revision  unknown", "go        go1.26.0 darwin/arm64\n"},
		not:  []string{"dirty", "built     ", "committed"},
	}, {
		name: "go build in a clean checkout",
		bi:   stamped("v0.0.0-20260101120000-45540ae170fc", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-01-01T12:00:00Z", "vcs.modified", "false"),
		want: []string{"relaysim v0.0.0-20260101120000-45540ae170fc\n", "revision  " + rev + "\n", "committed 2026-01-01T12:00:00Z\n"},
		not:  []string{"dirty"},
	}, {
		name: "go build with uncommitted changes",
		bi:   stamped("v0.0.0-20260101120000-45540ae170fc+dirty", "vcs.revision", rev, "vcs.modified", "true"),
		want: []string{"+dirty\n", "revision  " + rev + " (dirty: built with uncommitted changes)\n"},
	}, {
		name: "go run or go build -buildvcs=false",
		bi:   stamped("(devel)"),
		want: []string{"relaysim (devel)\n", "revision  unknown (not recorded: built from a module download, outside a git checkout, or with -buildvcs=false)\n"},
	}, {
		name: "no build information at all",
		bi:   nil,
		want: []string{"relaysim (devel)\n", "module    github.com/relaykit/relaykit\n"},
	}, {
		name:  "release build: the linker's values win",
		bi:    stamped("(devel)", "vcs.revision", "ffffffffffffffffffffffffffffffffffffffff"),
		ldVer: "v2.0.0", ldRev: rev, ld: "2026-02-03T04:05:06Z",
		want: []string{"relaysim v2.0.0\n", "revision  " + rev + "\n", "built     2026-02-03T04:05:06Z\n"},
		not:  []string{"ffff"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out := from(tc.bi, tc.ldVer, tc.ldRev, tc.ld).String("relaysim")
			if !strings.HasPrefix(out, "relaysim ") {
				t.Errorf("first line %q does not start with the program", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}

// TestReadInATestBinary checks Read on a real binary's record: a test
// binary has a module path and no version.
func TestReadInATestBinary(t *testing.T) {
	in := Read()
	if in.Module != "github.com/relaykit/relaykit" || in.Version == "" || in.GoVersion == "" || !strings.Contains(in.Platform, "/") {
		t.Fatalf("%+v", in)
	}
}
