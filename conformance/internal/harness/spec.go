package harness

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/onsi/gomega"

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
	prefixBlocked       = "blocked: "
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

// S is the context of one running case. Case bodies use it to talk to the
// implementation under test and to record verdicts. Its verdict methods
// (Failf, Harness, Untestable, NotApplicable, Blocked) end the case: called
// on the case's own goroutine they stop it at once (runtime.Goexit, so
// deferred calls run); called on another goroutine they record the verdict
// and end only that goroutine. The first verdict recorded wins.
//
// Cases run concurrently (see Options.Parallel), each with its own S, its
// own gateway credentials or gateway process, and its own transcript.
type S struct {
	Ctx  context.Context
	C    *Case
	Run  *RunState
	Tr   *Transcript
	step string

	Mu       sync.Mutex
	pending  []hygieneIssue // found by reader goroutines, raised by flush
	warnings []string
	observed []string
	conns    int
	peers    []*Peer // every socket the case opened, for hasOpenPeer
	out      *outcome
	cleanups []func()
	// outside are warnings under requirements the case does not prove,
	// kept as findings of the run rather than verdicts of the case.
	outside []Finding

	Msgs map[string]Injected // connector suite: injected messages by the suite's id

	Cc *connCase // connector suite: the case's gateway credentials
	Gc *GWCase   // gateway suite: the case's simulator and testee process
}

// outcome is how a case ended.
type outcome struct {
	verdict Verdict
	msg     string
	cause   *RootCause
}

type hygieneIssue struct {
	who string
	v   contract.Violation
	raw string
}

// Context returns the case's context; it ends when the case times out.
func (s *S) Context() context.Context { return s.Ctx }

// Transcript returns the case's frame transcript.
func (s *S) Transcript() *Transcript { return s.Tr }

// Case returns the running case.
func (s *S) Case() *Case { return s.C }

// Step names the next phase of the case, for the transcript and for
// harness-error messages.
func (s *S) Step(format string, args ...any) {
	step := fmt.Sprintf(format, args...)
	s.Mu.Lock()
	s.step = step
	s.Mu.Unlock()
	s.Tr.Event("", "step: %s", step)
}

// Logf adds a note to the transcript.
func (s *S) Logf(format string, args ...any) { s.Tr.Event("", format, args...) }

// nextConn names a new connection for the transcript: c1, c2, ...
func (s *S) nextConn() string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.conns++
	return fmt.Sprintf("c%d", s.conns)
}

// end records the case's verdict (the first one recorded wins) and stops
// the calling goroutine.
func (s *S) end(v Verdict, msg string, cause *RootCause) {
	s.setOutcome(v, msg, cause)
	runtime.Goexit()
}

// setOutcome records the case's verdict unless one is recorded already.
func (s *S) setOutcome(v Verdict, msg string, cause *RootCause) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if s.out == nil {
		s.out = &outcome{verdict: v, msg: msg, cause: cause}
	}
}

// proves reports whether the case proves requirement id.
func (s *S) proves(id string) bool {
	for _, r := range s.C.Reqs {
		if r == id {
			return true
		}
	}
	return false
}

// Failf records that the implementation broke requirement id and ends the
// case. When id is one of the case's own requirements, a MUST violation
// fails the case, and a SHOULD or MAY violation is a warning unless the run
// is strict. When id is a requirement the case does not prove (a frame
// that breaks another rule, a step the case relies on), the case is
// blocked by it: the violation is filed under id, never under the case's
// own requirements.
func (s *S) Failf(id, expected, actualFormat string, args ...any) {
	actual := fmt.Sprintf(actualFormat, args...)
	msg := s.describe(id, expected, actual)
	if s.proves(id) {
		// Frame violations not raised yet are reported beside the
		// case's own verdict, which they do not change.
		for _, h := range s.takePending() {
			msg += fmt.Sprintf("\n  also seen:   %s %s: %s", h.v.Requirement, h.who, h.v.Message)
		}
	}
	warning := s.isWarning(id)
	switch {
	case !s.proves(id) && warning:
		s.addOutside(id, msg)
		s.end(Blocked, msg, &RootCause{Requirement: id, Kind: CauseWarning, Message: firstLine(actual)})
	case !s.proves(id):
		s.end(Blocked, msg, &RootCause{Requirement: id, Kind: CauseFail, Message: firstLine(actual)})
	case warning:
		s.addWarning(msg)
		s.end(Warn, msg, nil)
	}
	s.end(Fail, msg, nil)
}

// Softf is Failf for a secondary check: a SHOULD or MAY violation is
// recorded as a warning and the case goes on; a MUST violation (or any,
// when strict) ends it as Failf does. A warning under a requirement the
// case does not prove is kept as a finding of the run, not of the case.
func (s *S) Softf(id, expected, actualFormat string, args ...any) {
	if !s.isWarning(id) {
		s.Failf(id, expected, actualFormat, args...)
	}
	msg := s.describe(id, expected, fmt.Sprintf(actualFormat, args...))
	if s.proves(id) {
		s.addWarning(msg)
	} else {
		s.addOutside(id, msg)
	}
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
	s.Mu.Lock()
	step := s.step
	s.Mu.Unlock()
	if step != "" {
		msg = fmt.Sprintf("%s (during: %s)", msg, step)
	}
	s.end(HarnessError, msg, nil)
}

// Untestable ends the case as untestable: the implementation under test
// does not offer what the case needs (a testee hook, a declared profile).
// It is never counted as a pass.
func (s *S) Untestable(format string, args ...any) {
	s.end(Untestable, fmt.Sprintf(format, args...), nil)
}

