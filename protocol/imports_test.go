package protocol_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the layering of DESIGN §1: protocol imports nothing of Hearth's but
// pb (and itself), and never the network, the disk or the clock in non-test code.
func TestImports(t *testing.T) {
	const mod = "github.com/hearth-sync/hearth/"
	banned := map[string]bool{"net": true, "net/http": true, "os": true, "time": true, "log": true, "log/slog": true, "io/ioutil": true}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(path, "_test.go") || strings.Contains(path, "internal/")
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(p, mod) && !strings.HasPrefix(p, mod+"protocol") && !strings.HasPrefix(p, mod+"pb/") {
				t.Errorf("%s imports %s: protocol may import only pb", path, p)
			}
			if !test && banned[p] {
				t.Errorf("%s imports %s: protocol does no I/O and reads no clock", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
