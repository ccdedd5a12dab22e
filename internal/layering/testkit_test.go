package layering

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// kitNames are what internal/testkit provides. A test file that declares
// one of them at top level has grown its own copy, which is how the bounds
// drifted to 5, 10 and 15 seconds and the epochs to four instants.
var kitNames = map[string]string{
	"waitFor":    "testkit.Wait",
	"epoch":      "testkit.Epoch",
	"eventually": "testkit.Eventually",
	"recv":       "testkit.Recv",
	"within":     "testkit.Within",
	// Seven copies of a mutex-guarded bytes.Buffer once grew under these
	// names.
	"syncBuffer":   "testkit.Buffer",
	"lockedBuffer": "testkit.Buffer",
	"logBuffer":    "testkit.Buffer",
}

// TestOneTestKit fails when a test file outside internal/testkit declares
// its own wait bound, epoch or wait helper.
func TestOneTestKit(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "node_modules" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			if filepath.ToSlash(path) == "../../internal/testkit" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			for _, name := range declNames(decl) {
				if kit, ok := kitNames[name]; ok {
					t.Errorf("%s declares %s: use %s from internal/testkit", fset.Position(decl.Pos()), name, kit)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// declNames returns the top-level names decl declares; methods declare
// none at top level.
func declNames(decl ast.Decl) []string {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			return []string{d.Name.Name}
		}
	case *ast.GenDecl:
		var names []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names = append(names, n.Name)
				}
			case *ast.TypeSpec:
				names = append(names, s.Name.Name)
			}
		}
		return names
	}
	return nil
}
