package harness

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Side is the role of the implementation under test: the contract's side,
// one of the two below (never contract.SideBoth).
type Side = contract.Side

const (
	// Connector: the implementation under test is a connector (WebSocket
	// server); the suite plays the gateway.
	Connector = contract.SideConnector
	// Gateway: the implementation under test is a gateway (WebSocket
	// client); the suite plays the connector.
	Gateway = contract.SideGateway
)

// Need is a capability of the testee or the environment that a case depends
// on. A case whose needs are not met is reported as untestable, never as
// passed.
type Need uint

const (
	// NeedControl: the connector exposes the testee control API (enroll,
	// inject, outbound log); see docs/conformance-guide.md.
	NeedControl Need = 1 << iota
	// NeedClock: the connector's control API can move its clock.
	NeedClock
	// NeedWake: the connector supports wake URLs and the suite can register
	// one through the control API.
	NeedWake
	// NeedEcho: the gateway under test declares the echo profile.
	NeedEcho
	// NeedTimers: the gateway under test honours the timer knobs of the
	// gateway testee contract (RELAYKIT_* env).
	NeedTimers
	// NeedTwoPlatforms: the connector fronts at least two platforms for
	// the gateway under test.
	NeedTwoPlatforms
	// NeedSignal: the gateway process can be sent SIGTERM (not on Windows).
	NeedSignal
)

var needNames = []struct {
	n    Need
	name string
}{
	{NeedControl, "control"},
	{NeedClock, "clock"},
	{NeedWake, "wake"},
	{NeedEcho, "echo"},
	{NeedTimers, "timers"},
	{NeedTwoPlatforms, "two-platforms"},
	{NeedSignal, "signal"},
}

// String lists the needs by name.
func (n Need) String() string {
	var parts []string
	for _, nn := range needNames {
		if n&nn.n != 0 {
			parts = append(parts, nn.name)
		}
	}
	return strings.Join(parts, ",")
}

// Case is one conformance check: one Ginkgo spec labelled with the
// requirements it proves.
type Case struct {
	// ID is stable and unique: "<first requirement>/<slug>", e.g.
	// "AUTH-010/wrong-key". Baselines and --focus name cases by it.
	ID string
	// Reqs are the requirement IDs the case checks, primary first. All of
	// them share one level.
	Reqs []string
	// Text is the spec sentence: what a conforming implementation does.
	Text string
	// Needs lists testee capabilities the case depends on.
	Needs Need
	// Slow marks cases that wait on real backoff timers; --fast leaves
	// them out.
	Slow bool
	// Timeout bounds the whole case; 0 means the suite default.
	Timeout time.Duration
	// Op, when set, is an op the connector must advertise for the case to
	// apply; otherwise the case is not applicable.
	Op string
	// Basic, when set, makes the case a preflight check of a basic other
	// cases rely on (see S.Rely): it runs before every other case, whatever
	// the selection, and when it does not pass, the cases relying on the
	// basic are blocked by it instead of failing on their own.
	Basic string

	// The fields below are set by the suite's own cases and read by the
	// runner when it schedules them and decides whether they apply.

	// MovesClock: the case may move a controllable connector clock, which
	// would age every other case's tokens and timers; it runs alone.
	MovesClock bool
	// Global: the case changes what the connector does for every
	// connection (faults); it runs alone.
	Global bool
	// Refuses: the case presents refused tokens or bearers; such cases run
	// one at a time.
	Refuses bool
	// Last: the case leaves the connector throttling the suite's address
	// (a flood); it runs after every other case.
	Last bool
	// RouteFeature is the optional feature whose HTTP route the case
	// calls although its requirement is core (a catalogue entry that
	// sends a bad token to /relay/media): not applicable without it.
	RouteFeature string

	side  Side
	body  func(s *S)
	level string
	feat  string
}

// Side returns the side the case tests.
func (c *Case) Side() Side { return c.side }

// Level returns the case's requirement level: MUST, SHOULD or MAY.
func (c *Case) Level() string { return c.level }

// Feature returns the feature the case belongs to ("core" or an optional
// feature name).
func (c *Case) Feature() string { return c.feat }

// Labels returns the Ginkgo labels of the case's spec: every requirement
// ID, the level, the side and the feature.
func (c *Case) Labels() []string {
	ls := append([]string{}, c.Reqs...)
	ls = append(ls, c.level, string(c.side), c.feat)
	if c.Slow {
		ls = append(ls, "slow")
	}
	return ls
}

// SpecRef returns the contract document anchor of the primary requirement.
func (c *Case) SpecRef() string {
	r, _ := contract.LookupRequirement(c.Reqs[0])
	return specRef(r)
}

var (
	connectorCases []*Case
	gatewayCases   []*Case
	// DefErrs are problems found while registering cases (such as a
	// catalogue that does not load); Validate reports them.
	DefErrs []error
)

// ConnectorCase registers a connector-suite case; it is used in package
// variable initialisers so each file declares its cases next to their code.
func ConnectorCase(c Case, body func(s *S)) *Case {
	c.side, c.body = Connector, body
	connectorCases = append(connectorCases, &c)
	return &c
}

// GatewayCase registers a gateway-suite case.
func GatewayCase(c Case, body func(s *S)) *Case {
	c.side, c.body = Gateway, body
	gatewayCases = append(gatewayCases, &c)
	return &c
}

