package main

import (
	"flag"
	"strings"
)

// wantsVersion reports whether args ask for the version: "version" as the
// first argument, or --version (-version) among the flags, read the way fs
// would read them so that a flag's value ("--gateway-id --version") is
// not taken for it. --version is not a flag of fs, so that it has no
// environment twin: RELAYSIM_VERSION in a container's environment must
// not turn a server into a version printer.
func wantsVersion(fs *flag.FlagSet, args []string) bool {
	if len(args) > 0 && args[0] == "version" {
		return true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return false // the flags end here
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, hasValue := strings.Cut(name, "=")
		if name == "version" {
			return true
		}
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) {
			i++ // the next argument is this flag's value
		}
	}
	return false
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
