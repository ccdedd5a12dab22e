package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/relaykit/relaykit/contract"
)

// Failure prefixes. A case's outcome class is read back from the prefix of
// its Ginkgo failure or skip message (see Verdict), so the classes can never
// be confused: a skip is never a pass, and a harness problem is never
// reported as non-conformance.
const (
	prefixNonConformant = "non-conformant: "
	prefixHarness       = "harness error: "
	prefixUntestable    = "untestable: "
	prefixWarning       = "warning: "
	prefixNotApplicable = "n/a: "
	prefixNotSelected   = "not selected: "
)

// Report entry names the suite attaches to specs.
const (
	entrySpecRef    = "spec-ref"
	entryCaseID     = "case-id"
	entryWarning    = "warning"
	entryTranscript = "transcript"
	entryUntestable = "untestable"
	entryObserved   = "observed"
)

// errAbort is what S.Failf and friends panic with when they run outside
// Ginkgo (never in practice; kept for robustness).
var errAbort = errors.New("conformance: case aborted")

// S is the context of one running case. Case bodies use it to talk to the
// implementation under test and to record verdicts. Its verdict methods
// (Failf, Harness, Untestable) end the case, and must be called from the
// case's own goroutine.
type S struct {
	ctx  context.Context
	c    *Case
	run  *runState
	tr   *Transcript
	step string

	mu       sync.Mutex
	pending  []hygieneIssue // found by reader goroutines, raised by flush
	warnings []string
	conns    int

	cc *connCase // connector suite: the case's gateway credentials
	gc *gwCase   // gateway suite: the case's simulator and testee process
}

type hygieneIssue struct {
	who string
	v   contract.Violation
	raw string
}

// Context returns the case's context; it ends when the case times out.
func (s *S) Context() context.Context { return s.ctx }

// Transcript returns the case's frame transcript.
func (s *S) Transcript() *Transcript { return s.tr }

// Case returns the running case.
func (s *S) Case() *Case { return s.c }

// Step names the next phase of the case, for the console and transcript.
func (s *S) Step(format string, args ...any) {
	s.step = fmt.Sprintf(format, args...)
	s.tr.Event("", "step: %s", s.step)
	ginkgo.By(s.step)
}

// Logf adds a note to the transcript.
func (s *S) Logf(format string, args ...any) { s.tr.Event("", format, args...) }

// nextConn names a new connection for the transcript: c1, c2, ...
func (s *S) nextConn() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns++
	return fmt.Sprintf("c%d", s.conns)
}

// Failf records that the implementation broke requirement id and ends the
// case. A MUST violation fails the case. A SHOULD or MAY violation is a
// warning unless the run is strict; it ends the case either way.
func (s *S) Failf(id, expected, actualFormat string, args ...any) {
	s.flush()
	actual := fmt.Sprintf(actualFormat, args...)
	msg := s.describe(id, expected, actual)
	if s.isWarning(id) {
		s.addWarning(msg)
		ginkgo.Skip(prefixWarning + msg)
		panic(errAbort)
	}
	ginkgo.Fail(prefixNonConformant+msg, 1)
	panic(errAbort)
}

// Softf is Failf for a secondary check: a SHOULD or MAY violation is
// recorded as a warning and the case goes on; a MUST violation (or any, when
// strict) ends it.
func (s *S) Softf(id, expected, actualFormat string, args ...any) {
	actual := fmt.Sprintf(actualFormat, args...)
	msg := s.describe(id, expected, actual)
	if s.isWarning(id) {
		s.addWarning(msg)
		return
	}
	ginkgo.Fail(prefixNonConformant+msg, 1)
	panic(errAbort)
}

// Check calls Failf when ok is false.
func (s *S) Check(ok bool, id, expected, actualFormat string, args ...any) {
	if !ok {
		s.Failf(id, expected, actualFormat, args...)
	}
}

