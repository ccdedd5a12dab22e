package adapter

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestDocsGatewayUnder40Lines keeps the promise of docs/gateway-adapter.md:
// its first Go block is a complete gateway program of fewer than 40 lines.
func TestDocsGatewayUnder40Lines(t *testing.T) {
	b, err := os.ReadFile("../../docs/gateway-adapter.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```go\n")
	if !ok {
		t.Fatal("no Go block")
	}
	src, _, _ := strings.Cut(rest, "\n```\n")
	if n := strings.Count(src, "\n") + 1; n >= 40 {
		t.Fatalf("the gateway is %d lines", n)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "gateway.go", src, 0)
	if err != nil {
		t.Fatalf("the gateway does not parse: %v", err)
	}
	if f.Name.Name != "main" {
		t.Fatal("not a main package")
	}
}
