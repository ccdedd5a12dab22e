package conformance

import (
	"errors"
	"fmt"
	"io"
	"os"
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
const SuiteVersion = "relaykit-conform/1"

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
	// "HS-004/"). Empty runs every case.
	Focus []string
	// Skip leaves out cases whose case ID or requirement IDs start with one
	// of these prefixes. Skip wins over Focus.
	Skip []string
	// LabelFilter is a Ginkgo label filter over the case labels
	// (requirement IDs, MUST/SHOULD/MAY, connector/gateway, the feature,
	// "slow"), e.g. "MUST && !slow".
	LabelFilter string

	// Features forces optional features on (true) or off (false),
	// overriding what the implementation advertises or declares.
	Features map[string]bool

	// Wait bounds each wait for something the implementation should do
	// (a frame, a close, a dial). Default 5 s. Waits for something that
	// must not happen use a fraction of it.
	Wait time.Duration

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

// TestingT is what the suites need from a test: *testing.T satisfies it.
type TestingT interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// runState is the state shared by every case of one run.
type runState struct {
	side     Side
	opts     Options
	conn     *connectorTarget
	gw       *gatewayTarget
	features map[string]FeatureStatus
	cases    []*Case
	dryRun   bool // build and report the tree without running bodies
	specs    []types.SpecReport
}

var (
	runOnce sync.Mutex
	ran     bool
)

// errAlreadyRan is returned when a second suite run is attempted in one
// process: Ginkgo's RunSpecs may be called only once per process.
var errAlreadyRan = errors.New("conformance: a suite already ran in this process; Ginkgo allows one RunSpecs per process (run each suite in its own test binary or subprocess)")

// execute runs the cases of rs.side through Ginkgo and returns the result.
func execute(t ginkgo.GinkgoTestingT, rs *runState, target string) (*Result, error) {
	runOnce.Lock()
	defer runOnce.Unlock()
	if ran {
		return nil, errAlreadyRan
	}
	ran = true
	if errs := Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("conformance: invalid suite definition: %w", errors.Join(errs...))
	}
	rs.cases = casesOf(rs.side)

	res := &Result{
		Side:            rs.side,
		Implementation:  rs.opts.Implementation,
		Target:          target,
		ContractVersion: contract.Version,
		SuiteVersion:    SuiteVersion,
		Started:         time.Now().UTC(),
		Strict:          rs.opts.Strict,
		Fast:            rs.opts.Fast,
	}
	if res.Implementation == "" {
		res.Implementation = target
	}
	for _, f := range rs.features {
		res.Features = append(res.Features, f)
	}
	sort.Slice(res.Features, func(i, j int) bool { return res.Features[i].Name < res.Features[j].Name })

	rs.define()

	var (
		mu      sync.Mutex
		reports []types.SpecReport
		done    int
	)
	total := len(rs.cases)
	ginkgo.ReportAfterEach(func(sr types.SpecReport) {
		if sr.LeafNodeType != types.NodeTypeIt || rs.opts.Progress == nil {
			return
		}
		mu.Lock()
		done++
		n := done
		mu.Unlock()
		v, msg := classify(sr)
		line := fmt.Sprintf("[%d/%d] %-13s %s", n, total, strings.ToUpper(string(v)), caseIDOf(sr))
		if v != Pass && v != Skipped {
			line += "  " + firstLine(msg)
		}
		if sr.RunTime > 0 && v != Skipped {
			line += fmt.Sprintf(" (%.1fs)", sr.RunTime.Seconds())
		}
		fmt.Fprintln(rs.opts.Progress, line)
	})
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
	sc.DryRun = rs.dryRun
	sc.FailOnEmpty = false
	if rs.opts.LabelFilter != "" {
		if sc.LabelFilter != "" {
			sc.LabelFilter = "(" + sc.LabelFilter + ") && (" + rs.opts.LabelFilter + ")"
		} else {
			sc.LabelFilter = rs.opts.LabelFilter
		}
	}
	if sc.Timeout < time.Hour {
		sc.Timeout = time.Hour
	}
	if rs.opts.JUnitReport != "" {
		rc.JUnitReport = rs.opts.JUnitReport
	}
	if rs.opts.GinkgoJSONReport != "" {
		rc.JSONReport = rs.opts.GinkgoJSONReport
	}
	if rs.opts.Verbose {
		rc.Verbose = true
	}
	if rs.opts.Output != nil {
		prev := formatter.ColorableStdOut
		formatter.ColorableStdOut = rs.opts.Output
		defer func() { formatter.ColorableStdOut = prev }()
		if f, ok := rs.opts.Output.(*os.File); !ok || f != os.Stdout {
			rc.NoColor = true
		}
	}
	start := time.Now()
	ginkgo.RunSpecs(t, fmt.Sprintf("relay %s conformance (contract v%d)", rs.side, contract.Version), sc, rc)
	res.Duration = time.Since(start)

	rs.specs = reports
	byID := map[string]types.SpecReport{}
	for _, sr := range reports {
		byID[caseIDOf(sr)] = sr
	}
	for _, c := range rs.cases {
		cr := CaseResult{
			ID: c.ID, Requirements: c.Reqs, Level: c.level, Side: c.side,
			Feature: c.feat, Text: c.Text, SpecRef: c.SpecRef(),
		}
		sr, ok := byID[c.ID]
		if !ok {
			// Filtered out before it ran (label filter): Ginkgo still
			// reports it as skipped, but be safe.
			cr.Verdict, cr.Message = Skipped, "filtered out"
		} else {
			cr.Verdict, cr.Message = classify(sr)
			cr.Warnings = entries(sr, entryWarning)
			cr.Observed = entries(sr, entryObserved)
			if tr := entries(sr, entryTranscript); len(tr) > 0 {
				cr.Transcript = tr[0]
			}
			cr.Duration = sr.RunTime
		}
		res.Cases = append(res.Cases, cr)
	}
	if rs.opts.Baseline != nil {
		rs.opts.Baseline.Apply(res)
	}
	return res, nil
}