// Harness ends the case with a harness error: the suite or its environment
// failed, so nothing is known about conformance.
func (s *S) Harness(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if s.step != "" {
		msg = fmt.Sprintf("%s (during: %s)", msg, s.step)
	}
	ginkgo.Fail(prefixHarness+msg, 1)
	panic(errAbort)
}

// Untestable ends the case as untestable: the implementation under test
// does not offer what the case needs (a testee hook, a declared profile).
// It is never counted as a pass.
func (s *S) Untestable(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ginkgo.AddReportEntry(entryUntestable, msg, ginkgo.ReportEntryVisibilityNever)
	ginkgo.Skip(prefixUntestable + msg)
	panic(errAbort)
}

// NotApplicable ends the case because the feature it checks is not in
// force for the implementation under test.
func (s *S) NotApplicable(format string, args ...any) {
	ginkgo.Skip(prefixNotApplicable + fmt.Sprintf(format, args...))
	panic(errAbort)
}

// Observe records an informational observation, such as which of the
// choices a MAY requirement allows the implementation made.
func (s *S) Observe(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.tr.Event("", "observed: %s", msg)
	ginkgo.AddReportEntry(entryObserved, msg, ginkgo.ReportEntryVisibilityFailureOrVerbose)
}

func (s *S) isWarning(id string) bool {
	r, ok := lookupReq(id)
	if !ok {
		return false
	}
	switch r.Level {
	case "MUST":
		return false
	case "MAY":
		return true
	default:
		return !s.run.opts.Strict
	}
}

func (s *S) addWarning(msg string) {
	s.mu.Lock()
	s.warnings = append(s.warnings, msg)
	s.mu.Unlock()
	s.tr.Event("", "warning: %s", firstLine(msg))
	ginkgo.AddReportEntry(entryWarning, msg, ginkgo.ReportEntryVisibilityFailureOrVerbose)
}

// describe renders a requirement failure the h2spec way.
func (s *S) describe(id, expected, actual string) string {
	r, ok := lookupReq(id)
	var b strings.Builder
	if ok {
		fmt.Fprintf(&b, "%s %s (%s) %s\n", r.ID, r.Level, r.Side, r.Title)
		fmt.Fprintf(&b, "  requirement: %s\n", r.Text)
	} else {
		fmt.Fprintf(&b, "%s\n", id)
	}
	fmt.Fprintf(&b, "  expected:    %s\n", expected)
	fmt.Fprintf(&b, "  actual:      %s", actual)
	if ok && r.Anchor != "" {
		fmt.Fprintf(&b, "\n  see:         %s", r.Anchor)
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// hygiene queues frame violations found by a reader goroutine; flush
// raises them on the case's goroutine.
func (s *S) hygiene(who string, frame []byte, vs []contract.Violation) {
	if len(vs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		s.pending = append(s.pending, hygieneIssue{who: who, v: v, raw: truncate(string(frame), 300)})
	}
}

// flush raises queued hygiene violations: a MUST violation fails the case,
// others become warnings (failures when strict).
func (s *S) flush() {
	s.mu.Lock()
	issues := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, is := range issues {
		field := is.v.Field
		if field == "" {
			field = "(frame)"
		}
		s.Softf(is.v.Requirement,
			"every frame received to satisfy "+is.v.Requirement,
			"%s: %s: %s in frame %q", is.who, field, is.v.Message, is.raw)
	}
}

// quiet is how long the suite watches for something that must not happen.
func (s *S) quiet() time.Duration { return s.within(0.04) }

// within returns the suite's wait bound scaled by n.
func (s *S) within(n float64) time.Duration {
	return time.Duration(float64(s.run.opts.wait()) * n)
}

// cleanup registers fn to run when the case ends, after the body.
func (s *S) cleanup(fn func()) { ginkgo.DeferCleanup(fn) }

// timeAfter is time.After; a variable so waits read well at call sites.
var timeAfter = time.After