// Cases returns the cases of one side in suite order (area, then
// requirement number, then case ID). It validates them first and panics on
// a suite-definition bug, which tests catch.
func Cases(side Side) []*Case {
	cs := casesOf(side)
	if errs := Validate(); len(errs) > 0 {
		panic(fmt.Sprintf("conformance: invalid suite definition: %v", errs))
	}
	return cs
}

func casesOf(side Side) []*Case {
	var src []*Case
	switch side {
	case Connector:
		src = connectorCases
	case Gateway:
		src = gatewayCases
	}
	cs := append([]*Case(nil), src...)
	for _, c := range cs {
		c.resolve()
	}
	sort.SliceStable(cs, func(i, j int) bool { return caseLess(cs[i], cs[j]) })
	return cs
}

func caseLess(a, b *Case) bool {
	ai, bi := areaIndex(area(a.Reqs[0])), areaIndex(area(b.Reqs[0]))
	if ai != bi {
		return ai < bi
	}
	an, bn := reqNumber(a.Reqs[0]), reqNumber(b.Reqs[0])
	if an != bn {
		return an < bn
	}
	return a.ID < b.ID
}

func reqNumber(id string) int {
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	return n
}

// resolve fills the level and feature from the registry.
func (c *Case) resolve() {
	if len(c.Reqs) == 0 {
		return
	}
	c.feat = "core"
	for i, id := range c.Reqs {
		r, ok := contract.LookupRequirement(id)
		if !ok {
			continue
		}
		if i == 0 {
			c.level = string(r.Level)
		}
		if r.Feature != "core" {
			c.feat = r.Feature
		}
	}
}

var caseIDPattern = regexp.MustCompile(`^[A-Z]+-[0-9]{3}/[a-z0-9]+(-[a-z0-9]+)*$`)

// levels are the requirement levels, which may only label leaf specs.
var levels = []string{"MUST", "SHOULD", "MAY"}

func IsLevel(s string) bool {
	for _, l := range levels {
		if s == l {
			return true
		}
	}
	return false
}

// Validate checks the suite definition against the requirement registry:
// case IDs well-formed and unique, every requirement ID known and binding
// the case's side, one level and at most one optional feature per case, and
// every observable MUST covered by a case of each side it binds or listed in
// uncovered.yaml with a reason (and no stale uncovered entries). It returns
// every problem found.
func Validate() []error {
	errs := append([]error(nil), DefErrs...)
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	seen := map[string]bool{}
	covered := map[Side]map[string][]string{Connector: {}, Gateway: {}}
	for _, side := range []Side{Connector, Gateway} {
		for _, c := range casesOf(side) {
			if !caseIDPattern.MatchString(c.ID) {
				bad("case %q: ID must look like AREA-NNN/slug", c.ID)
			}
			if seen[c.ID] {
				bad("case %q: duplicate case ID", c.ID)
			}
			seen[c.ID] = true
			if c.body == nil {
				bad("case %q: no body", c.ID)
			}
			if strings.TrimSpace(c.Text) == "" {
				bad("case %q: no spec text", c.ID)
			}
			if len(c.Reqs) == 0 {
				bad("case %q: no requirement IDs", c.ID)
				continue
			}
			if !strings.HasPrefix(c.ID, c.Reqs[0]+"/") {
				bad("case %q: ID must start with its primary requirement %s", c.ID, c.Reqs[0])
			}
			dup := map[string]bool{}
			feats := map[string]bool{}
			for _, id := range c.Reqs {
				if dup[id] {
					bad("case %q: requirement %s listed twice", c.ID, id)
				}
				dup[id] = true
				r, ok := contract.LookupRequirement(id)
				if !ok {
					bad("case %q: unknown requirement ID %s", c.ID, id)
					continue
				}
				if string(r.Level) != c.level {
					bad("case %q: requirement %s is %s but the case is %s; split the case", c.ID, id, r.Level, c.level)
				}
				if !r.Binds(side) {
					bad("case %q: requirement %s binds the %s, not the %s", c.ID, id, r.Side, side)
				}
				if r.Feature != "core" {
					feats[r.Feature] = true
				}
				covered[side][id] = append(covered[side][id], c.ID)
			}
			if len(feats) > 1 {
				bad("case %q: spans several optional features %v", c.ID, feats)
			}
		}
	}

	unc, err := loadUncovered()
	if err != nil {
		bad("uncovered.yaml: %v", err)
	}
	for key, u := range unc {
		r, ok := contract.LookupRequirement(u.ID)
		switch {
		case !ok:
			bad("uncovered.yaml: unknown requirement %s", u.ID)
			continue
		case strings.TrimSpace(u.Reason) == "":
			bad("uncovered.yaml: %s (%s) has no reason", u.ID, u.Side)
		case !r.Binds(u.Side):
			bad("uncovered.yaml: %s binds the %s, not the %s", u.ID, r.Side, u.Side)
		}
		if cs := covered[u.Side][u.ID]; len(cs) > 0 {
			bad("uncovered.yaml: %s (%s) is covered by %v; remove the stale entry", u.ID, u.Side, cs)
		}
		_ = key
	}
	for _, r := range contract.Requirements() {
		if r.Level != "MUST" || !r.Observable {
			continue
		}
		for _, side := range []Side{Connector, Gateway} {
			if !r.Binds(side) {
				continue
			}
			if len(covered[side][r.ID]) == 0 {
				if _, ok := unc[uncoveredKey(r.ID, side)]; !ok {
					bad("requirement %s (MUST, %s) has no %s case and no uncovered.yaml entry", r.ID, r.Side, side)
				}
			}
		}
	}
	return errs
}