// caseIDOf reads the case ID back from a spec report.
func caseIDOf(sr types.SpecReport) string {
	for _, e := range sr.ReportEntries {
		if e.Name == entryCaseID {
			return e.StringRepresentation()
		}
	}
	// Skipped specs never ran their body; the ID leads the spec text.
	id, _, _ := strings.Cut(sr.LeafNodeText, ": ")
	return id
}

// define builds the Ginkgo tree: one container per area, one It per case.
// Containers carry no labels at all, so a level label can only ever sit on
// a leaf spec.
func (rs *runState) define() {
	ginkgo.Describe(string(rs.side), func() {
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
					c := c
					timeout := c.Timeout
					if timeout == 0 {
						timeout = 6 * rs.opts.wait()
					}
					ginkgo.It(c.ID+": "+c.Text, ginkgo.Label(c.Labels()...), ginkgo.SpecTimeout(timeout),
						func(ctx ginkgo.SpecContext) { rs.runCase(ctx, c) })
				}
			})
		}
	})
}

// runCase runs one case: selection, needs and features first, then the
// side's per-case set-up, then the body.
func (rs *runState) runCase(ctx ginkgo.SpecContext, c *Case) {
	ginkgo.AddReportEntry(entryCaseID, c.ID, ginkgo.ReportEntryVisibilityNever)
	ginkgo.AddReportEntry(entrySpecRef, c.SpecRef(), ginkgo.ReportEntryVisibilityFailureOrVerbose)
	for _, ls := range ginkgo.CurrentSpecReport().ContainerHierarchyLabels {
		for _, l := range ls {
			if isLevel(l) {
				ginkgo.Fail(prefixHarness + "level label " + l + " on a container; levels belong on leaf specs only")
			}
		}
	}
	s := &S{ctx: ctx, c: c, run: rs, tr: newTranscript()}
	if why := rs.deselected(c); why != "" {
		ginkgo.Skip(prefixNotSelected + why)
	}
	if c.feat != "core" {
		if f, ok := rs.features[c.feat]; !ok || !f.InForce {
			ginkgo.Skip(prefixNotApplicable + "feature " + c.feat + " is not in force (" + rs.featureSource(c.feat) + ")")
		}
	}
	ginkgo.DeferCleanup(func() {
		sr := ginkgo.CurrentSpecReport()
		if sr.Failed() || len(s.warnings) > 0 {
			ginkgo.AddReportEntry(entryTranscript, s.tr.String(), ginkgo.ReportEntryVisibilityFailureOrVerbose)
		}
	})
	if c.Op != "" && rs.side == Connector && !rs.conn.advertises(c.Op) {
		ginkgo.Skip(prefixNotApplicable + "op " + c.Op + " is not in the descriptor's supported_ops")
	}
	if missing := rs.unmet(c.Needs); missing != "" {
		s.Untestable("%s", missing)
	}
	switch rs.side {
	case Connector:
		rs.conn.setup(s)
	case Gateway:
		rs.gw.setup(s)
	}
	c.body(s)
	s.flush()
}

// deselected says why a case is left out of this run, or "".
func (rs *runState) deselected(c *Case) string {
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
	if len(rs.opts.Skip) > 0 && match(rs.opts.Skip) {
		return "matches --skip"
	}
	if len(rs.opts.Focus) > 0 && !match(rs.opts.Focus) {
		return "outside --focus"
	}
	if rs.opts.Fast && c.Slow {
		return "waits on real backoff timers (--fast)"
	}
	return ""
}

func (rs *runState) featureSource(name string) string {
	if f, ok := rs.features[name]; ok {
		return f.Source
	}
	return "absent"
}

// unmet returns a description of the needs the run cannot meet, or "".
func (rs *runState) unmet(n Need) string {
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

func (rs *runState) lacks(n Need) string {
	switch rs.side {
	case Connector:
		return rs.conn.lacks(n)
	case Gateway:
		return rs.gw.lacks(n)
	}
	return "unknown side"
}

// setFeature records an optional feature's status, letting Options.Features
// override it.
func (rs *runState) setFeature(name string, inForce bool, source string) {
	if rs.features == nil {
		rs.features = map[string]FeatureStatus{}
	}
	if v, ok := rs.opts.Features[name]; ok {
		inForce, source = v, "forced"
	}
	rs.features[name] = FeatureStatus{Name: name, InForce: inForce, Source: source}
}
