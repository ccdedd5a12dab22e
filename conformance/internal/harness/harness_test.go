package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

func TestClassify(t *testing.T) {
	sr := func(state types.SpecState, msg string, entries ...string) types.SpecReport {
		r := types.SpecReport{State: state, Failure: types.Failure{Message: msg}}
		for _, e := range entries {
			r.ReportEntries = append(r.ReportEntries, types.ReportEntry{Name: e})
		}
		return r
	}
	cases := []struct {
		r    types.SpecReport
		want Verdict
	}{
		{sr(types.SpecStatePassed, ""), Pass},
		{sr(types.SpecStatePassed, "", entryWarning), Warn},
		{sr(types.SpecStateSkipped, prefixUntestable+"no hook"), Untestable},
		{sr(types.SpecStateSkipped, prefixWarning+"SHOULD"), Warn},
		{sr(types.SpecStateSkipped, prefixNotApplicable+"feature"), NotApplicable},
		{sr(types.SpecStateSkipped, prefixNotSelected+"--focus"), Skipped},
		{sr(types.SpecStateSkipped, ""), Skipped},
		{sr(types.SpecStateSkipped, "some other skip"), HarnessError},
		{sr(types.SpecStateFailed, prefixNonConformant+"AUTH-010"), Fail},
		{sr(types.SpecStateFailed, "gomega said no"), Fail},
		{sr(types.SpecStateFailed, prefixHarness+"dial"), HarnessError},
		{sr(types.SpecStatePanicked, "boom"), HarnessError},
		{sr(types.SpecStateTimedout, "slow"), HarnessError},
	}
	for _, c := range cases {
		if got, _ := classify(c.r); got != c.want {
			t.Errorf("classify(%v %q) = %s, want %s", c.r.State, c.r.Failure.Message, got, c.want)
		}
	}
}

func TestTranscriptRedactsSecrets(t *testing.T) {
	tr := newTranscript()
	tr.Redact("s3cret-value")
	tr.Sent("c1", []byte(`{"type":"hello","x":"s3cret-value"}`+"\n"), false)
	tr.Event("http", "Authorization: Bearer %s", "s3cret-value")
	out := tr.String()
	if strings.Contains(out, "s3cret-value") {
		t.Errorf("secret in transcript:\n%s", out)
	}
	if !strings.Contains(out, `\n`) {
		t.Errorf("newline not shown:\n%s", out)
	}
}

func TestMarkdownReport(t *testing.T) {
	r := &Result{Side: Connector, Implementation: "acme 1.2", Target: "ws://x/relay", ContractVersion: 1, Started: time.Unix(0, 0),
		Cases: []CaseResult{
			{ID: "AUTH-010/wrong-secret", Level: "MUST", Requirements: []string{"AUTH-010"}, Verdict: Fail, Message: "AUTH-010 MUST\n  expected: x"},
			{ID: "AUTH-007/exp-zero", Level: "SHOULD", Requirements: []string{"AUTH-007"}, Verdict: Warn, Message: "warned"},
			{ID: "IN-001/inbound-shape", Level: "MUST", Requirements: []string{"IN-001"}, Verdict: Untestable, Message: "no hook"},
		}}
	md := string(r.Markdown())
	for _, want := range []string{"acme 1.2", "contract version | 1", "| MUST | 0 | 1 | 0 | 0 | 0 | 1 | 0 | 0 |", "## Non-conformant (1)", "## Untestable (1)", "non-conformant"} {
		if !strings.Contains(md, want) {
			t.Errorf("report misses %q:\n%s", want, md)
		}
	}
}

// TestUndeclaredRouteWithNonJSONSuccessIsNoted: a catch-all server that
// answers every path 200 with HTML gets a warning for each contract route
// of a feature it does not declare, and nothing for declared ones.
func TestUndeclaredRouteWithNonJSONSuccessIsNoted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>welcome</html>"))
	}))
	defer srv.Close()
	rs := &RunState{Side: Connector}
	rs.setFeature("media", true, "declared")
	tg := &connectorTarget{Base: srv.URL}
	tg.probeUndeclaredRoutes(context.Background(), rs)
	if len(rs.Notes) != 3 {
		t.Fatalf("notes %q; want one for each of policy, provision and enroll", rs.Notes)
	}
	for _, n := range rs.Notes {
		if strings.Contains(n, "/relay/media") {
			t.Errorf("a declared feature's route was noted: %s", n)
		}
	}
}
