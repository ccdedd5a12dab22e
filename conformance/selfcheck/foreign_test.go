package selfcheck

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/conformance"
	"github.com/relaykit/relaykit/internal/foreign/harbor"
	"github.com/relaykit/relaykit/internal/foreign/pier"
)

// The suites' precision: foreign doubles, written apart from relaysim and
// the client, behave unlike them wherever the contract allows (their own
// platform names and message ids, error frames, refusals, only the minimum
// testee routes, no clock control). A conformant double must get no
// failure at all, and each of its planted deviations must fail exactly the
// requirement it breaks: every failed case proves it, and every blocked
// case and finding names it.

// foreignGateway is the gateway the foreign connectors enroll at start,
// for credentials-only runs.
const (
	foreignGatewayID = "gw-selfcheck"
	foreignSecret    = "selfcheck-foreign-secret"
)

// runForeign runs the connector suite against a foreign double.
func runForeign(spec childSpec, common conformance.Options) (*conformance.Result, error) {
	switch spec.Foreign {
	case "pier":
		po := pier.Options{
			Deviation: spec.ForeignDeviation,
			Gateways:  []pier.Gateway{{GatewayID: foreignGatewayID, Secret: foreignSecret}},
		}
		if spec.Credentials {
			// Every case shares one gateway here: pier refuses a second
			// socket of it almost at once (policy reject, RC-002), not
			// after its usual 300 ms, so the suite must neither overlap
			// cases nor start one before pier let the last socket go.
			po.DuplicateGrace = time.Millisecond
		}
		if spec.LateCloseNotice {
			// With a drain window of one the entry the late notice
			// re-buffers must be acked before any later one comes, so a
			// case that does not expect it stalls: the shape of the
			// false IDLE-012 failure the suite once had under load.
			po.LateCloseNotice, po.DrainWindow = true, 1
		}
		srv, err := pier.New(po)
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		common.Implementation = "pier (foreign double)"
		o := conformance.ConnectorOptions{Options: common, URL: srv.URL(), ChatID: srv.KnownChat()}
		if spec.Credentials {
			o.GatewayID, o.Secret, o.Platforms = foreignGatewayID, foreignSecret, pier.Platforms
		} else {
			o.Control = srv.ControlURL()
		}
		return conformance.RunConnector(o)
	case "harbor":
		srv, err := harbor.New(harbor.Options{
			Deviation:      spec.ForeignDeviation,
			NoControl:      spec.Credentials,
			Gateway:        &harbor.GatewaySpec{ID: foreignGatewayID, Secret: foreignSecret},
			IdentityTokens: map[string]string{identityToken: "selfcheck-tenant"},
		})
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		common.Implementation = "harbor (foreign double)"
		o := conformance.ConnectorOptions{Options: common, URL: srv.URL(), ChatID: "harbor-lobby",
			IdentityToken: identityToken, IdentityTenant: "selfcheck-tenant"}
		if spec.Credentials {
			o.GatewayID, o.Secret = foreignGatewayID, foreignSecret
			o.Platforms = []string{harbor.PlatformSMS, harbor.PlatformMail}
		} else {
			o.Control = srv.ControlURL()
		}
		return conformance.RunConnector(o)
	}
	return nil, fmt.Errorf("unknown foreign double %q", spec.Foreign)
}

// requireNoFailure checks a run against a conformant double: nothing
// failed, nothing was blocked by a failure, no finding, no harness error.
// Untestable and n/a are fine: the double offers less than relaysim.
func requireNoFailure(t *testing.T, res *conformance.Result) {
	t.Helper()
	t.Logf("\n%s", res.Summary())
	for _, c := range res.Cases {
		switch c.Verdict {
		case conformance.Fail, conformance.Warn, conformance.HarnessError, conformance.Blocked:
			t.Errorf("%s %s: %s\n%s", c.Verdict, c.ID, c.Message, c.Transcript)
		}
	}
	for _, f := range res.Findings {
		t.Errorf("finding %s %s in %s: %s", f.Kind, f.Requirement, f.Case, f.Message)
	}
	for _, e := range res.SuiteErrors {
		t.Errorf("suite error: %s", e)
	}
}

func TestForeignGatewayConformant(t *testing.T) {
	t.Parallel()
	res := runSuite(t, childSpec{Side: conformance.Gateway, Foreign: "lantern", Exec: lantern(t)})
	requireNoFailure(t, res)
}

// lanternDeviations reads the foreign gateway's planted deviations from
// the binary ("lantern deviations"): it is a main package.
func lanternDeviations(t *testing.T) [][2]string {
	t.Helper()
	out, err := exec.Command(lantern(t), "deviations").Output()
	if err != nil {
		t.Fatalf("lantern deviations: %v", err)
	}
	var devs [][2]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, req, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("lantern deviations: bad line %q", line)
		}
		devs = append(devs, [2]string{name, req})
	}
	return devs
}

