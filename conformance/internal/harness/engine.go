package harness

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// How a run schedules its cases.
//
// Every case has its own gateway (connector suite) or its own connector
// and gateway process (gateway suite), so most cases can run side by side.
// Three lanes keep apart the ones that cannot:
//
//   - preflight: the cases that check the basics every other case relies
//     on (a handshake, a send round trip, an injected event arriving) run
//     first, one at a time; a basic that does not hold blocks the cases
//     that rely on it instead of failing each of them under its own
//     requirement;
//   - refusals: cases that present refused tokens run one at a time, so a
//     connector that throttles refused tokens (RC-003, HTTP-024) sees them
//     at the pace of a serial run;
//   - alone: cases that move the connector's clock, inject faults that
//     affect every connection, or flood it with refused tokens run after
//     every other case, one at a time, the flood last.
//
// Without the testee control API every case shares the one configured
// gateway, so the free and refusal cases run one at a time, in one lane.
type lane int

const (
	laneFree lane = iota
	laneRefusals
	laneAlone
	laneLast
)

// caseGrace is how long a case may overrun its timeout before the run
// gives up on it and reports a harness error.
const caseGrace = 5 * time.Second

// cleanupBound bounds each cleanup of a case.
const cleanupBound = 30 * time.Second

// runAll runs every case of the side and records its outcome.
func (rs *RunState) runAll() {
	rs.records = map[string]*caseRecord{}
	rs.broken = map[string]RootCause{}

	var pre, free, refusals, alone, last []*Case
	for _, c := range rs.cases {
		if c.Basic != "" {
			// Preflight cases run whatever the selection: every selected
			// case may rely on them.
			if v, msg := rs.preVerdict(c, false); v != "" {
				rs.finish(c, &caseRecord{verdict: v, msg: msg}, false)
				rs.markBroken(c, v, msg, nil)
				continue
			}
			pre = append(pre, c)
			continue
		}
		if v, msg := rs.preVerdict(c, true); v != "" {
			rs.finish(c, &caseRecord{verdict: v, msg: msg}, false)
			continue
		}
		switch rs.laneOf(c) {
		case laneRefusals:
			refusals = append(refusals, c)
		case laneAlone:
			alone = append(alone, c)
		case laneLast:
			last = append(last, c)
		default:
			free = append(free, c)
		}
	}
	rs.mu.Lock()
	rs.total = len(pre) + len(free) + len(refusals) + len(alone) + len(last)
	rs.mu.Unlock()

	for _, c := range pre {
		rec := rs.runOne(c)
		rs.finish(c, rec, true)
		rs.markBroken(c, rec.verdict, rec.msg, rec.cause)
	}

	// Free cases fill every worker; refusal cases take one worker at a
	// time among them.
	var wg sync.WaitGroup
	work := make(chan *Case)
	refusalWork := make(chan *Case)
	n := rs.Opts.parallel()
	if rs.Side == Connector && rs.Conn.Ctl == nil {
		// Without the testee control API every case uses the one
		// configured gateway, and a connector may refuse a second socket
		// of it (RC-002): cases run one at a time, the refusal cases
		// among them too, since a token a connector may accept (exp 0,
		// AUTH-007) opens a socket of that same gateway.
		n = 1
		free, refusals = append(free, refusals...), nil
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				rs.runScheduled(c)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range refusalWork {
			rs.runScheduled(c)
		}
	}()
	go func() {
		for _, c := range refusals {
			refusalWork <- c
		}
		close(refusalWork)
	}()
	for _, c := range free {
		work <- c
	}
	close(work)
	wg.Wait()

	for _, c := range append(alone, last...) {
		rs.runScheduled(c)
	}
}

// runScheduled runs c unless FailFast has stopped the run.
func (rs *RunState) runScheduled(c *Case) {
	rs.mu.Lock()
	stop := rs.Opts.FailFast && rs.failed
	rs.mu.Unlock()
	if stop {
		rs.finish(c, &caseRecord{verdict: Skipped, msg: "not run: --fail-fast stopped the run after a failure"}, false)
		return
	}
	rs.finish(c, rs.runOne(c), true)
}

// laneOf decides where a case runs; see lane.
func (rs *RunState) laneOf(c *Case) lane {
	clock := rs.Side == Connector && rs.Conn.Ctl != nil && rs.Conn.Info.Clock
	switch {
	case c.Last:
		return laneLast
	case c.Global, c.Needs&NeedClock != 0, c.MovesClock && clock:
		return laneAlone
	case c.Refuses, rs.Side == Connector && area(c.Reqs[0]) == "AUTH":
		return laneRefusals
	}
	return laneFree
}

// preVerdict decides a case's verdict without running it: not selected,
// feature not in force, op not advertised, needs unmet. It returns "" when
// the case must run. Preflight cases ignore the selection.
func (rs *RunState) preVerdict(c *Case, selectable bool) (Verdict, string) {
	if selectable {
		if why := rs.deselected(c); why != "" {
			return Skipped, why
		}
	}
	if c.feat != "core" {
		if f, ok := rs.features[c.feat]; !ok || !f.InForce {
			return NotApplicable, "feature " + c.feat + " is not in force (" + rs.FeatureSource(c.feat) + ")"
		}
	}
	if f := c.RouteFeature; f != "" && f != c.feat {
		if st, ok := rs.features[f]; !ok || !st.InForce {
			return NotApplicable, "feature " + f + " is not in force (" + rs.FeatureSource(f) + ")"
		}
	}
	if c.Op != "" && rs.Side == Connector && !rs.Conn.advertises(c.Op) {
		return NotApplicable, "op " + c.Op + " is not in the descriptor's supported_ops"
	}
	if missing := rs.unmet(c.Needs); missing != "" {
		return Untestable, missing
	}
	return "", ""
}