// NotApplicable ends the case because the feature it checks is not in
// force for the implementation under test.
func (s *S) NotApplicable(format string, args ...any) {
	s.end(NotApplicable, fmt.Sprintf(format, args...), nil)
}

// Blocked ends the case because something it relies on is broken.
func (s *S) Blocked(cause RootCause) {
	s.end(Blocked, "blocked by "+cause.String(), &cause)
}

// Observe records an informational observation, such as which of the
// choices a MAY requirement allows the implementation made.
func (s *S) Observe(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.Tr.Event("", "observed: %s", msg)
	s.Mu.Lock()
	s.observed = append(s.observed, msg)
	s.Mu.Unlock()
}

func (s *S) isWarning(id string) bool {
	r, ok := contract.LookupRequirement(id)
	if !ok {
		return false
	}
	switch r.Level {
	case "MUST":
		return false
	case "MAY":
		return true
	default:
		return !s.Run.Opts.Strict
	}
}

func (s *S) addWarning(msg string) {
	s.Mu.Lock()
	s.warnings = append(s.warnings, msg)
	s.Mu.Unlock()
	s.Tr.Event("", "warning: %s", firstLine(msg))
}

// addOutside keeps a warning under a requirement the case does not prove.
func (s *S) addOutside(id, msg string) { s.addFinding(id, msg, false) }

// addFinding keeps a violation of a requirement the case does not prove
// as a finding of the run: a failure when binding, else a warning.
func (s *S) addFinding(id, msg string, binding bool) {
	level := ""
	if r, ok := contract.LookupRequirement(id); ok {
		level = string(r.Level)
	}
	kind := CauseWarning
	if binding {
		kind = CauseFail
	}
	s.Mu.Lock()
	for _, f := range s.outside {
		if f.Requirement == id && f.Kind == kind {
			s.Mu.Unlock()
			return // once per case and requirement is enough
		}
	}
	s.outside = append(s.outside, Finding{Requirement: id, Level: level, Kind: kind, Case: s.C.ID, Message: msg})
	s.Mu.Unlock()
	s.Tr.Event("", "%s outside the case: %s", kind, firstLine(msg))
}

// describe renders a requirement failure the h2spec way.
func (s *S) describe(id, expected, actual string) string {
	r, ok := contract.LookupRequirement(id)
	var b strings.Builder
	if ok {
		fmt.Fprintf(&b, "%s %s (%s) %s\n", r.ID, r.Level, r.Side, r.Title)
		fmt.Fprintf(&b, "  requirement: %s\n", r.Text)
	} else {
		fmt.Fprintf(&b, "%s\n", id)
	}
	fmt.Fprintf(&b, "  expected:    %s\n", expected)
	fmt.Fprintf(&b, "  actual:      %s", actual)
	if ok && specRef(r) != "" {
		fmt.Fprintf(&b, "\n  see:         %s", specRef(r))
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
	s.Mu.Lock()
	defer s.Mu.Unlock()
	for _, v := range vs {
		s.pending = append(s.pending, hygieneIssue{who: who, v: v, raw: Truncate(string(frame), 300)})
	}
}

// flush raises queued hygiene violations: a MUST violation fails the case,
// others become warnings (failures when strict).
//
// A violation of a requirement the case proves is judged like any other
// check (Softf). One of a requirement the case does not prove is kept as
// a finding of the run and the case goes on: a frame that breaks an
// unrelated rule says nothing about what the case checks, and must not
// block it.
func (s *S) flush() {
	for _, is := range s.takePending() {
		field := is.v.Field
		if field == "" {
			field = "(frame)"
		}
		expected := "every frame received to satisfy " + is.v.Requirement
		if s.proves(is.v.Requirement) {
			s.Softf(is.v.Requirement, expected, "%s: %s: %s in frame %q", is.who, field, is.v.Message, is.raw)
			continue
		}
		msg := s.describe(is.v.Requirement, expected, fmt.Sprintf("%s: %s: %s in frame %q", is.who, field, is.v.Message, is.raw))
		s.addFinding(is.v.Requirement, msg, !s.isWarning(is.v.Requirement))
	}
}

// takePending returns and clears the queued frame violations.
func (s *S) takePending() []hygieneIssue {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	issues := s.pending
	s.pending = nil
	return issues
}

// Quiet is how long the suite watches for something that must not happen.
func (s *S) Quiet() time.Duration { return s.Within(0.04) }

// Within returns the suite's wait bound scaled by n.
func (s *S) Within(n float64) time.Duration {
	return time.Duration(float64(s.Run.Opts.wait()) * n)
}

// Cleanup registers fn to run when the case ends, after the body; cleanups
// run last registered first.
func (s *S) Cleanup(fn func()) {
	s.Mu.Lock()
	s.cleanups = append(s.cleanups, fn)
	s.Mu.Unlock()
}

// Eventually polls cond every interval until it holds or d passes, and
// reports whether it held: gomega's Eventually, bound to the case's
// context. The case judges a false answer itself, under its own
// requirement, so gomega never fails the case; a case that ends while
// polling is a harness error, as at every wait of the suite. A verdict
// cond raises (Failf, Harness) ends the case as usual.
func (s *S) Eventually(d, interval time.Duration, cond func() bool) bool {
	g := gomega.NewGomega(func(string, ...int) {})
	ok := g.Eventually(s.Ctx, cond).WithTimeout(d).WithPolling(interval).Should(gomega.BeTrue())
	if !ok && s.Ctx.Err() != nil {
		s.Harness("case timed out while waiting")
	}
	return ok
}

// TimeAfter is time.After; a variable so waits read well at call sites.
var TimeAfter = time.After
