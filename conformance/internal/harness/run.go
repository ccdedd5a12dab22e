package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/relaykit/relaykit/contract"
)

// SuiteVersion identifies this version of the suite in reports.
const SuiteVersion = "relaykit-conform/2"

// DefaultParallel is how many cases run at once unless Options.Parallel
// says otherwise.
const DefaultParallel = 4

// Options are the settings both suites share.
type Options struct {
	// Implementation names the implementation under test (name and
	// version) for reports. Default: the target URL or command.
	Implementation string

	// Strict fails the run on SHOULD violations instead of warning.
	Strict bool
	// Fast leaves out the cases that wait on real backoff timers.
	Fast bool

	// Focus runs only cases whose case ID or any requirement ID starts with
	// one of these prefixes (case-sensitive, e.g. "AUTH", "IDLE-01",
	// "HS-004/"). Empty runs every case. A focus that selects no case is a
	// usage error.
	Focus []string
	// Skip leaves out cases whose case ID or requirement IDs start with one
	// of these prefixes. Skip wins over Focus.
	Skip []string
	// LabelFilter is a Ginkgo label filter over the case labels
	// (requirement IDs, MUST/SHOULD/MAY, connector/gateway, the feature,
	// "slow"), e.g. "MUST && !slow". A filter that does not parse is a
	// usage error.
	LabelFilter string

	// Features forces optional features on (true) or off (false),
	// overriding what the implementation advertises or declares.
	Features map[string]bool

	// Wait bounds each wait for something the implementation should do
	// (a frame, a close, a dial). Default 5 s. Waits for something that
	// must not happen use a fraction of it. A wait also ends early, after
	// a short grace, when the implementation answers with a frame of type
	// "error" or closes the connection.
	Wait time.Duration

	// Parallel is how many cases run at once. Default DefaultParallel; 1
	// runs them one after another. Cases that move the connector's clock,
	// inject faults or flood it with refused tokens always run alone after
	// the others, and cases that present refused tokens run one at a time,
	// so a connector's own throttling never leaks into other cases. A
	// connector suite without the testee control API runs one case at a
	// time: every case then shares the one configured gateway.
	Parallel int
	// FailFast stops starting new cases once one has failed (or been
	// blocked by a failure); the cases not run are reported skipped.
	FailFast bool

	// JUnitReport and GinkgoJSONReport, when set, are files Ginkgo writes
	// its JUnit XML and JSON reports to.
	JUnitReport      string
	GinkgoJSONReport string

	// Output receives Ginkgo's console output. Nil keeps Ginkgo's default
	// (standard output), which is what go test users see.
	Output io.Writer
	// Progress, when set, receives one line per case as it finishes.
	Progress io.Writer
	// Verbose makes Ginkgo's console output verbose.
	Verbose bool

	// Baseline lists expected failures; see ReadBaseline.
	Baseline *Baseline
}

func (o Options) wait() time.Duration {
	if o.Wait <= 0 {
		return 5 * time.Second
	}
	return o.Wait
}

func (o Options) parallel() int {
	if o.Parallel <= 0 {
		return DefaultParallel
	}
	return o.Parallel
}

// TestingT is what the suites need from a test: *testing.T satisfies it.
type TestingT interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// RunState is the state shared by every case of one run.
type RunState struct {
	Side     Side
	Opts     Options
	Conn     *connectorTarget
	gw       *gatewayTarget
	features map[string]FeatureStatus
	cases    []*Case
	DryRun   bool // build and report the tree without running bodies
	Specs    []types.SpecReport

	// labelFilter and the Ginkgo focus/skip expressions select cases
	// before they run.
	labelFilter types.LabelFilter
	focusRE     []*regexp.Regexp
	skipRE      []*regexp.Regexp

	// Notes are remarks found before the cases ran (Result.Notes).
	Notes []string

	mu      sync.Mutex
	records map[string]*caseRecord
	// broken holds the root cause of each basic whose preflight case did
	// not pass; cases that rely on the basic are blocked by it.
	broken   map[string]RootCause
	failed   bool // a case failed or was blocked by a failure (FailFast)
	finished int
	total    int
}

// caseRecord is everything the run learned about one case.
type caseRecord struct {
	verdict    Verdict
	msg        string
	cause      *RootCause
	warnings   []string
	observed   []string
	outside    []Finding
	transcript string
	duration   time.Duration
}

var (
	runOnce sync.Mutex
	ran     bool
)

// errAlreadyRan is returned when a second suite run is attempted in one
// process: Ginkgo's RunSpecs may be called only once per process.
var errAlreadyRan = errors.New("conformance: a suite already ran in this process; Ginkgo allows one RunSpecs per process (run each suite in its own test binary or subprocess)")

