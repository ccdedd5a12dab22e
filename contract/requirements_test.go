package contract

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	reqTestDocPath         = "../docs/relay-connector-contract.md"
	reqTestSettlementsPath = "../docs/design/settlements.md"
)

// reqDocLine is the one form a requirement takes in the contract document.
var reqDocLine = regexp.MustCompile(`^- \*\*\[([A-Z]+-\d{3})\] (MUST|SHOULD|MAY)\*\* \((connector|gateway|both)\) (\S.*)$`)

// reqDocHeading matches "## 5. Title" and "### 5.3 Title".
var reqDocHeading = regexp.MustCompile(`^(#{2,3}) (\d+)(?:\.(\d+))?(\.?) (.+)$`)

// reqDocEntry is one requirement as found in the document.
type reqDocEntry struct {
	ID, Level, Side, Text, Section string
	Line                           int
}

// reqDocHeadingEntry is one numbered heading of the document.
type reqDocHeadingEntry struct {
	Number, Title string
	Line          int
}

// reqParseDoc reads the contract document text and returns its requirement
// lines and numbered headings. Lines inside fenced code blocks are skipped.
// Any other line that looks like a requirement but does not have the exact
// form is reported as an error.
func reqParseDoc(text string) (reqs []reqDocEntry, heads []reqDocHeadingEntry, errs []string) {
	section := ""
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := reqDocHeading.FindStringSubmatch(line); m != nil {
			num := m[2]
			sub := m[3] != ""
			if sub {
				num += "." + m[3]
			}
			// Top-level headings are "## N. Title", subsections "### N.M Title".
			if (m[1] == "##") != !sub || (m[4] == ".") != !sub {
				errs = append(errs, fmt.Sprintf("line %d: heading %q is not of the form \"## N. Title\" or \"### N.M Title\"", n, line))
			}
			section = num
			heads = append(heads, reqDocHeadingEntry{Number: num, Title: m[5], Line: n})
			continue
		}
		if m := reqDocLine.FindStringSubmatch(line); m != nil {
			reqs = append(reqs, reqDocEntry{ID: m[1], Level: m[2], Side: m[3], Text: m[4], Section: section, Line: n})
			continue
		}
		if strings.Contains(line, "**[") || regexp.MustCompile(`^\s*[-*] .*\b(MUST|SHOULD|MAY)\*\*`).MatchString(line) {
			errs = append(errs, fmt.Sprintf("line %d: looks like a requirement but is not of the form `- **[AREA-NNN] LEVEL** (side) text`: %q", n, line))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, "scan: "+err.Error())
	}
	return reqs, heads, errs
}

func reqReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func reqLoadDoc(t *testing.T) ([]reqDocEntry, []reqDocHeadingEntry) {
	t.Helper()
	reqs, heads, errs := reqParseDoc(reqReadFile(t, reqTestDocPath))
	for _, e := range errs {
		t.Errorf("%s: %s", reqTestDocPath, e)
	}
	if len(reqs) == 0 {
		t.Fatalf("%s: no requirement lines found", reqTestDocPath)
	}
	return reqs, heads
}

