package conformance

// The public face of the suite: aliases of the harness's types and
// wrappers of its functions (conformance/internal/harness), so that users
// and cmd/conform see one package while the harness and the cases
// (conformance/internal/connectorcases, conformance/internal/gatewaycases)
// live apart. Importing this package registers the cases.

import (
	"github.com/relaykit/relaykit/conformance/internal/harness"

	// The cases register themselves with the harness when linked.
	_ "github.com/relaykit/relaykit/conformance/internal/connectorcases"
	_ "github.com/relaykit/relaykit/conformance/internal/gatewaycases"
)

// From baseline.go.

// Baseline is an expected-failures file kept in the implementation's
// repository. A listed case that fails does not fail the run; an unlisted
// failure does; a listed case that now passes makes the run fail as
// "stale", so the file shrinks as the implementation improves.
//
// The file is YAML:
//
//	# conform baseline for acme-connector
//	side: connector            # optional; connector or gateway
//	expected_failures:
//	  - case: AUTH-010/wrong-key
//	    reason: "we answer HTTP 401; fix tracked in #123"
//
// Every entry needs a reason.
type Baseline = harness.Baseline

// ExpectedFailure is one baseline entry.
type ExpectedFailure = harness.ExpectedFailure

// ParseBaseline parses a baseline file and checks every entry names a case
// of the suite and has a reason.
func ParseBaseline(data []byte) (*Baseline, error) {
	return harness.ParseBaseline(data)
}

// ReadBaseline reads and parses a baseline file.
func ReadBaseline(path string) (*Baseline, error) {
	return harness.ReadBaseline(path)
}

// WriteBaseline renders a baseline listing every failed case of r, for
// bootstrapping a baseline file.
func WriteBaseline(r *Result) []byte {
	return harness.WriteBaseline(r)
}

// From case.go.

// Side is the role of the implementation under test: the contract's side,
// one of the two below (never contract.SideBoth).
type Side = harness.Side

const (
	// Connector: the implementation under test is a connector (WebSocket
	// server); the suite plays the gateway.
	Connector = harness.Connector
	// Gateway: the implementation under test is a gateway (WebSocket
	// client); the suite plays the connector.
	Gateway = harness.Gateway
)

// Need is a capability of the testee or the environment that a case depends
// on. A case whose needs are not met is reported as untestable, never as
// passed.
type Need = harness.Need

const (
	// NeedControl: the connector exposes the testee control API (enroll,
	// inject, outbound log); see docs/conformance-guide.md.
	NeedControl Need = harness.NeedControl
	// NeedClock: the connector's control API can move its clock.
	NeedClock Need = harness.NeedClock
	// NeedWake: the connector supports wake URLs and the suite can register
	// one through the control API.
	NeedWake Need = harness.NeedWake
	// NeedEcho: the gateway under test declares the echo profile.
	NeedEcho Need = harness.NeedEcho
	// NeedTimers: the gateway under test honours the timer knobs of the
	// gateway testee contract (RELAYKIT_* env).
	NeedTimers Need = harness.NeedTimers
	// NeedTwoPlatforms: the connector fronts at least two platforms for
	// the gateway under test.
	NeedTwoPlatforms Need = harness.NeedTwoPlatforms
	// NeedSignal: the gateway process can be sent SIGTERM (not on Windows).
	NeedSignal Need = harness.NeedSignal
)

// Case is one conformance check: one Ginkgo spec labelled with the
// requirements it proves.
type Case = harness.Case

// Cases returns the cases of one side in suite order (area, then
// requirement number, then case ID). It validates them first and panics on
// a suite-definition bug, which tests catch.
func Cases(side Side) []*Case {
	return harness.Cases(side)
}

// Validate checks the suite definition against the requirement registry:
// case IDs well-formed and unique, every requirement ID known and binding
// the case's side, one level and at most one optional feature per case, and
// every observable MUST covered by a case of each side it binds or listed in
// uncovered.yaml with a reason (and no stale uncovered entries). It returns
// every problem found.
func Validate() []error {
	return harness.Validate()
}