// select prepares case selection: the label filter and Ginkgo's own focus
// and skip expressions (from -ginkgo.* flags under go test). It returns a
// usage error for a filter that does not parse.
func (rs *RunState) prepareSelection() error {
	sc, _ := ginkgo.GinkgoConfiguration()
	filter := rs.Opts.LabelFilter
	if sc.LabelFilter != "" {
		if filter != "" {
			filter = "(" + sc.LabelFilter + ") && (" + filter + ")"
		} else {
			filter = sc.LabelFilter
		}
	}
	if filter != "" {
		lf, err := types.ParseLabelFilter(filter)
		if err != nil {
			return fmt.Errorf("label filter %q does not parse: %s", filter, plainGinkgoError(err))
		}
		rs.labelFilter = lf
	}
	for _, f := range sc.FocusStrings {
		re, err := regexp.Compile(f)
		if err != nil {
			return fmt.Errorf("focus %q: %v", f, err)
		}
		rs.focusRE = append(rs.focusRE, re)
	}
	for _, f := range sc.SkipStrings {
		re, err := regexp.Compile(f)
		if err != nil {
			return fmt.Errorf("skip %q: %v", f, err)
		}
		rs.skipRE = append(rs.skipRE, re)
	}
	return nil
}

// plainGinkgoError renders a Ginkgo error as one plain line, without the
// colour codes and layout Ginkgo uses on a terminal.
func plainGinkgoError(err error) string {
	var ge types.GinkgoError
	msg := err.Error()
	if errors.As(err, &ge) {
		msg = ge.Heading
		if ge.Message != "" {
			msg += ": " + ge.Message
		}
	}
	msg = ansiCodes.ReplaceAllString(msg, "")
	msg = strings.Join(strings.Fields(msg), " ")
	return msg
}

var ansiCodes = regexp.MustCompile(`\x1b\[[0-9;]*m|\{\{/?[a-z-]+\}\}`)

// checkSelection returns a usage error when the selection (focus, skip,
// label filter, --fast) leaves no case of the side to run.
func (rs *RunState) checkSelection() error {
	for _, c := range casesOf(rs.Side) {
		if rs.deselected(c) == "" {
			return nil
		}
	}
	var parts []string
	if len(rs.Opts.Focus) > 0 {
		parts = append(parts, "--focus "+strings.Join(rs.Opts.Focus, ","))
	}
	if len(rs.Opts.Skip) > 0 {
		parts = append(parts, "--skip "+strings.Join(rs.Opts.Skip, ","))
	}
	if rs.Opts.LabelFilter != "" {
		parts = append(parts, "--label-filter "+rs.Opts.LabelFilter)
	}
	if rs.Opts.Fast {
		parts = append(parts, "--fast")
	}
	return fmt.Errorf("no %s case matches %s (see conform list)", rs.Side, strings.Join(parts, " "))
}

