package contract

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Level is how strongly a requirement binds, in the sense of RFC 2119.
type Level string

// Requirement levels.
const (
	LevelMust   Level = "MUST"
	LevelShould Level = "SHOULD"
	LevelMay    Level = "MAY"
)

// Side is the party a requirement binds.
type Side string

// Sides of the contract. SideBoth binds the connector and the gateway.
const (
	SideConnector Side = "connector"
	SideGateway   Side = "gateway"
	SideBoth      Side = "both"
)

// Requirement is one normative requirement of the contract, as listed in
// requirements.yaml and in docs/relay-connector-contract.md.
type Requirement struct {
	// ID is the stable identifier, such as "OUT-004": an area code, a dash
	// and three digits. IDs are never reused or renumbered.
	ID string
	// Level is MUST, SHOULD or MAY.
	Level Level
	// Side is who the requirement binds.
	Side Side
	// Feature is "core" or the optional feature the requirement belongs to,
	// such as "draft", "media" or "wake".
	Feature string
	// Section is the number of the document section holding the
	// requirement, such as "5.3".
	Section string
	// Title is a short summary.
	Title string
	// Text is the requirement sentence exactly as the document states it.
	Text string
	// Since is the contract version that introduced the requirement.
	Since int
	// Observable reports whether a peer can check the requirement on the
	// wire. It is true unless the registry says otherwise.
	Observable bool
	// Reason says why the requirement is not observable; empty otherwise.
	Reason string
}

// requirementsDoc is the path of the formal contract, relative to the
// module root.
const requirementsDoc = "docs/relay-connector-contract.md"

// requirementSections maps every numbered section of the contract document
// to its heading title. Anchors are derived from it; a test keeps it equal to
// the document's headings.
var requirementSections = map[string]string{
	"1":   "Introduction",
	"1.1": "Scope and roles",
	"1.2": "Terminology",
	"1.3": "Requirement language",
	"1.4": "Requirement notation and registry",
	"1.5": "Conformance levels and features",
	"1.6": "Versioning",

	"2":   "Transport and framing",
	"2.1": "Dialling and the endpoint",
	"2.2": "WebSocket messages",
	"2.3": "Framing",
	"2.4": "Frame size",
	"2.5": "Malformed and unknown frames",
	"2.6": "Keepalive",
	"2.7": "Frame catalogue",

	"3":   "Upgrade authentication",
	"3.1": "Bearer on the upgrade",
	"3.2": "Token format and minting",
	"3.3": "Verification",
	"3.4": "Refusal",
	"3.5": "Test vectors",

	"4":   "Handshake and descriptor",
	"4.1": "Hello",
	"4.2": "Descriptor frames",
	"4.3": "Capability descriptor fields",
	"4.4": "Operation gating",

	"5":   "Outbound actions and results",
	"5.1": "The outbound frame",
	"5.2": "Results and correlation",
	"5.3": "Op table",
	"5.4": "Op semantics",
	"5.5": "Action metadata",
	"5.6": "Failures, declines and ambiguity",
	"5.7": "Result codes",

	"6":   "Inbound, interrupts and passthrough",
	"6.1": "The inbound frame",
	"6.2": "MessageEvent fields",
	"6.3": "SessionSource fields",
	"6.4": "Interrupts",
	"6.5": "Passthrough forwards",
	"6.6": "Prompt responses",

	"7":   "Idle, buffering and drain",
	"7.1": "Going idle",
	"7.2": "Buffering",
	"7.3": "Drain",
	"7.4": "Acknowledgements",
	"7.5": "Dormant gateways",

	"8":   "Wake",
	"8.1": "Registering a wake URL",
	"8.2": "The wake request",

	"9":   "HTTP routes",
	"9.1": "Base URL",
	"9.2": "Common rules",
	"9.3": "Provision",
	"9.4": "Enroll",
	"9.5": "Relevance policy",
	"9.6": "Media",

	"10":   "Close codes and reconnect",
	"10.1": "Close codes",
	"10.2": "Reconnect and backoff",
	"10.3": "4401 strike rules",
	"10.4": "Disconnect and dormant re-dial",

	"11":   "Session keys",
	"11.1": "Inputs",
	"11.2": "Algorithm",
	"11.3": "Examples",

	"12":    "Settled questions",
	"12.1":  "Which transport version is current",
	"12.2":  "Who acknowledges a passthrough forward",
	"12.3":  "When an inbound event is acknowledged",
	"12.4":  "Values of message type",
	"12.5":  "Relevance policy",
	"12.6":  "Provision client and redirects",
	"12.7":  "How the connector refuses authentication",
	"12.8":  "The get_chat_info result and unknown ops",
	"12.9":  "Calls cut off by a lost connection",
	"12.10": "Failures the gateway does not guard against",
	"12.11": "Strictness of the token check",
	"12.12": "Session-key flags and profile",
	"12.13": "What the connector checks at hello",
	"12.14": "Frame size",
	"12.15": "Input the contract leaves to the connector",
	"12.16": "Revoking a live gateway",
	"12.17": "One replay per connection",
	"12.18": "Throttled provisioning",

	"13": "Differences from the reference gateway",
	"14": "History",
}

