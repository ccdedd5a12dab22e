package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UsageError reports options that cannot start a run (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// HarnessFailure reports a run the suite could not carry out (exit code 3).
type HarnessFailure struct{ Err error }

func (e *HarnessFailure) Error() string { return e.Err.Error() }
func (e *HarnessFailure) Unwrap() error { return e.Err }

// ExitCodeOf maps a run's outcome to the documented exit code.
func ExitCodeOf(res *Result, err error) int {
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case err != nil:
		return ExitHarness
	}
	return res.ExitCode()
}

// FailRecorder is the GinkgoTestingT the runners hand to Ginkgo; the run's
// verdict comes from the Result, not from Ginkgo's pass/fail bit.
type FailRecorder struct{ failed bool }

func (f *FailRecorder) Fail() { f.failed = true }

// RunConnector runs the connector suite in this process and returns its
// result. Ginkgo allows one suite run per process; a second call returns an
// error.
func RunConnector(opts ConnectorOptions) (*Result, error) {
	t, err := newConnectorTarget(opts)
	var ue *unreachableError
	if errors.As(err, &ue) {
		return nil, &HarnessFailure{err}
	}
	if err != nil {
		return nil, &UsageError{err}
	}
	if opts.Features, err = resolveFeatures(opts.Features); err != nil {
		return nil, &UsageError{err}
	}
	t.Opts.Features = opts.Features
	rs := &RunState{Side: Connector, Opts: opts.Options, Conn: t}
	if err := rs.preRun(); err != nil {
		return nil, err
	}
	for name, v := range opts.Features {
		rs.setFeature(name, v, "forced")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var probeErr error
	if err := t.prepare(ctx, rs); err != nil {
		if t.Ctl != nil && t.Info.Platforms == nil || len(t.Probe) == 0 {
			return nil, &HarnessFailure{err}
		}
		probeErr = err
	}
	res, err := Execute(&FailRecorder{}, rs, t.Dial)
	if err != nil {
		return nil, &HarnessFailure{err}
	}
	if probeErr != nil {
		res.Notes = append(res.Notes, "feature probe: "+probeErr.Error())
	}
	return res, nil
}

// preRun checks what can be checked before anything is dialled or
// started: the selection parses and selects at least one case, and the
// baseline belongs to this side.
func (rs *RunState) preRun() error {
	if err := rs.prepareSelection(); err != nil {
		return &UsageError{err}
	}
	if err := rs.checkSelection(); err != nil {
		return &UsageError{err}
	}
	if b := rs.Opts.Baseline; b != nil {
		if err := b.CheckSide(rs.Side); err != nil {
			return &UsageError{err}
		}
	}
	return nil
}

// RunGateway runs the gateway suite in this process and returns its
// result. Ginkgo allows one suite run per process.
func RunGateway(opts GatewayOptions) (*Result, error) {
	t, err := newGatewayTarget(opts)
	if err != nil {
		return nil, &UsageError{err}
	}
	if opts.Features, err = resolveFeatures(opts.Features); err != nil {
		return nil, &UsageError{err}
	}
	t.Opts.Features = opts.Features
	rs := &RunState{Side: Gateway, Opts: opts.Options, gw: t}
	if err := rs.preRun(); err != nil {
		return nil, err
	}
	for name, v := range opts.Features {
		rs.setFeature(name, v, "declared")
	}
	t.prepare(rs)
	target := opts.Exec
	if target == "" {
		target = strings.Join(opts.Command, " ")
	}
	res, err := Execute(&FailRecorder{}, rs, target)
	if err != nil {
		return nil, &HarnessFailure{err}
	}
	return res, nil
}

// RunConnectorSuite runs the connector suite inside a Go test and fails t
// unless the run is conformant (exit code 0: every failure listed in the
// baseline, no stale baseline entry, no harness error). A test binary can
// run one suite; put each suite in its own test package.
//
//	func TestConnectorConformance(t *testing.T) {
//		conformance.RunConnectorSuite(t, conformance.ConnectorOptions{
//			URL: srv.URL, Control: srv.URL + "/_relaysim",
//		})
//	}
func RunConnectorSuite(t TestingT, opts ConnectorOptions) *Result {
	t.Helper()
	res, err := RunConnector(opts)
	report(t, res, err)
	return res
}

// RunGatewaySuite runs the gateway suite inside a Go test against the
// gateway command in opts, and fails t unless the run is conformant.
func RunGatewaySuite(t TestingT, opts GatewayOptions) *Result {
	t.Helper()
	res, err := RunGateway(opts)
	report(t, res, err)
	return res
}

func report(t TestingT, res *Result, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("conformance: %v", err)
		return
	}
	t.Logf("%s", res.Summary())
	if code := res.ExitCode(); code != ExitConformant {
		var lines []string
		for _, c := range res.Cases {
			switch {
			case c.Baseline == "stale":
				lines = append(lines, fmt.Sprintf("  stale baseline entry %s: it passes now", c.ID))
			case c.Verdict == Fail && c.Baseline != "expected", c.Verdict == HarnessError:
				lines = append(lines, fmt.Sprintf("  %s %s: %s", c.Verdict, c.ID, firstLine(c.Message)))
			}
		}
		t.Errorf("conformance: exit code %d (%s)\n%s", code, exitMeaning(code), strings.Join(lines, "\n"))
	}
}

func exitMeaning(code int) string {
	switch code {
	case ExitConformant:
		return "conformant"
	case ExitNonConformant:
		return "non-conformant"
	case ExitUsage:
		return "usage error"
	case ExitHarness:
		return "harness error"
	}
	return "unknown"
}