// Execute runs the cases of rs.side and returns the result. The cases run
// first, concurrently (runAll); Ginkgo then replays each case's recorded
// outcome as one spec, so its console output and its JUnit and JSON
// reports carry the same verdicts as the Result.
func Execute(t ginkgo.GinkgoTestingT, rs *RunState, target string) (*Result, error) {
	runOnce.Lock()
	defer runOnce.Unlock()
	if ran {
		return nil, errAlreadyRan
	}
	ran = true
	if errs := Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("conformance: invalid suite definition: %w", errors.Join(errs...))
	}
	rs.cases = casesOf(rs.Side)
	if rs.labelFilter == nil && rs.focusRE == nil {
		if err := rs.prepareSelection(); err != nil {
			return nil, &UsageError{err}
		}
	}

	res := &Result{
		Side:            rs.Side,
		Implementation:  rs.Opts.Implementation,
		Target:          target,
		ContractVersion: contract.Version,
		SuiteVersion:    SuiteVersion,
		Started:         time.Now().UTC(),
		Strict:          rs.Opts.Strict,
		Fast:            rs.Opts.Fast,
		Parallel:        rs.Opts.parallel(),
	}
	if res.Implementation == "" {
		res.Implementation = target
	}
	for _, f := range rs.features {
		res.Features = append(res.Features, f)
	}
	sort.Slice(res.Features, func(i, j int) bool { return res.Features[i].Name < res.Features[j].Name })

	start := time.Now()
	if !rs.DryRun {
		rs.runAll()
	}
	res.Duration = time.Since(start)

	rs.define()
	var (
		mu      sync.Mutex
		reports []types.SpecReport
	)
	ginkgo.ReportAfterSuite("conformance result", func(r types.Report) {
		mu.Lock()
		defer mu.Unlock()
		for _, sr := range r.SpecReports {
			if sr.LeafNodeType == types.NodeTypeIt {
				reports = append(reports, sr)
			}
		}
	})

	sc, rc := ginkgo.GinkgoConfiguration()
	sc.RandomizeAllSpecs = false
	sc.DryRun = rs.DryRun
	sc.FailOnEmpty = false
	// Selection already happened; Ginkgo replays every case, selected or
	// not, so its reports list each one with its verdict.
	sc.LabelFilter, sc.FocusStrings, sc.SkipStrings = "", nil, nil
	if sc.Timeout < time.Hour {
		sc.Timeout = time.Hour
	}
	if rs.Opts.JUnitReport != "" {
		rc.JUnitReport = rs.Opts.JUnitReport
	}
	if rs.Opts.GinkgoJSONReport != "" {
		rc.JSONReport = rs.Opts.GinkgoJSONReport
	}
	if rs.Opts.Verbose {
		rc.Verbose = true
	}
	if rs.Opts.Output != nil {
		prev := formatter.ColorableStdOut
		formatter.ColorableStdOut = rs.Opts.Output
		defer func() { formatter.ColorableStdOut = prev }()
		if f, ok := rs.Opts.Output.(*os.File); !ok || f != os.Stdout {
			rc.NoColor = true
		}
	}
	ginkgo.RunSpecs(t, fmt.Sprintf("relay %s conformance (contract v%d)", rs.Side, contract.Version), sc, rc)

	rs.Specs = reports
	byID := map[string]types.SpecReport{}
	for _, sr := range reports {
		byID[caseIDOf(sr)] = sr
	}
	for _, c := range rs.cases {
		cr := CaseResult{
			ID: c.ID, Requirements: c.Reqs, Level: c.level, Side: c.side,
			Feature: c.feat, Text: c.Text, SpecRef: c.SpecRef(),
		}
		rec := rs.record(c.ID)
		if rec == nil {
			cr.Verdict, cr.Message = Skipped, "not run"
		} else {
			cr.Verdict, cr.Message, cr.Cause = rec.verdict, rec.msg, rec.cause
			cr.Warnings, cr.Observed = rec.warnings, rec.observed
			cr.Transcript, cr.Duration = rec.transcript, rec.duration
			res.Findings = append(res.Findings, rec.outside...)
		}
		if sr, ok := byID[c.ID]; ok && !rs.DryRun {
			// Ginkgo's reports must say what the Result says.
			if v, _ := classify(sr); v != cr.Verdict && !(v == Skipped && cr.Verdict == Skipped) {
				res.SuiteErrors = append(res.SuiteErrors, fmt.Sprintf("%s: Ginkgo reports %s, the suite %s", c.ID, v, cr.Verdict))
			}
		}
		res.Cases = append(res.Cases, cr)
	}
	res.Notes = append(res.Notes, rs.Notes...)
	if rs.Opts.Baseline != nil {
		rs.Opts.Baseline.Apply(res)
	}
	return res, nil
}

// record returns the record of case id, or nil.
func (rs *RunState) record(id string) *caseRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.records[id]
}

// caseIDOf reads the case ID back from a spec report.
func caseIDOf(sr types.SpecReport) string {
	for _, e := range sr.ReportEntries {
		if e.Name == entryCaseID {
			return e.StringRepresentation()
		}
	}
	// Specs that never ran their body: the ID leads the spec text.
	id, _, _ := strings.Cut(sr.LeafNodeText, ": ")
	return id
}

// define builds the Ginkgo tree: one container per area, one It per case,
// each replaying the case's recorded outcome. Containers carry no labels
// at all, so a level label can only ever sit on a leaf spec.
func (rs *RunState) define() {
	ginkgo.Describe(string(rs.Side), func() {
		for _, a := range areas {
			var cs []*Case
			for _, c := range rs.cases {
				if area(c.Reqs[0]) == a.Code {
					cs = append(cs, c)
				}
			}
			if len(cs) == 0 {
				continue
			}
			ginkgo.Describe(a.Code+" "+a.Title, func() {
				for _, c := range cs {
					ginkgo.It(c.ID+": "+c.Text, ginkgo.Label(c.Labels()...), func() { rs.replay(c) })
				}
			})
		}
	})
}