// requirementAreas maps each requirement area code to the top-level
// document section that holds its requirements.
var requirementAreas = map[string]string{
	"TRN":  "2",
	"AUTH": "3",
	"HS":   "4",
	"OUT":  "5",
	"IN":   "6",
	"IDLE": "7",
	"WAKE": "8",
	"HTTP": "9",
	"RC":   "10",
	"SKEY": "11",
}

// requirementFeatures lists the feature names a requirement may carry.
var requirementFeatures = map[string]bool{
	"core": true, "get_chat_info": true, "draft": true, "task_card": true,
	"delete": true, "send_media": true, "prompt": true, "react": true,
	"thread_create": true, "thread_rename": true, "passthrough": true,
	"wake": true, "dormant": true, "provision": true, "enroll": true,
	"policy": true, "media": true,
}

var requirementIDPattern = regexp.MustCompile(`^([A-Z]+)-\d{3}$`)

//go:embed requirements.yaml
var requirementsYAML []byte

// loadedRequirements parses the embedded registry once, on first use.
var loadedRequirements = sync.OnceValues(func() ([]Requirement, error) {
	return parseRequirements(requirementsYAML)
})

// requirementIndex maps IDs to positions in the loaded registry.
var requirementIndex = sync.OnceValue(func() map[string]int {
	reqs := mustRequirements()
	idx := make(map[string]int, len(reqs))
	for i, r := range reqs {
		idx[r.ID] = i
	}
	return idx
})

// Requirements returns every requirement of the contract in registry order,
// which is the order of the document. The slice is a fresh copy. It panics
// if the embedded registry is malformed, which the package tests rule out.
func Requirements() []Requirement {
	reqs := mustRequirements()
	out := make([]Requirement, len(reqs))
	copy(out, reqs)
	return out
}

// LookupRequirement returns the requirement with the given ID and whether it
// exists.
func LookupRequirement(id string) (Requirement, bool) {
	i, ok := requirementIndex()[id]
	if !ok {
		return Requirement{}, false
	}
	return mustRequirements()[i], true
}

// Binds reports whether r binds side s: r.Side is s, or r.Side is both.
func (r Requirement) Binds(s Side) bool {
	return r.Side == s || r.Side == SideBoth
}

// Anchor returns the link to r's section of the contract document, relative
// to the module root, such as
// "docs/relay-connector-contract.md#53-op-table". It returns the document
// path alone when the section is unknown.
func (r Requirement) Anchor() string {
	slug, ok := requirementSectionSlug(r.Section)
	if !ok {
		return requirementsDoc
	}
	return requirementsDoc + "#" + slug
}

func mustRequirements() []Requirement {
	reqs, err := loadedRequirements()
	if err != nil {
		panic("contract: " + err.Error())
	}
	return reqs
}

// requirementSectionSlug returns the GitHub anchor of a numbered section:
// "5" gives "5-outbound-actions-and-results", "5.3" gives "53-op-table".
func requirementSectionSlug(section string) (string, bool) {
	title, ok := requirementSections[section]
	if !ok {
		return "", false
	}
	heading := section + " " + title
	if !strings.Contains(section, ".") {
		heading = section + ". " + title
	}
	return githubSlug(heading), true
}

