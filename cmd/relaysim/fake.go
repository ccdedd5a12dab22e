package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// fakeFlags make relaysim a configurable fake: descriptor files served as
// platforms, a seed file loaded at start, and frame captures.
type fakeFlags struct {
	descriptorFiles listFlag
	seedFile        string
	capture         simulator.CaptureOptions

	// Set by check.
	descriptors []contract.CapabilityDescriptor
	seed        *simulator.Seed
}

func addFakeFlags(fs *flag.FlagSet, f *fakeFlags) {
	fs.Var(&f.descriptorFiles, "descriptor", "a capability descriptor `FILE` (JSON) to serve as a platform, such as one of 50 utf16 units to test splitting; its platform joins the served ones, and replaces the preset of the same name; repeatable, or comma-separated in the env twin")
	fs.StringVar(&f.capture.Dir, "capture", "", "write each session's frames, both directions, to `DIR` as NDJSON (one file per session, one frame per line), which conform validate reads; POST /_relaysim/captures switches capturing off and on")
	fs.Int64Var(&f.capture.MaxBytes, "capture-max-bytes", simulator.DefaultCaptureMaxBytes, "largest capture file in `bytes`; the frame that would pass it and later ones are left out, whole")
	fs.IntVar(&f.capture.MaxOpen, "capture-max-open", simulator.DefaultCaptureMaxOpen, "capture files (`n`) open at once; a session beyond it is not captured")
	fs.Int64Var(&f.capture.MaxTotalBytes, "capture-max-total", simulator.DefaultCaptureMaxTotalBytes, "`bytes` all captures of the process may write together; past it no frame is captured")
	fs.StringVar(&f.seedFile, "seed", "", "a seed `FILE` (JSON, or YAML when it ends in .yaml or .yml) of gateways, policies, scripts and faults loaded at start and again on reset; each item is the body of its control route")
}

// check reads and checks every file the flags name, so a mistake is a
// usage error naming the file and the field. platforms is --platforms as
// given.
func (f *fakeFlags) check(platforms string) error {
	if d := f.capture.Dir; d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("--capture %s: not an existing directory", d)
		}
	}
	for _, n := range []struct {
		flag string
		v    int64
	}{
		{"capture-max-bytes", f.capture.MaxBytes},
		{"capture-max-open", int64(f.capture.MaxOpen)},
		{"capture-max-total", f.capture.MaxTotalBytes},
	} {
		if n.v < 1 {
			return fmt.Errorf("--%s %d: must be at least 1", n.flag, n.v)
		}
	}
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
	opts.Capture = f.capture
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
