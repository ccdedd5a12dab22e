package harness

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveFeatures(t *testing.T) {
	got, err := resolveFeatures(map[string]bool{FeatureAll: true, "wake": false})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range optionalFeatures() {
		if want := name != "wake"; got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if _, ok := got[FeatureAll]; ok {
		t.Error("all kept as a feature name")
	}
	got, err = resolveFeatures(map[string]bool{"prompt": true})
	if err != nil || !cmp.Equal(got, map[string]bool{"prompt": true}) {
		t.Errorf("resolveFeatures(prompt) = %v, %v", got, err)
	}
	if _, err := resolveFeatures(map[string]bool{"promt": true}); err == nil || !strings.Contains(err.Error(), `unknown feature promt; known: `) || !strings.Contains(err.Error(), "prompt") {
		t.Errorf("a misspelt feature: %v", err)
	}
	for _, name := range []string{"core", FeatureAll} {
		if slices.Contains(optionalFeatures(), name) {
			t.Errorf("optionalFeatures lists %q", name)
		}
	}
}
