package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// probe is an independent check of one behaviour, written apart from the
// conformance suite: it drives a binary through real sockets and reports a
// violation of the requirement it checks ("" when the binary behaves). A
// mutant's probe must report nothing against the unmutated binary and a
// violation against the mutated one; that confirms the mutant breaks its
// requirement, whatever the suite makes of it.
type probe struct {
	side Side
	// run checks the connector at env.sim (connector probes) or the
	// gateway binary env.bin (gateway probes).
	run func(ctx context.Context, env *probeEnv) (violation string, err error)
}

// probeEnv is what a probe runs against.
type probeEnv struct {
	bin string    // the binary under test
	sim *relaysim // connector probes: bin, started
	log io.Writer
}

// probeIdentityB is a second tenant's identity bearer, for the probes
// that need two tenants.
const (
	probeIdentityB = "probe-b"
	probeTenantB   = "tenant-b"
)

// probeTimeout bounds one probe run.
const probeTimeout = 90 * time.Second

// runProbe starts what the probe needs and runs it once.
func runProbe(ctx context.Context, p probe, bin string, log io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	env := &probeEnv{bin: bin, log: log}
	if p.side == Connector {
		// A drain window above relaysim's default of 1 lets the drain
		// probes ack out of order and see several entries in flight.
		sim, err := startRelaysim(ctx, bin, log, "--identity-token", identityToken,
			"--identity-token", probeIdentityB+"="+probeTenantB, "--drain-window", "4")
		if err != nil {
			return "", err
		}
		defer sim.stop()
		env.sim = sim
	}
	return p.run(ctx, env)
}

// probeOutcome is one line of the probe report.
type probeOutcome struct {
	mutant, probe, baseline, mutated string
	confirmed                        bool
}

// runProbes runs the probe of each selected mutant against the unmutated
// and the mutated binary and reports whether each mutant is confirmed.
func (h *harness) runProbes(ctx context.Context, mutants []Mutant, stdout io.Writer) int {
	baseBins := map[Side]string{}
	baseline := map[string]string{} // probe name -> outcome on the unmutated binary
	var outcomes []probeOutcome
	for _, m := range mutants {
		if m.Probe == "" {
			continue
		}
		p := probes[m.Probe]
		if _, ok := baseBins[m.Side]; !ok {
			dir := filepath.Join(h.work, "unmutated-"+string(m.Side))
			os.MkdirAll(dir, 0o755)
			bin, out, err := h.buildMutant(ctx, Mutant{Side: m.Side}, dir)
			if err != nil {
				fmt.Fprintf(h.log, "mutation: failed to build the unmutated %s: %v\n%s", m.Side.Target(), err, out)
				return 3
			}
			baseBins[m.Side] = bin
		}
		if _, ok := baseline[m.Probe]; !ok {
			v, err := runProbe(ctx, p, baseBins[m.Side], h.log)
			baseline[m.Probe] = describe(v, err, "behaves")
			if v != "" || err != nil {
				baseline[m.Probe] = "BROKEN: " + baseline[m.Probe]
			}
			fmt.Fprintf(h.log, "mutation: probe %s on the unmutated %s: %s\n", m.Probe, m.Side, baseline[m.Probe])
		}
		o := probeOutcome{mutant: m.ID, probe: m.Probe, baseline: baseline[m.Probe]}
		dir := filepath.Join(h.work, m.ID)
		os.MkdirAll(dir, 0o755)
		bin, out, err := h.buildMutant(ctx, m, dir)
		if err != nil {
			o.mutated = "did not compile: " + firstLine(string(out))
		} else {
			v, err := runProbe(ctx, p, bin, h.log)
			o.mutated = describe(v, err, "NOT BROKEN")
			o.confirmed = v != "" && err == nil && !strings.HasPrefix(o.baseline, "BROKEN")
		}
		fmt.Fprintf(h.log, "mutation: probe %s on %s: %s\n", m.Probe, m.ID, o.mutated)
		outcomes = append(outcomes, o)
		if ctx.Err() != nil {
			break
		}
	}
	sort.SliceStable(outcomes, func(i, j int) bool { return outcomes[i].confirmed && !outcomes[j].confirmed })
	bad := 0
	for _, o := range outcomes {
		mark := "confirmed"
		if !o.confirmed {
			mark, bad = "NOT CONFIRMED", bad+1
		}
		fmt.Fprintf(stdout, "%-13s %s (probe %s)\n  unmutated: %s\n  mutated:   %s\n", mark, o.mutant, o.probe, o.baseline, o.mutated)
	}
	fmt.Fprintf(stdout, "%d of %d probed mutants confirmed\n", len(outcomes)-bad, len(outcomes))
	if len(outcomes) == 0 {
		fmt.Fprintln(stdout, "(none of the selected mutants has a probe)")
	}
	if bad > 0 {
		return 1
	}
	return 0
}

func describe(violation string, err error, clean string) string {
	switch {
	case err != nil:
		return "probe error: " + err.Error()
	case violation != "":
		return "violation: " + violation
	}
	return clean
}