// finish stores a case's record and prints its progress line; ran says
// whether its body ran (the numbered lines) or its verdict was decided up
// front.
func (rs *RunState) finish(c *Case, rec *caseRecord, ran bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.records[c.ID] = rec
	if rec.verdict == Fail || (rec.verdict == Blocked && rec.cause != nil && rec.cause.Kind == CauseFail) {
		rs.failed = true
	}
	if rs.Opts.Progress == nil || rec.verdict == Skipped {
		return
	}
	head := "      -"
	if ran {
		rs.finished++
		head = fmt.Sprintf("[%d/%d]", rs.finished, rs.total)
	}
	line := fmt.Sprintf("%s %-13s %s", head, strings.ToUpper(string(rec.verdict)), c.ID)
	if rec.verdict != Pass {
		msg := rec.msg
		if rec.cause != nil {
			msg = "blocked by " + rec.cause.String()
		}
		if rec.verdict == Warn && len(rec.warnings) > 0 {
			msg = rec.warnings[0]
		}
		line += "  " + firstLine(msg)
	}
	if ran {
		line += fmt.Sprintf(" (%.1fs)", rec.duration.Seconds())
	}
	fmt.Fprintln(rs.Opts.Progress, line)
}

// markBroken records the root cause of a preflight case that did not
// pass, so that the cases relying on its basic are blocked by it.
func (rs *RunState) markBroken(c *Case, v Verdict, msg string, cause *RootCause) {
	if c.Basic == "" {
		return
	}
	var rc RootCause
	switch v {
	case Pass, Warn, Skipped:
		return
	case Fail:
		rc = RootCause{Case: c.ID, Kind: CauseFail, Message: firstLine(msg)}
		rc.Requirement = requirementOf(msg, c.Reqs[0])
	case Blocked:
		rc = *cause
		rc.Case = c.ID
	case HarnessError:
		rc = RootCause{Case: c.ID, Kind: CauseHarness, Message: firstLine(msg)}
	default: // untestable, n/a
		rc = RootCause{Case: c.ID, Kind: CauseUntestable, Message: firstLine(msg)}
	}
	rs.mu.Lock()
	rs.broken[c.Basic] = rc
	rs.mu.Unlock()
}

// requirementOf reads the requirement ID a failure message leads with.
func requirementOf(msg, fallback string) string {
	id, _, _ := strings.Cut(msg, " ")
	if _, ok := contract.LookupRequirement(id); ok {
		return id
	}
	return fallback
}

// runOne runs one case to its end and returns its record.
func (rs *RunState) runOne(c *Case) *caseRecord {
	start := time.Now()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 6 * rs.Opts.wait()
		if rs.Side == Gateway {
			// A case's first wait may be the gateway's start.
			timeout = max(timeout, rs.gw.startTimeout()+4*rs.Opts.wait())
		}
	}
	ctx, cancel := context.WithTimeout(background(), timeout)
	defer cancel()
	s := &S{Ctx: ctx, C: c, Run: rs, Tr: newTranscript()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.runCleanups()
		defer func() {
			if r := recover(); r != nil {
				s.setOutcome(HarnessError, fmt.Sprintf("the case panicked: %v\n%s", r, debug.Stack()), nil)
			}
		}()
		rs.body(s)
	}()
	timer := time.NewTimer(timeout + caseGrace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.setOutcome(HarnessError, fmt.Sprintf("the case did not end within its %s timeout", timeout), nil)
	}
	s.Mu.Lock()
	defer s.Mu.Unlock()
	out := s.out
	if out == nil {
		out = &outcome{verdict: Pass}
		if len(s.warnings) > 0 {
			out.verdict = Warn
		}
	}
	rec := &caseRecord{
		verdict: out.verdict, msg: out.msg, cause: out.cause,
		warnings: s.warnings, observed: s.observed, outside: s.outside,
		duration: time.Since(start),
	}
	if rec.verdict != Pass || len(s.warnings) > 0 || len(s.outside) > 0 {
		rec.transcript = s.Tr.String()
	}
	return rec
}

// body runs the side's per-case set-up, then the case's body, then raises
// the frame violations its readers found.
func (rs *RunState) body(s *S) {
	switch rs.Side {
	case Connector:
		rs.Conn.setup(s)
	case Gateway:
		rs.gw.setup(s)
	}
	s.C.body(s)
	s.flush()
}

// runCleanups runs the case's cleanups, last registered first, each on
// its own goroutine so that a verdict method called by one cannot stop the
// others, and each within cleanupBound.
func (s *S) runCleanups() {
	for {
		s.Mu.Lock()
		if len(s.cleanups) == 0 {
			s.Mu.Unlock()
			return
		}
		fn := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.Mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					s.setOutcome(HarnessError, fmt.Sprintf("a cleanup panicked: %v", r), nil)
				}
			}()
			fn()
		}()
		select {
		case <-done:
		case <-time.After(cleanupBound):
			s.setOutcome(HarnessError, fmt.Sprintf("a cleanup did not end within %s", cleanupBound), nil)
			return
		}
	}
}

// Rely blocks the case when the basic it is about to use did not hold in
// the preflight, unless the case itself judges the requirement that broke
// it (then it runs, and fails under that requirement on its own).
func (s *S) Rely(basic string) {
	if s.C.Basic == basic {
		return
	}
	s.Run.mu.Lock()
	cause, ok := s.Run.broken[basic]
	s.Run.mu.Unlock()
	if !ok || (cause.Requirement != "" && s.proves(cause.Requirement)) {
		return
	}
	s.Blocked(cause)
}
