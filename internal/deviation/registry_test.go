package deviation_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// TestEveryDeviationBreaksOneRequirement: each deviation names exactly one
// requirement, known to the contract's registry and binding the side its
// component implements; the requirements it also breaks are known and
// distinct; names are unique on a side.
func TestEveryDeviationBreaksOneRequirement(t *testing.T) {
	all := deviation.All()
	if len(all) != 47 {
		t.Errorf("%d deviations, want 47 (20 simulator, 20 client, 7 adapter): update this count with the registry", len(all))
	}
	seen := map[contract.Side]map[string]bool{}
	for i, info := range all {
		if info.ID != deviation.ID(i) {
			t.Errorf("%s: ID %d at index %d", info.Name, info.ID, i)
		}
		side := info.Component.Side()
		if !slices.Contains([]deviation.Component{deviation.Simulator, deviation.Client, deviation.Adapter}, info.Component) {
			t.Errorf("%s: unknown component %q", info.Name, info.Component)
		}
		if seen[side] == nil {
			seen[side] = map[string]bool{}
		}
		if info.Name == "" || seen[side][info.Name] {
			t.Errorf("%s: empty or duplicate name on the %s side", info.ID, side)
		}
		seen[side][info.Name] = true
		if info.Description == "" {
			t.Errorf("%s: no description", info.ID)
		}
		r, ok := contract.LookupRequirement(info.Requirement)
		if !ok {
			t.Errorf("%s: requirement %q is not in the contract's registry", info.ID, info.Requirement)
		} else if !r.Binds(side) {
			t.Errorf("%s: requirement %s binds the %s, not the %s", info.ID, r.ID, r.Side, side)
		}
		for _, a := range info.Also {
			if _, ok := contract.LookupRequirement(a); !ok || a == info.Requirement {
				t.Errorf("%s: also-broken requirement %q is unknown or the main one", info.ID, a)
			}
		}
		for _, n := range info.Needs {
			if n.Info().Component.Side() != side || n == info.ID {
				t.Errorf("%s: needs %s, which is itself or of the other side", info.ID, n)
			}
		}
	}
}

func TestParse(t *testing.T) {
	s, err := deviation.Parse(" count-code-points, no-newline ,,ignore-supported-ops", deviation.Client, deviation.Adapter)
	if err != nil {
		t.Fatal(err)
	}
	want := deviation.NewSet(deviation.AdapterCountCodePoints, deviation.ClientNoNewline,
		deviation.AdapterIgnoreSupportedOps, deviation.ClientUnsupportedOpSent)
	if s != want {
		t.Errorf("Parse = %v, want %v", s.IDs(), want.IDs())
	}
	if got := s.Only(deviation.Client); got != deviation.NewSet(deviation.ClientNoNewline, deviation.ClientUnsupportedOpSent) {
		t.Errorf("client share = %v", got.IDs())
	}
	// The same name resolves per component: the simulator has its own
	// no-newline.
	if s, err := deviation.Parse("no-newline", deviation.Simulator); err != nil || s != deviation.NewSet(deviation.SimNoNewline) {
		t.Errorf("simulator no-newline = %v, %v", s.IDs(), err)
	}
	if s, err := deviation.Parse("", deviation.Simulator); err != nil || s != 0 {
		t.Errorf("empty list = %v, %v", s, err)
	}
	_, err = deviation.Parse("no-newline,count-code-points", deviation.Simulator)
	if err == nil || !strings.Contains(err.Error(), `unknown deviation "count-code-points" (known: http-401-auth, `) {
		t.Errorf("an adapter name parsed as a simulator deviation: %v", err)
	}
}

func TestSet(t *testing.T) {
	s := deviation.NewSet(deviation.AdapterMediaKindFile, deviation.SimHTTP401Auth)
	if !s.Has(deviation.AdapterMediaKindFile) || !s.Has(deviation.SimHTTP401Auth) || s.Has(deviation.ClientNoNewline) {
		t.Errorf("Has is wrong for %v", s.IDs())
	}
	if got := s.Names(); !slices.Equal(got, []string{"http-401-auth", "media-kind-file"}) {
		t.Errorf("Names = %v", got)
	}
	if got := deviation.Set(0).Names(); got == nil || len(got) != 0 {
		t.Errorf("empty Names = %#v, want an empty, non-nil list", got)
	}
	if err := s.Check(deviation.Simulator); err == nil || !strings.Contains(err.Error(), "adapter/media-kind-file is not a simulator deviation") {
		t.Errorf("Check = %v", err)
	}
	if err := s.Only(deviation.Simulator).Check(deviation.Simulator); err != nil {
		t.Errorf("Check of the simulator's share = %v", err)
	}
	if err := deviation.Set(1 << 63).Check(deviation.Simulator); err == nil {
		t.Error("an unknown bit passed Check")
	}
}

type noHook struct{ n int }

type hooked struct{ set deviation.Set }

func init() {
	deviation.Register(func(h *hooked, s deviation.Set) error {
		if err := s.Check(deviation.Client); err != nil {
			return err
		}
		h.set = s
		return nil
	})
}

func TestApply(t *testing.T) {
	var h hooked
	if err := deviation.Apply(&h, deviation.NewSet(deviation.ClientNoBackoff)); err != nil || h.set != deviation.NewSet(deviation.ClientNoBackoff) {
		t.Errorf("Apply = %v, set %v", err, h.set.IDs())
	}
	if err := deviation.Apply(&h, deviation.NewSet(deviation.SimNoWake)); err == nil {
		t.Error("a simulator deviation reached a client target")
	}
	if err := deviation.Apply(&noHook{}, 0); err == nil || !strings.Contains(err.Error(), "takes no deviations") {
		t.Errorf("Apply to an unregistered type = %v", err)
	}
}

// docTable reads the rows of the markdown table under heading in a doc:
// the first column's code span and the first requirement ID of the rest.
func docTable(t *testing.T, path, heading string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s: no %q section", path, heading)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|(.*)$")
	req := regexp.MustCompile(`\b[A-Z]+-\d{3}\b`)
	out := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		out[m[1]] = req.FindString(m[2])
	}
	return out
}

// TestDocsFollowTheRegistry: the deviation tables in docs/relaysim.md and
// docs/gateway-adapter.md list every deviation of their component with the
// requirement the registry names.
func TestDocsFollowTheRegistry(t *testing.T) {
	for _, doc := range []struct {
		path, heading string
		c             deviation.Component
	}{
		{"../../docs/relaysim.md", "## Deviations", deviation.Simulator},
		{"../../docs/gateway-adapter.md", "## Deviation modes", deviation.Adapter},
	} {
		rows := docTable(t, doc.path, doc.heading)
		for _, info := range deviation.Of(doc.c) {
			if got, ok := rows[info.Name]; !ok {
				t.Errorf("%s: %s is missing", doc.path, info.Name)
			} else if got != info.Requirement {
				t.Errorf("%s: %s breaks %s, the doc says %q", doc.path, info.Name, info.Requirement, got)
			}
			delete(rows, info.Name)
		}
		for name := range rows {
			t.Errorf("%s: %s is not a %s deviation", doc.path, name, doc.c)
		}
	}
}