// From connector.go.

// ConnectorOptions configure a run of the connector suite, in which the
// suite plays the gateway against a connector under test.
type ConnectorOptions = harness.ConnectorOptions

// From deviations.go.

// DeviationRow is one deliberate deviation of a reference implementation
// (a simulator mode for the connector suite, a client or adapter mode for
// the gateway suite) and exactly the cases the suite fails on it. The self-check runs
// the Focus cases in strict mode against the deviating implementation and
// requires the failing set to equal Fail; the other focused cases are
// controls that must still pass or be untestable.
type DeviationRow = harness.DeviationRow

// DeviationMatrix lists every deviation mode of the simulator, the client
// and the adapter with the cases that catch it.
var DeviationMatrix = harness.DeviationMatrix

// From entry.go.

// UsageError reports options that cannot start a run (exit code 2).
type UsageError = harness.UsageError

// HarnessFailure reports a run the suite could not carry out (exit code 3).
type HarnessFailure = harness.HarnessFailure

// ExitCodeOf maps a run's outcome to the documented exit code.
func ExitCodeOf(res *Result, err error) int {
	return harness.ExitCodeOf(res, err)
}

// RunConnector runs the connector suite in this process and returns its
// result. Ginkgo allows one suite run per process; a second call returns an
// error.
func RunConnector(opts ConnectorOptions) (*Result, error) {
	return harness.RunConnector(opts)
}

// RunGateway runs the gateway suite in this process and returns its
// result. Ginkgo allows one suite run per process.
func RunGateway(opts GatewayOptions) (*Result, error) {
	return harness.RunGateway(opts)
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
	return harness.RunConnectorSuite(t, opts)
}

// RunGatewaySuite runs the gateway suite inside a Go test against the
// gateway command in opts, and fails t unless the run is conformant.
func RunGatewaySuite(t TestingT, opts GatewayOptions) *Result {
	return harness.RunGatewaySuite(t, opts)
}

// From features.go.

// FeatureAll, as a key of Options.Features, forces every optional feature
// on (true) or off (false); entries naming a feature override it for that
// feature. A gateway that implements the whole testee contract declares
// --feature all.
const FeatureAll = harness.FeatureAll

// From gateway.go.

// GatewayOptions configure a run of the gateway suite, in which the suite
// plays the connector and starts the gateway under test once per case.
type GatewayOptions = harness.GatewayOptions

// Environment of the gateway testee contract.
const (
	EnvCaseID           = harness.EnvCaseID
	EnvBackoffBase      = harness.EnvBackoffBase
	EnvBackoffCap       = harness.EnvBackoffCap
	EnvPingInterval     = harness.EnvPingInterval
	EnvPingTimeout      = harness.EnvPingTimeout
	EnvHandshakeTimeout = harness.EnvHandshakeTimeout
	EnvGoIdleTimeout    = harness.EnvGoIdleTimeout
	EnvStableWindow     = harness.EnvStableWindow
	EnvTokenTTL         = harness.EnvTokenTTL
)

// From report.go.

// ListFilter selects cases for List.
type ListFilter = harness.ListFilter

// Listed is one case as conform list shows it.
type Listed = harness.Listed

// List returns the cases the filter selects, connector side first.
func List(f ListFilter) []Listed {
	return harness.List(f)
}

// CoverageMarkdown renders docs/conformance.md: every requirement of the
// registry with the cases that check it, why it is not covered, or why it
// is not observable on the wire; then the deviation matrix and the
// mutation kill rate (conformance/mutation.md, which the mutation harness
// writes).
func CoverageMarkdown() []byte {
	return harness.CoverageMarkdown(mutationSection)
}

// From result.go.

// Verdict is the outcome of one case.
type Verdict = harness.Verdict

