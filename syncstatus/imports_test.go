package syncstatus

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoClockNoGoroutineNoLifecycle keeps the package's promises checkable:
// non-test code imports nothing of Hearth's but protocol/crypto (no index,
// no store, no lifecycle), starts no goroutine and reads no clock or timer.
func TestNoClockNoGoroutineNoLifecycle(t *testing.T) {
	const mod = "github.com/hearth-sync/hearth/"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]bool{"Now": true, "Since": true, "Until": true, "NewTicker": true, "NewTimer": true, "Tick": true, "After": true, "AfterFunc": true, "Sleep": true}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(p, mod) && p != mod+"protocol/crypto" {
				t.Errorf("%s imports %s: syncstatus knows only space ids", path, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a go statement: the service has no goroutines", path)
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "time" && banned[n.Sel.Name] {
					t.Errorf("%s: time.%s: time is an input, and there are no timers", path, n.Sel.Name)
				}
			}
			return true
		})
	}
}
