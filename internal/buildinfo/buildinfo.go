// Package buildinfo says which build of relaykit a binary is, for the
// --version of relaysim and conform.
//
// It reads the module version and the VCS stamp (revision, commit time,
// uncommitted changes) that the go command records in every binary
// (runtime/debug.ReadBuildInfo). go install module@version records the
// module version; go build in a git checkout records the revision, unless
// -buildvcs=false. Release builds, whose source may have no .git (a
// Docker build context), set the same facts with the linker:
//
//	go build -ldflags "-X github.com/relaykit/relaykit/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/relaykit/relaykit/internal/buildinfo.revision=$(git rev-parse HEAD) \
//	  -X github.com/relaykit/relaykit/internal/buildinfo.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// A value set with the linker wins over the recorded one.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X by release builds (.goreleaser.yaml, Dockerfile);
// empty otherwise.
var (
	version   string
	revision  string
	buildTime string
)

// Info is what a binary knows about its own build.
type Info struct {
	// Module is the main module's path, github.com/relaykit/relaykit.
	Module string
	// Version is the module version: a release tag such as v1.2.3, a
	// pseudo-version (v0.0.0-20260101120000-0123456789ab, with +dirty for
	// uncommitted changes), or "(devel)" when the go command knew none.
	Version string
	// Revision is the VCS revision (a git commit hash), "" when unknown.
	Revision string
	// Modified reports uncommitted changes in the tree the binary was
	// built from.
	Modified bool
	// CommitTime is the revision's commit time (RFC 3339), "" when unknown.
	CommitTime string
	// BuildTime is when a release build was made (RFC 3339); "" for other
	// builds, which the go command keeps reproducible by not recording it.
	BuildTime string
	// GoVersion is the toolchain that built the binary, such as go1.26.0.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi, version, revision, buildTime)
}

// from merges the go command's record (bi, nil when the binary has none)
// with the values set by the linker.
func from(bi *debug.BuildInfo, ldVersion, ldRevision, ldBuildTime string) Info {
	in := Info{Module: "github.com/relaykit/relaykit", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.Main.Path != "" {
			in.Module = bi.Main.Path
		}
		in.Version = bi.Main.Version
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		var goos, goarch string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.CommitTime = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
		if goos != "" && goarch != "" {
			in.Platform = goos + "/" + goarch
		}
	}
	if ldVersion != "" {
		in.Version = ldVersion
	}
	if ldRevision != "" {
		in.Revision = ldRevision
	}
	if ldBuildTime != "" {
		in.BuildTime = ldBuildTime
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	// A pseudo-version says +dirty where the VCS stamp says modified.
	if strings.HasSuffix(in.Version, "+dirty") {
		in.Modified = true
	}
	return in
}

// String formats the information for --version: the program and version
// on the first line (so `relaysim --version | head -1` is enough for a
// script), the details indented below.
func (in Info) String(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", program, in.Version)
	fmt.Fprintf(&b, "  module    %s\n", in.Module)
	switch {
	case in.Revision != "" && in.Modified:
		fmt.Fprintf(&b, "  revision  %s (dirty: built with uncommitted changes)\n", in.Revision)
	case in.Revision != "":
		fmt.Fprintf(&b, "  revision  %s\n", in.Revision)
	default:
		// Say why, so nobody mistakes a missing stamp for a broken build.
		fmt.Fprintf(&b, "  revision  unknown (not recorded: built from a module download, outside a git checkout, or with -buildvcs=false)\n")
	}
	if in.CommitTime != "" {
		fmt.Fprintf(&b, "  committed %s\n", in.CommitTime)
	}
	if in.BuildTime != "" {
		fmt.Fprintf(&b, "  built     %s\n", in.BuildTime)
	}
	fmt.Fprintf(&b, "  go        %s %s\n", in.GoVersion, in.Platform)
	return b.String()
}