// replay turns a case's recorded outcome into Ginkgo's vocabulary: report
// entries for the case ID, spec-ref, warnings, observations and
// transcript, and a failure or skip message whose prefix carries the
// verdict (see classify).
func (rs *RunState) replay(c *Case) {
	ginkgo.AddReportEntry(entryCaseID, c.ID, ginkgo.ReportEntryVisibilityNever)
	ginkgo.AddReportEntry(entrySpecRef, c.SpecRef(), ginkgo.ReportEntryVisibilityFailureOrVerbose)
	for _, ls := range ginkgo.CurrentSpecReport().ContainerHierarchyLabels {
		for _, l := range ls {
			if IsLevel(l) {
				ginkgo.Fail(prefixHarness + "level label " + l + " on a container; levels belong on leaf specs only")
			}
		}
	}
	rec := rs.record(c.ID)
	if rec == nil {
		ginkgo.Skip(prefixNotSelected + "not run")
	}
	for _, w := range rec.warnings {
		ginkgo.AddReportEntry(entryWarning, w, ginkgo.ReportEntryVisibilityFailureOrVerbose)
	}
	for _, o := range rec.observed {
		ginkgo.AddReportEntry(entryObserved, o, ginkgo.ReportEntryVisibilityFailureOrVerbose)
	}
	if rec.transcript != "" {
		ginkgo.AddReportEntry(entryTranscript, rec.transcript, ginkgo.ReportEntryVisibilityFailureOrVerbose)
	}
	switch rec.verdict {
	case Pass, Warn:
	case Fail:
		ginkgo.Fail(prefixNonConformant + rec.msg)
	case HarnessError:
		ginkgo.Fail(prefixHarness + rec.msg)
	case Blocked:
		ginkgo.Skip(prefixBlocked + rec.msg)
	case Untestable:
		ginkgo.Skip(prefixUntestable + rec.msg)
	case NotApplicable:
		ginkgo.Skip(prefixNotApplicable + rec.msg)
	default:
		ginkgo.Skip(prefixNotSelected + rec.msg)
	}
}

// deselected says why a case is left out of this run, or "".
func (rs *RunState) deselected(c *Case) string {
	match := func(prefixes []string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(c.ID, p) {
				return true
			}
			for _, r := range c.Reqs {
				if strings.HasPrefix(r, p) {
					return true
				}
			}
		}
		return false
	}
	if len(rs.Opts.Skip) > 0 && match(rs.Opts.Skip) {
		return "matches --skip"
	}
	if len(rs.Opts.Focus) > 0 && !match(rs.Opts.Focus) {
		return "outside --focus"
	}
	if rs.Opts.Fast && c.Slow {
		return "waits on real backoff timers (--fast)"
	}
	if rs.labelFilter != nil && !rs.labelFilter(c.Labels()) {
		return "filtered out by the label filter"
	}
	if len(rs.focusRE) > 0 || len(rs.skipRE) > 0 {
		text := rs.fullText(c)
		for _, re := range rs.skipRE {
			if re.MatchString(text) {
				return "matches -ginkgo.skip"
			}
		}
		focused := len(rs.focusRE) == 0
		for _, re := range rs.focusRE {
			focused = focused || re.MatchString(text)
		}
		if !focused {
			return "outside -ginkgo.focus"
		}
	}
	return ""
}

// fullText is the text Ginkgo's focus and skip expressions match: the
// container texts and the spec text.
func (rs *RunState) fullText(c *Case) string {
	a := area(c.Reqs[0])
	title := ""
	for _, x := range areas {
		if x.Code == a {
			title = x.Title
		}
	}
	return fmt.Sprintf("%s %s %s %s: %s", rs.Side, a, title, c.ID, c.Text)
}

func (rs *RunState) FeatureSource(name string) string {
	if f, ok := rs.features[name]; ok {
		return f.Source
	}
	return "absent"
}

// unmet returns a description of the needs the run cannot meet, or "".
func (rs *RunState) unmet(n Need) string {
	var missing []string
	for _, nn := range needNames {
		if n&nn.n == 0 {
			continue
		}
		if why := rs.lacks(nn.n); why != "" {
			missing = append(missing, why)
		}
	}
	return strings.Join(missing, "; ")
}

func (rs *RunState) lacks(n Need) string {
	switch rs.Side {
	case Connector:
		return rs.Conn.lacks(n)
	case Gateway:
		return rs.gw.lacks(n)
	}
	return "unknown side"
}

// setFeature records an optional feature's status, letting Options.Features
// override it.
func (rs *RunState) setFeature(name string, inForce bool, source string) {
	if rs.features == nil {
		rs.features = map[string]FeatureStatus{}
	}
	if v, ok := rs.Opts.Features[name]; ok {
		inForce, source = v, "forced"
	}
	rs.features[name] = FeatureStatus{Name: name, InForce: inForce, Source: source}
}

// background is the context cases derive theirs from.
var background = context.Background