func TestForeignConnectorsConformant(t *testing.T) {
	t.Parallel()
	for _, run := range []childSpec{
		{Side: conformance.Connector, Foreign: "pier"},
		{Side: conformance.Connector, Foreign: "pier", Credentials: true},
		// A run of its own, not the quirk in every pier run: the plain run
		// keeps the connector that notices a close at once, the common
		// case; this one has the first event after a gateway hangs up go
		// live into the dead socket and come back as a buffer entry no
		// case planned, with a drain window of one. Without a control API
		// nothing is injected, so a credentials run would not see it.
		{Side: conformance.Connector, Foreign: "pier", LateCloseNotice: true},
		{Side: conformance.Connector, Foreign: "harbor"},
		{Side: conformance.Connector, Foreign: "harbor", Credentials: true},
	} {
		name := run.Foreign
		if run.Credentials {
			name += "/credentials"
		}
		if run.LateCloseNotice {
			name += "/late-close"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := runSuite(t, run)
			requireNoFailure(t, res)
		})
	}
}

// TestForeignDeviations plants each deviation of the foreign doubles and
// runs the suite, strict: the deviation's requirement must fail, and every
// failed case, blocked case and finding must be about it. The run covers
// the cases of the requirement's area (AUTH-, IDLE-, ...), which keeps the
// self-check within CI's time; RELAYKIT_SELFCHECK_FULL=1 runs the whole
// suite for every deviation (docs/conformance.md gives that run's figures).
//
// Under the race detector, which slows every child run several times, a
// fixed quarter of the deviations runs unless RELAYKIT_SELFCHECK_ALL is
// set; .ci/run runs them all in a step without it.
func TestForeignDeviations(t *testing.T) {
	t.Parallel()
	n := 0
	sample := func(t *testing.T) {
		n++
		if raceEnabled && os.Getenv("RELAYKIT_SELFCHECK_ALL") == "" && n%4 != 1 {
			t.Skip("under -race only every fourth deviation runs; RELAYKIT_SELFCHECK_ALL=1 runs all")
		}
	}
	focus := func(req string) []string {
		if os.Getenv("RELAYKIT_SELFCHECK_FULL") != "" {
			return nil
		}
		return []string{req[:strings.LastIndexByte(req, '-')+1]}
	}
	for _, d := range pier.Deviations {
		t.Run("pier/"+d.Name, func(t *testing.T) {
			sample(t)
			t.Parallel()
			res := runSuite(t, childSpec{Side: conformance.Connector, Foreign: "pier", ForeignDeviation: d.Name,
				Focus: focus(d.Requirement), Strict: true, Wait: matrixWait})
			checkOnlyRequirement(t, res, d.Requirement)
		})
	}
	for _, d := range harbor.Deviations {
		t.Run("harbor/"+d.Name, func(t *testing.T) {
			sample(t)
			t.Parallel()
			res := runSuite(t, childSpec{Side: conformance.Connector, Foreign: "harbor", ForeignDeviation: d.Name,
				Focus: focus(d.Requirement), Strict: true, Wait: matrixWait})
			checkOnlyRequirement(t, res, d.Requirement)
		})
	}
	for _, d := range lanternDeviations(t) {
		name, req := d[0], d[1]
		t.Run("lantern/"+name, func(t *testing.T) {
			sample(t)
			t.Parallel()
			res := runSuite(t, childSpec{Side: conformance.Gateway, Foreign: "lantern", Exec: lantern(t),
				Env: []string{"LANTERN_DEVIATION=" + name}, Focus: focus(req), Strict: true, Wait: matrixWait})
			checkOnlyRequirement(t, res, req)
		})
	}
}

// checkOnlyRequirement requires a run to fail requirement req and nothing
// else: each failed case proves req, each blocked case and failing finding
// names it, and no harness error.
func checkOnlyRequirement(t *testing.T, res *conformance.Result, req string) {
	t.Helper()
	var failed, wrong []string
	for _, c := range res.Cases {
		switch c.Verdict {
		case conformance.Fail, conformance.Warn:
			failed = append(failed, c.ID)
			if !proves(c, req) {
				wrong = append(wrong, fmt.Sprintf("%s %s: %s", c.Verdict, c.ID, firstLine(c.Message)))
			}
		case conformance.Blocked:
			if c.Cause == nil || c.Cause.Requirement != req {
				wrong = append(wrong, fmt.Sprintf("blocked %s: %s", c.ID, c.Message))
			}
		case conformance.HarnessError:
			wrong = append(wrong, fmt.Sprintf("harness error %s: %s", c.ID, c.Message))
		}
	}
	for _, f := range res.Findings {
		if f.Kind == conformance.CauseFail && f.Requirement != req {
			wrong = append(wrong, fmt.Sprintf("finding %s in %s: %s", f.Requirement, f.Case, firstLine(f.Message)))
		}
	}
	sort.Strings(failed)
	if len(failed) == 0 {
		t.Errorf("no case failed; want %s to fail", req)
	}
	if len(wrong) > 0 {
		t.Errorf("verdicts not about %s:\n  %s", req, strings.Join(wrong, "\n  "))
	}
	t.Logf("%s: failed %v", req, failed)
}

// proves reports whether a case result proves requirement req.
func proves(c conformance.CaseResult, req string) bool {
	for _, r := range c.Requirements {
		if r == req {
			return true
		}
	}
	return false
}
