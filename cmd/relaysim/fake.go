package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// fakeFlags make relaysim a configurable fake: descriptor files served as
// platforms, and a seed file loaded at start.
type fakeFlags struct {
	descriptorFiles listFlag
	seedFile        string

	// Set by check.
	descriptors []contract.CapabilityDescriptor
	seed        *simulator.Seed
}

func addFakeFlags(fs *flag.FlagSet, f *fakeFlags) {
	fs.Var(&f.descriptorFiles, "descriptor", "a capability descriptor `FILE` (JSON) to serve as a platform, such as one of 50 utf16 units to test splitting; its platform joins the served ones, and replaces the preset of the same name; repeatable, or comma-separated in the env twin")
	fs.StringVar(&f.seedFile, "seed", "", "a seed `FILE` (JSON, or YAML when it ends in .yaml or .yml) of gateways, policies, scripts and faults loaded at start and again on reset; each item is the body of its control route")
}

// check reads and checks every file the flags name, so a mistake is a
// usage error naming the file and the field. platforms is --platforms as
// given.
func (f *fakeFlags) check(platforms string) error {
	f.descriptors = nil
	from := map[string]string{}
	var listed listFlag
	listed.Set(platforms)
	for _, path := range f.descriptorFiles {
		d, err := simulator.LoadDescriptorFile(path)
		if err != nil {
			return flagFileError("--descriptor", err)
		}
		if prev, ok := from[d.Platform]; ok {
			return fmt.Errorf("--descriptor %s: platform %q is already described by %s", path, d.Platform, prev)
		}
		if len(listed) > 0 && !slices.Contains(listed, d.Platform) {
			return fmt.Errorf("--descriptor %s: platform %q is not in --platforms %q; add it there, or drop --platforms to serve every preset and file", path, d.Platform, platforms)
		}
		from[d.Platform] = path
		f.descriptors = append(f.descriptors, d)
	}
	f.seed = nil
	if f.seedFile != "" {
		sd, err := simulator.LoadSeedFile(f.seedFile)
		if err != nil {
			return flagFileError("--seed", err)
		}
		f.seed = sd
	}
	return nil
}

// apply puts what check read into opts.
func (f *fakeFlags) apply(opts *simulator.Options) error {
	if len(f.descriptors) > 0 {
		descs, err := simulator.DefaultDescriptors()
		if err != nil {
			return err
		}
		for _, d := range f.descriptors {
			descs[d.Platform] = d
		}
		opts.Descriptors = descs
	}
	opts.Seed = f.seed
	return nil
}

// flagFileError puts the flag's name before each problem of a file.
func flagFileError(flagName string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, fmt.Errorf("%s %w", flagName, e))
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s %w", flagName, err)
}