// githubSlug turns a heading into the anchor GitHub generates for it: lower
// case, punctuation other than '-' and '_' removed, spaces turned into '-'.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case c == ' ':
			b.WriteByte('-')
		case c == '-' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			b.WriteRune(c)
		}
	}
	return b.String()
}

// requirementEntry is one registry entry as written in YAML.
type requirementEntry struct {
	ID         string `yaml:"id"`
	Level      string `yaml:"level"`
	Side       string `yaml:"side"`
	Feature    string `yaml:"feature"`
	Section    string `yaml:"section"`
	Title      string `yaml:"title"`
	Text       string `yaml:"text"`
	Since      int    `yaml:"since"`
	Observable *bool  `yaml:"observable"`
	Reason     string `yaml:"reason"`
}

// requirementFile is the layout of requirements.yaml.
type requirementFile struct {
	Version      int                `yaml:"version"`
	Requirements []requirementEntry `yaml:"requirements"`
}

// parseRequirements decodes and checks a requirement registry. Unknown keys,
// duplicate IDs, bad IDs, levels, sides, features or sections, and
// non-observable entries without a reason are errors.
func parseRequirements(data []byte) ([]Requirement, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f requirementFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("requirement registry: decode: %w", err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("requirement registry: version is %d, want %d", f.Version, Version)
	}
	if len(f.Requirements) == 0 {
		return nil, errors.New("requirement registry: no requirements")
	}
	out := make([]Requirement, 0, len(f.Requirements))
	seen := make(map[string]bool, len(f.Requirements))
	for i, e := range f.Requirements {
		r, err := e.requirement()
		if err != nil {
			return nil, fmt.Errorf("requirement registry: entry %d (%q): %w", i+1, e.ID, err)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("requirement registry: entry %d: duplicate id %q", i+1, r.ID)
		}
		seen[r.ID] = true
		out = append(out, r)
	}
	return out, nil
}

// requirement checks e and converts it.
func (e requirementEntry) requirement() (Requirement, error) {
	m := requirementIDPattern.FindStringSubmatch(e.ID)
	if m == nil {
		return Requirement{}, fmt.Errorf("id %q does not match AREA-NNN", e.ID)
	}
	area, ok := requirementAreas[m[1]]
	if !ok {
		return Requirement{}, fmt.Errorf("unknown area %q", m[1])
	}
	switch Level(e.Level) {
	case LevelMust, LevelShould, LevelMay:
	default:
		return Requirement{}, fmt.Errorf("level %q is not MUST, SHOULD or MAY", e.Level)
	}
	switch Side(e.Side) {
	case SideConnector, SideGateway, SideBoth:
	default:
		return Requirement{}, fmt.Errorf("side %q is not connector, gateway or both", e.Side)
	}
	if !requirementFeatures[e.Feature] {
		return Requirement{}, fmt.Errorf("unknown feature %q", e.Feature)
	}
	if _, ok := requirementSections[e.Section]; !ok {
		return Requirement{}, fmt.Errorf("unknown section %q", e.Section)
	}
	if top, _, _ := strings.Cut(e.Section, "."); top != area {
		return Requirement{}, fmt.Errorf("section %q is outside section %s of area %s", e.Section, area, m[1])
	}
	if strings.TrimSpace(e.Title) == "" {
		return Requirement{}, errors.New("empty title")
	}
	if strings.TrimSpace(e.Text) == "" {
		return Requirement{}, errors.New("empty text")
	}
	if e.Since < 1 || e.Since > Version {
		return Requirement{}, fmt.Errorf("since %d is not a contract version between 1 and %d", e.Since, Version)
	}
	observable := e.Observable == nil || *e.Observable
	if !observable && strings.TrimSpace(e.Reason) == "" {
		return Requirement{}, errors.New("observable is false but reason is empty")
	}
	if observable && e.Reason != "" {
		return Requirement{}, errors.New("reason is set but the requirement is observable")
	}
	return Requirement{
		ID:         e.ID,
		Level:      Level(e.Level),
		Side:       Side(e.Side),
		Feature:    e.Feature,
		Section:    e.Section,
		Title:      e.Title,
		Text:       e.Text,
		Since:      e.Since,
		Observable: observable,
		Reason:     e.Reason,
	}, nil
}