const (
	// Pass: the implementation did what the requirement asks.
	Pass Verdict = harness.Pass
	// Warn: a SHOULD (or MAY) requirement was not met and the run is not
	// strict. It does not fail the run.
	Warn Verdict = harness.Warn
	// Fail: the implementation is non-conformant.
	Fail Verdict = harness.Fail
	// HarnessError: the suite or its environment failed; the case says
	// nothing about the implementation.
	HarnessError Verdict = harness.HarnessError
	// Untestable: the implementation does not offer what the case needs
	// (a testee hook, a declared profile). Never counted as a pass.
	Untestable Verdict = harness.Untestable
	// NotApplicable: the case checks an optional feature that is not in
	// force for the implementation.
	NotApplicable Verdict = harness.NotApplicable
	// Skipped: the case was not selected (--focus, --skip, --fast,
	// --label-filter), or --fail-fast stopped the run before it.
	Skipped Verdict = harness.Skipped
	// Blocked: something the case relies on is broken (a preflight basic
	// such as the handshake or a send round trip, or a requirement the case
	// does not prove, broken on the way), so the case could not judge its
	// own requirements. The violation is filed under its root cause (see
	// CaseResult.Cause), never under the case's requirements. Never
	// counted as a pass.
	Blocked Verdict = harness.Blocked
)

// Verdicts lists every verdict in report order.
var Verdicts = harness.Verdicts

// CauseKind says what kind of problem a root cause is.
type CauseKind = harness.CauseKind

// Kinds of root cause.
const (
	// CauseFail: the implementation broke a MUST (or, strict, a SHOULD).
	CauseFail CauseKind = harness.CauseFail
	// CauseWarning: the implementation broke a SHOULD or MAY; the run is
	// not failed by it unless strict.
	CauseWarning CauseKind = harness.CauseWarning
	// CauseHarness: the suite or its environment failed.
	CauseHarness CauseKind = harness.CauseHarness
	// CauseUntestable: the implementation does not offer what the basic
	// needs (a control route, a chat the gateway may post to).
	CauseUntestable CauseKind = harness.CauseUntestable
)

// RootCause is why a case is blocked.
type RootCause = harness.RootCause

// Finding is a violation seen by a case that does not prove its
// requirement: a frame that breaks a rule of its own (checked on every
// frame) or a SHOULD the case met on its way. It is kept on the run, so
// that no case's verdict is coloured by another requirement; a finding of
// kind fail makes the run non-conformant like a failed case.
type Finding = harness.Finding

// CaseResult is the outcome of one case.
type CaseResult = harness.CaseResult

// Result is the outcome of a suite run.
type Result = harness.Result

// FeatureStatus records whether an optional feature was in force and why.
type FeatureStatus = harness.FeatureStatus

// Exit codes of a run; see docs/conformance-guide.md.
const (
	ExitConformant    = harness.ExitConformant    // every selected case passed, warned, or is a listed expected failure
	ExitNonConformant = harness.ExitNonConformant // a case failed that the baseline does not list, or a baseline entry is stale
	ExitUsage         = harness.ExitUsage         // bad flags or options
	ExitHarness       = harness.ExitHarness       // the suite could not judge: harness errors and no non-conformance
)

// RootCauseGroup is one root cause of a run's failures: the requirement
// (or preflight case) that broke, the cases that judged it and failed, and
// the cases it blocked.
type RootCauseGroup = harness.RootCauseGroup

// From run.go.

// SuiteVersion identifies this version of the suite in reports.
const SuiteVersion = harness.SuiteVersion

// DefaultParallel is how many cases run at once unless Options.Parallel
// says otherwise.
const DefaultParallel = harness.DefaultParallel

// Options are the settings both suites share.
type Options = harness.Options

// TestingT is what the suites need from a test: *testing.T satisfies it.
type TestingT = harness.TestingT

// From transcript.go.

// Transcript records, per case, every frame sent and received and every
// notable event (dials, closes, HTTP calls) with its time offset. It is
// attached to the case's report on failure or warning. Secrets and tokens
// registered with Redact never appear in it.
type Transcript = harness.Transcript

// From uncovered.go.

// Uncovered is one entry of uncovered.yaml.
type Uncovered = harness.Uncovered

// UncoveredRequirements returns the entries of uncovered.yaml.
func UncoveredRequirements() []Uncovered {
	return harness.UncoveredRequirements()
}
