package selfcheck

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/conformance"
)

// requireFullPass checks a reference run: conformant, every MUST case run
// and passed (n/a only for features the reference does not offer), no
// harness error, nothing untestable.
func requireFullPass(t *testing.T, res *conformance.Result) {
	t.Helper()
	t.Logf("\n%s", res.Summary())
	if code := res.ExitCode(); code != conformance.ExitConformant {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, c := range res.Cases {
		switch c.Verdict {
		case conformance.Pass:
		case conformance.NotApplicable:
			t.Logf("n/a %s: %s", c.ID, c.Message)
		default:
			t.Errorf("%s %s: %s\n%s", c.Verdict, c.ID, c.Message, c.Transcript)
		}
	}
	for _, f := range res.Findings {
		t.Errorf("finding %s %s in %s: %s", f.Kind, f.Requirement, f.Case, f.Message)
	}
}

func TestConnectorSuiteAgainstRelaysim(t *testing.T) {
	t.Parallel()
	res := runSuite(t, childSpec{Side: conformance.Connector})
	requireFullPass(t, res)
	checkBudget(t, res)
}

func TestGatewaySuiteAgainstEchogateway(t *testing.T) {
	t.Parallel()
	res := runSuite(t, childSpec{Side: conformance.Gateway, Exec: echogateway(t)})
	requireFullPass(t, res)
	checkBudget(t, res)
}

// checkBudget holds a full passing run to the 15 s budget (doubled under
// the race detector, which slows the suite process, not the
// implementation).
func checkBudget(t *testing.T, res *conformance.Result) {
	t.Helper()
	budget := 15 * time.Second
	if raceEnabled {
		budget *= 2
	}
	if res.Duration > budget {
		t.Errorf("the %s suite took %s, over its %s budget", res.Side, res.Duration.Round(time.Millisecond), budget)
	}
}

// TestDeviationMatrix runs the focused cases of every deviation row in
// strict mode and requires exactly the listed cases to fail.
func TestDeviationMatrix(t *testing.T) {
	t.Parallel()
	for _, row := range conformance.DeviationMatrix {
		t.Run(string(row.Side)+"/"+row.Deviation, func(t *testing.T) {
			t.Parallel()
			spec := childSpec{Side: row.Side, Focus: row.Focus, Strict: true, Wait: matrixWait}
			switch row.Side {
			case conformance.Connector:
				spec.SimDeviations = []string{row.Deviation}
			case conformance.Gateway:
				spec.Exec = echogateway(t)
				spec.Env = []string{deviationsEnv + "=" + row.Deviation}
			}
			res := runSuite(t, spec)
			var failed []string
			related := map[string]bool{row.Breaks(): true}
			for _, r := range row.Also() {
				related[r] = true
			}
			for _, c := range res.Cases {
				switch c.Verdict {
				case conformance.Fail, conformance.Warn:
					failed = append(failed, c.ID)
					for _, r := range c.Requirements {
						related[r] = true
					}
				case conformance.HarnessError:
					t.Errorf("harness error in %s: %s", c.ID, c.Message)
				}
			}
			// A blocked case is allowed only when what blocked it is the
			// deviation's own requirement or one a failing case proves.
			for _, c := range res.Cases {
				if c.Verdict != conformance.Blocked {
					continue
				}
				if c.Cause == nil || !related[c.Cause.Requirement] {
					t.Errorf("deviation %s: %s blocked by an unrelated cause: %s", row.Deviation, c.ID, c.Message)
				}
			}
			for _, f := range res.Findings {
				if f.Kind == conformance.CauseFail && !related[f.Requirement] {
					t.Errorf("deviation %s: %s saw an unrelated violation: %s", row.Deviation, f.Case, firstLine(f.Message))
				}
			}
			sort.Strings(failed)
			want := append([]string(nil), row.Fail...)
			sort.Strings(want)
			if strings.Join(failed, " ") != strings.Join(want, " ") {
				t.Errorf("deviation %s: failing cases\n  got  %v\n  want %v", row.Deviation, failed, want)
				for _, c := range res.Cases {
					if c.Verdict == conformance.Fail || c.Verdict == conformance.Warn || c.Verdict == conformance.Blocked {
						t.Logf("%s %s: %s", c.Verdict, c.ID, firstLine(c.Message))
					}
				}
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// deviationsEnv is how the echo gateway learns its client and adapter
// deviations: one comma list of names, parsed with deviation.Parse.
const deviationsEnv = "RELAYKIT_DEVIATIONS"

// TestSuiteTimeOnAFailingConnector holds a stranger's first run to its
// budget: the whole connector suite against a connector that fails many
// cases, on the wall clock (no clock control), finishes within 60 s on a
// 2-core machine (doubled under the race detector). Failing cases used to
// wait out their bounds one after another.
func TestSuiteTimeOnAFailingConnector(t *testing.T) {
	t.Parallel()
	devs := []string{"http-401-auth", "malformed-no-close", "oversize-no-close", "drop-unknown-frames-close",
		"no-drain", "policy-ignored", "unsupported-op-success", "wrong-result-shape", "platform-not-fronted-dropped",
		"no-wake", "cross-tenant-media", "exp-zero-rejected", "press-raw-callback"}
	res := runSuite(t, childSpec{Side: conformance.Connector, SimDeviations: devs, RealClock: true})
	t.Logf("\n%s", res.Summary())
	judged, failing := 0, 0
	for _, c := range res.Cases {
		switch c.Verdict {
		case conformance.Fail, conformance.Blocked:
			failing++
			judged++
		case conformance.Pass, conformance.Warn:
			judged++
		}
	}
	t.Logf("%d of %d judged cases failed or were blocked, in %s", failing, judged, res.Duration.Round(time.Millisecond))
	if failing*5 < judged {
		t.Errorf("only %d of %d judged cases failed: the budget is meant for a connector that fails many", failing, judged)
	}
	budget := 60 * time.Second
	if raceEnabled {
		budget *= 2
	}
	if res.Duration > budget {
		t.Errorf("the connector suite took %s against a failing connector, over its %s budget", res.Duration.Round(time.Millisecond), budget)
	}
}

// matrixWait bounds each wait of a deviation run: short, since failing
// cases wait it out, but long enough for a 1 MiB frame to cross a loaded
// machine under the race detector.
var matrixWait = func() time.Duration {
	if raceEnabled {
		return 5 * time.Second
	}
	return 2 * time.Second
}()