func TestRequirementsRegistryLoads(t *testing.T) {
	reqs, err := loadedRequirements()
	if err != nil {
		t.Fatalf("embedded registry does not load: %v", err)
	}
	if len(reqs) < 50 {
		t.Fatalf("registry has %d requirements, want at least 50", len(reqs))
	}
	idPattern := regexp.MustCompile(`^[A-Z]+-\d{3}$`)
	seen := map[string]bool{}
	for _, r := range Requirements() {
		if !idPattern.MatchString(r.ID) {
			t.Errorf("%s: id does not match AREA-NNN", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("%s: duplicate id", r.ID)
		}
		seen[r.ID] = true
		area, _, _ := strings.Cut(r.ID, "-")
		top, ok := requirementAreas[area]
		if !ok {
			t.Errorf("%s: unknown area %q", r.ID, area)
		} else if s, _, _ := strings.Cut(r.Section, "."); s != top {
			t.Errorf("%s: section %s is not in section %s of area %s", r.ID, r.Section, top, area)
		}
		if !slices.Contains([]Level{LevelMust, LevelShould, LevelMay}, r.Level) {
			t.Errorf("%s: bad level %q", r.ID, r.Level)
		}
		if !slices.Contains([]Side{SideConnector, SideGateway, SideBoth}, r.Side) {
			t.Errorf("%s: bad side %q", r.ID, r.Side)
		}
		if !requirementFeatures[r.Feature] {
			t.Errorf("%s: unknown feature %q", r.ID, r.Feature)
		}
		if !r.Observable && strings.TrimSpace(r.Reason) == "" {
			t.Errorf("%s: not observable but no reason given", r.ID)
		}
		if r.Since != 1 {
			t.Errorf("%s: since = %d, want 1", r.ID, r.Since)
		}
		if r.Title == "" || r.Text == "" {
			t.Errorf("%s: empty title or text", r.ID)
		}
		got, ok := LookupRequirement(r.ID)
		if !ok || got != r {
			t.Errorf("LookupRequirement(%q) = %+v, %v; want %+v, true", r.ID, got, ok, r)
		}
	}
	if _, ok := LookupRequirement("NOPE-999"); ok {
		t.Error("LookupRequirement(NOPE-999) found something")
	}
}

func TestRequirementsReturnsCopy(t *testing.T) {
	a := Requirements()
	a[0].ID = "MUTATED-000"
	if b := Requirements(); b[0].ID == "MUTATED-000" {
		t.Fatal("Requirements returned the registry's own slice")
	}
}

func TestRequirementBindsAndAnchor(t *testing.T) {
	for _, tc := range []struct {
		side          Side
		connector, gw bool
	}{
		{SideConnector, true, false},
		{SideGateway, false, true},
		{SideBoth, true, true},
	} {
		r := Requirement{Side: tc.side}
		if got := r.Binds(SideConnector); got != tc.connector {
			t.Errorf("side %s: Binds(connector) = %v", tc.side, got)
		}
		if got := r.Binds(SideGateway); got != tc.gw {
			t.Errorf("side %s: Binds(gateway) = %v", tc.side, got)
		}
	}
	for id, want := range map[string]string{
		"OUT-004":  "docs/relay-connector-contract.md#53-op-table",
		"TRN-001":  "docs/relay-connector-contract.md#23-framing",
		"RC-011":   "docs/relay-connector-contract.md#103-4401-strike-rules",
		"HS-006":   "docs/relay-connector-contract.md#43-capability-descriptor-fields",
		"OUT-011":  "docs/relay-connector-contract.md#56-failures-declines-and-ambiguity",
		"SKEY-004": "docs/relay-connector-contract.md#112-algorithm",
	} {
		r, ok := LookupRequirement(id)
		if !ok {
			t.Errorf("%s missing", id)
			continue
		}
		if got := r.Anchor(); got != want {
			t.Errorf("%s.Anchor() = %q, want %q", id, got, want)
		}
	}
	if got := (Requirement{Section: "99.9"}).Anchor(); got != requirementsDoc {
		t.Errorf("Anchor of unknown section = %q, want the bare document path", got)
	}
	for heading, want := range map[string]string{
		"5. Outbound actions and results":           "5-outbound-actions-and-results",
		"6. Inbound, interrupts and passthrough":    "6-inbound-interrupts-and-passthrough",
		"12.8 The get_chat_info result and unknown": "128-the-get_chat_info-result-and-unknown",
		"12.12 Session-key flags and profile":       "1212-session-key-flags-and-profile",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestRequirementsParseRejectsMalformed(t *testing.T) {
	const good = `  - id: TRN-001
    level: MUST
    side: both
    feature: core
    section: "2.3"
    title: t
    text: x
    since: 1
`
	if _, err := parseRequirements([]byte("version: 1\nrequirements:\n" + good)); err != nil {
		t.Fatalf("minimal registry rejected: %v", err)
	}
	for name, body := range map[string]string{
		"bad yaml":         "version: [1\n",
		"wrong version":    "version: 2\nrequirements:\n" + good,
		"no requirements":  "version: 1\nrequirements: []\n",
		"unknown key":      "version: 1\nrequirements:\n" + good + "    colour: red\n",
		"duplicate id":     "version: 1\nrequirements:\n" + good + good,
		"bad id":           "version: 1\nrequirements:\n" + strings.Replace(good, "TRN-001", "TRN-1", 1),
		"unknown area":     "version: 1\nrequirements:\n" + strings.Replace(good, "TRN-001", "FOO-001", 1),
		"bad level":        "version: 1\nrequirements:\n" + strings.Replace(good, "MUST", "MUSTNT", 1),
		"bad side":         "version: 1\nrequirements:\n" + strings.Replace(good, "both", "server", 1),
		"bad feature":      "version: 1\nrequirements:\n" + strings.Replace(good, "core", "teleport", 1),
		"unknown section":  "version: 1\nrequirements:\n" + strings.Replace(good, `"2.3"`, `"2.99"`, 1),
		"foreign section":  "version: 1\nrequirements:\n" + strings.Replace(good, `"2.3"`, `"5.3"`, 1),
		"since zero":       "version: 1\nrequirements:\n" + strings.Replace(good, "since: 1", "since: 0", 1),
		"empty text":       "version: 1\nrequirements:\n" + strings.Replace(good, "text: x", `text: ""`, 1),
		"no reason":        "version: 1\nrequirements:\n" + good + "    observable: false\n",
		"reason, observed": "version: 1\nrequirements:\n" + good + "    reason: because\n",
	} {
		if _, err := parseRequirements([]byte(body)); err == nil {
			t.Errorf("%s: parseRequirements accepted a malformed registry", name)
		} else if !strings.Contains(err.Error(), "requirement registry") {
			t.Errorf("%s: error %q does not say what failed", name, err)
		}
	}
}

// TestDocRequirementsMatchRegistry is the drift check: the document and the
// registry list the same requirements, in the same order, with the same
// level, side, section and text.
func TestDocRequirementsMatchRegistry(t *testing.T) {
	docReqs, _ := reqLoadDoc(t)
	type key struct{ ID, Level, Side string }
	var docKeys, regKeys []key
	docByID := map[string]reqDocEntry{}
	for _, d := range docReqs {
		if prev, dup := docByID[d.ID]; dup {
			t.Errorf("%s: stated twice in the document (lines %d and %d)", d.ID, prev.Line, d.Line)
		}
		docByID[d.ID] = d
		docKeys = append(docKeys, key{d.ID, d.Level, d.Side})
	}
	reg := Requirements()
	for _, r := range reg {
		regKeys = append(regKeys, key{r.ID, string(r.Level), string(r.Side)})
	}
	sortKeys := func(k []key) []key {
		k = slices.Clone(k)
		slices.SortFunc(k, func(a, b key) int { return strings.Compare(a.ID, b.ID) })
		return k
	}
	if diff := cmp.Diff(sortKeys(regKeys), sortKeys(docKeys)); diff != "" {
		t.Errorf("(ID, level, side) differ between contract/requirements.yaml (-) and %s (+):\n%s", reqTestDocPath, diff)
	}
	for _, r := range reg {
		d, ok := docByID[r.ID]
		if !ok {
			continue // reported by the diff above
		}
		if d.Section != r.Section {
			t.Errorf("%s: registry says section %s, document has it under section %s (line %d)", r.ID, r.Section, d.Section, d.Line)
		}
		if d.Text != r.Text {
			t.Errorf("%s: text differs\n registry: %s\n document: %s", r.ID, r.Text, d.Text)
		}
	}
	if !t.Failed() {
		var docOrder, regOrder []string
		for _, d := range docReqs {
			docOrder = append(docOrder, d.ID)
		}
		for _, r := range reg {
			regOrder = append(regOrder, r.ID)
		}
		if diff := cmp.Diff(regOrder, docOrder); diff != "" {
			t.Errorf("registry order (-) differs from document order (+):\n%s", diff)
		}
	}
}

// TestDocSectionsMatchAnchorTable checks that the section titles kept in
// requirements.go are exactly the numbered headings of the document, so
// every Anchor points at a real heading.
func TestDocSectionsMatchAnchorTable(t *testing.T) {
	_, heads := reqLoadDoc(t)
	got := map[string]string{}
	for _, h := range heads {
		if _, dup := got[h.Number]; dup {
			t.Errorf("section %s appears twice (line %d)", h.Number, h.Line)
		}
		got[h.Number] = h.Title
	}
	if diff := cmp.Diff(requirementSections, got); diff != "" {
		t.Errorf("requirementSections (-) differs from the document headings (+):\n%s", diff)
	}
	for _, area := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14"} {
		if _, ok := got[area]; !ok {
			t.Errorf("document has no top-level section %s", area)
		}
	}
}

// TestDocMentionsOnlyKnownRequirements checks that every requirement ID the
// document cites in prose exists in the registry.
func TestDocMentionsOnlyKnownRequirements(t *testing.T) {
	text := reqReadFile(t, reqTestDocPath)
	mention := regexp.MustCompile(`\b(TRN|AUTH|HS|OUT|IN|IDLE|WAKE|HTTP|RC|SKEY)-\d{3}\b`)
	for _, id := range mention.FindAllString(text, -1) {
		if _, ok := LookupRequirement(id); !ok {
			t.Errorf("document cites %s, which the registry does not have", id)
		}
	}
}

// TestDocDescriptorTable checks the capability-descriptor table of section
// 4.3 against the descriptor's fields and required flags.
func TestDocDescriptorTable(t *testing.T) {
	// The Go struct's JSON tags are the source of truth: every tag must be
	// in exactly one of the two lists, and the lists must match the doc.
	wantRequired, wantOptional := RequiredDescriptorFields, OptionalDescriptorFields
	tags := map[string]bool{}
	typ := reflect.TypeOf(CapabilityDescriptor{})
	for i := 0; i < typ.NumField(); i++ {
		tags[strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	listed := append(append([]string{}, wantRequired...), wantOptional...)
	for _, f := range listed {
		if !tags[f] {
			t.Errorf("descriptor field %s is listed but CapabilityDescriptor has no such JSON tag", f)
		}
		delete(tags, f)
	}
	for f := range tags {
		t.Errorf("CapabilityDescriptor field %s is in neither the required nor the optional list", f)
	}
	rows, err := reqDescriptorTable(reqReadFile(t, reqTestDocPath))
	if err != nil {
		t.Fatal(err)
	}
	var gotRequired, gotOptional []string
	for _, r := range rows {
		switch r.required {
		case "yes":
			gotRequired = append(gotRequired, r.field)
		case "no":
			gotOptional = append(gotOptional, r.field)
		default:
			t.Errorf("field %s: required column is %q, want yes or no", r.field, r.required)
		}
	}
	if diff := cmp.Diff(wantRequired, gotRequired); diff != "" {
		t.Errorf("required descriptor fields (-want +doc):\n%s", diff)
	}
	if diff := cmp.Diff(wantOptional, gotOptional); diff != "" {
		t.Errorf("optional descriptor fields (-want +doc):\n%s", diff)
	}
}

type reqDescriptorRow struct{ field, typ, required, def string }

// reqDescriptorTable returns the rows of the first table under heading 4.3
// whose header starts with "| field | type | required | default |".
func reqDescriptorTable(doc string) ([]reqDescriptorRow, error) {
	lines := strings.Split(doc, "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "### 4.3 ") })
	if i < 0 {
		return nil, fmt.Errorf("%s: no section 4.3", reqTestDocPath)
	}
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "| field | type | required | default |"); i++ {
		if strings.HasPrefix(lines[i], "## ") || (i > 0 && strings.HasPrefix(lines[i], "### 4.4")) {
			return nil, fmt.Errorf("%s: section 4.3 has no descriptor table", reqTestDocPath)
		}
	}
	if i+1 >= len(lines) {
		return nil, fmt.Errorf("%s: section 4.3 has no descriptor table", reqTestDocPath)
	}
	var rows []reqDescriptorRow
	for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		cells := strings.Split(strings.Trim(lines[i], "|"), "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("%s: descriptor table row %q has %d cells, want 4", reqTestDocPath, lines[i], len(cells))
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		name := strings.Trim(cells[0], "`")
		rows = append(rows, reqDescriptorRow{field: name, typ: cells[1], required: cells[2], def: cells[3]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: descriptor table is empty", reqTestDocPath)
	}
	return rows, nil
}

// TestDocSettledRequirementIDs checks that every ID fixed in
// docs/design/settlements.md exists with the level and side stated there.
func TestDocSettledRequirementIDs(t *testing.T) {
	fixed := regexp.MustCompile("^- `([A-Z]+-\\d{3})` (MUST|SHOULD|MAY) (connector|gateway|both):")
	n := 0
	for i, line := range strings.Split(reqReadFile(t, reqTestSettlementsPath), "\n") {
		m := fixed.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "- `") && regexp.MustCompile("^- `[A-Z]+-\\d{3}`").MatchString(line) {
				t.Errorf("%s:%d: fixed-ID line not understood: %q", reqTestSettlementsPath, i+1, line)
			}
			continue
		}
		n++
		r, ok := LookupRequirement(m[1])
		if !ok {
			t.Errorf("%s (fixed in settlements.md) is missing from the registry", m[1])
			continue
		}
		if string(r.Level) != m[2] || string(r.Side) != m[3] {
			t.Errorf("%s: registry has %s %s, settlements.md fixes %s %s", m[1], r.Level, r.Side, m[2], m[3])
		}
	}
	if n < 50 {
		t.Errorf("found only %d fixed IDs in %s; the line format may have changed", n, reqTestSettlementsPath)
	}
}

// TestDocRequirementParserCatchesDrift makes sure the document parser sees
// the kinds of edits the drift check exists for.
func TestDocRequirementParserCatchesDrift(t *testing.T) {
	base := "## 2. Transport and framing\n\n### 2.3 Framing\n\n- **[TRN-001] MUST** (both) A frame.\n"
	reqs, _, errs := reqParseDoc(base)
	if len(errs) != 0 || len(reqs) != 1 || reqs[0] != (reqDocEntry{ID: "TRN-001", Level: "MUST", Side: "both", Text: "A frame.", Section: "2.3", Line: 5}) {
		t.Fatalf("parse of a well-formed line: %+v %v", reqs, errs)
	}
	for name, doc := range map[string]string{
		"lower-case level": strings.Replace(base, "MUST**", "must**", 1),
		"missing side":     strings.Replace(base, " (both)", "", 1),
		"unknown side":     strings.Replace(base, "(both)", "(server)", 1),
		"bold outside":     strings.Replace(base, "**[TRN-001] MUST**", "**[TRN-001]** MUST", 1),
		"bad heading":      strings.Replace(base, "### 2.3 Framing", "### 2.3. Framing", 1),
	} {
		if _, _, errs := reqParseDoc(doc); len(errs) == 0 {
			t.Errorf("%s: malformed document accepted", name)
		}
	}
	reqs, _, _ = reqParseDoc("```text\n- **[TRN-001] MUST** (both) In a fence.\n```\n")
	if len(reqs) != 0 {
		t.Errorf("a requirement inside a code fence was counted: %+v", reqs)
	}
}
