package harness

// The bad-input catalogue's part of the harness: the entries behind the
// connector catalogue cases, and their section of docs/conformance.md.

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/badinput"
)

// CatalogueEntries maps the ID of each catalogue case to its entry.
var CatalogueEntries = map[string]badinput.Entry{}

func HasNeed(e badinput.Entry, n string) bool {
	for _, x := range e.Needs {
		if x == n {
			return true
		}
	}
	return false
}

// RouteFeature is the optional feature that serves an HTTP path, or "".
func RouteFeature(path string) string {
	for _, r := range []struct{ path, feat string }{
		{contract.PathPolicy, "policy"},
		{contract.PathMedia, "media"},
		{contract.PathProvision, "provision"},
		{contract.PathEnroll, "enroll"},
	} {
		if path == r.path || strings.HasPrefix(path, r.path+"/") {
			return r.feat
		}
	}
	return ""
}

// catalogueMarkdown renders the catalogue section of docs/conformance.md:
// one row per catalogue case, in suite order.
func catalogueMarkdown() string {
	var b strings.Builder
	b.WriteString("## Bad-input catalogue\n\n")
	b.WriteString("The connector suite runs every entry of the bad-input catalogue\n")
	b.WriteString("([`fixtures/bad/catalogue.json`](../fixtures/bad/catalogue.json), described in\n")
	b.WriteString("[fixtures/README.md](../fixtures/README.md#badcataloguejson)) as one case named\n")
	b.WriteString("`<requirement>/catalogue-<entry id>`, through the runner in `internal/badinput`. The requirement\n")
	b.WriteString("tables above count these cases; this table lists them with what each needs beyond a gateway's\n")
	b.WriteString("credentials (without it the case is untestable, never passed) and what the connector must do.\n\n")
	b.WriteString("| case | level | where | needs | what must happen |\n| --- | --- | --- | --- | --- |\n")
	for _, c := range Cases(Connector) {
		e, ok := CatalogueEntries[c.ID]
		if !ok {
			continue
		}
		var needs []string
		if c.Needs != 0 {
			needs = append(needs, strings.ReplaceAll(c.Needs.String(), ",", ", "))
		}
		if HasNeed(e, "identity") {
			needs = append(needs, "identity")
		}
		if e.Where == badinput.WhereHTTP {
			if f := RouteFeature(e.Input.Path); f != "" && f != c.Feature() {
				needs = append(needs, "feature "+f)
			}
		}
		if c.Feature() != "core" {
			needs = append(needs, "feature "+c.Feature())
		}
		if c.Op != "" {
			needs = append(needs, "op "+c.Op)
		}
		need := "—"
		if len(needs) > 0 {
			need = strings.Join(needs, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", c.ID, c.Level(), e.Where, need, mdCell(c.Text))
	}
	b.WriteString("\n")
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
