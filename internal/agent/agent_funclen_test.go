package agent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// maxFuncLines bounds every function of the package, from its func line
// to its closing brace: the agent's loop grew into one 224-line Run of
// closures sharing a dozen variables once, and must not again.
const maxFuncLines = 60

// TestFuncLength fails on any function or function literal in the
// package's non-test files longer than maxFuncLines.
func TestFuncLength(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		n++
		ast.Inspect(f, func(node ast.Node) bool {
			what := ""
			switch fn := node.(type) {
			case *ast.FuncDecl:
				what = fn.Name.Name
			case *ast.FuncLit:
				what = "func literal"
			default:
				return true
			}
			start, end := fset.Position(node.Pos()), fset.Position(node.End())
			if lines := end.Line - start.Line + 1; lines > maxFuncLines {
				t.Errorf("%s:%d: %s is %d lines, more than %d", name, start.Line, what, lines, maxFuncLines)
			}
			return true
		})
	}
	if n == 0 {
		t.Fatal("no source files found")
	}
}
