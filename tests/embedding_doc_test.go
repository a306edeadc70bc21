package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The snippets of docs/embedding.md that start with a "// File: NAME" line
// are compiled or run here, so that the documentation cannot drift from the
// API: the Go program is built, the Kotlin file compiled against the Java
// binding and the message classes, the Electron main-process script run
// against a real daemon and node. (The Swift snippet is not: no Swift
// toolchain here; docs/embedding.md says so.)

var snippetRe = regexp.MustCompile("(?ms)^```[a-z]+\n// File: (\\S+)\n(.*?)^```")

// docSnippet returns the snippet of docs/embedding.md named name, written
// into dir.
func docSnippet(t testing.TB, dir, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "embedding.md"))
	require.NoError(t, err)
	for _, m := range snippetRe.FindAllStringSubmatch(string(doc), -1) {
		if m[1] == name {
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte("// File: "+name+"\n"+m[2]), 0o644))
			return path
		}
	}
	t.Fatalf("docs/embedding.md has no snippet %q", name)
	return ""
}

func TestEmbeddingDocGoSnippet(t *testing.T) {
	root := repoRoot(t)
	mod := t.TempDir()
	docSnippet(t, mod, "main.go")
	scratchModule(t, root, mod, "hearthdoc")
	_, errOut, code := run(t, mod, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, "go", "vet", ".")
	require.Equalf(t, 0, code, "go vet of the Go snippet:\n%s", errOut)
	_, errOut, code = run(t, mod, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, "go", "build", "-o", filepath.Join(mod, "app"), ".")
	require.Equalf(t, 0, code, "building the Go snippet:\n%s", errOut)
}

func TestEmbeddingDocKotlinSnippet(t *testing.T) {
	jb := javaBinding(t)
	kotlinc, err := exec.LookPath("kotlinc")
	if err != nil {
		missingTool(t, "no kotlinc (apt-get install kotlin): the Kotlin snippet is not compiled")
	}
	dir := t.TempDir()
	src := docSnippet(t, dir, "HearthSync.kt")
	_, errOut, code := run(t, dir, nil, kotlinc, "-nowarn", "-jvm-target", "1.8", "-cp", jb.classpath(), "-d", filepath.Join(dir, "out"), src)
	require.Equalf(t, 0, code, "kotlinc of the Kotlin snippet:\n%s", errOut)
	assert.FileExists(t, filepath.Join(dir, "out", "com", "example", "notes", "HearthSync.class"))
}

func TestEmbeddingDocElectronSnippet(t *testing.T) {
	requireNode(t, "tests/node")
	root := repoRoot(t)
	node := startNode(t, t.TempDir(), "")
	dir := t.TempDir()
	script := docSnippet(t, dir, "electron-main.js")
	data := t.TempDir()
	env := []string{"NODE_PATH=" + filepath.Join(root, "tests", "node", "node_modules")}
	stdout, stderr, code := run(t, dir, env, "node", script, hearthBin, data, node.addr, filepath.Join(root, "pb"))
	require.Equalf(t, 0, code, "the Electron snippet failed:\n%s\n%s", stdout, lastLines(stderr, 40))
	var res struct{ Account, Node, SpaceID, Invite string }
	decodeResult(t, stdout, &res)
	assert.NotEmpty(t, res.Account)
	assert.Equal(t, node.addr, res.Node, "the daemon the snippet started uses the node")
	assert.NotEmpty(t, res.SpaceID)
	assert.NotEmpty(t, res.Invite, "SpaceInvite needs the node")
	assert.NoFileExists(t, filepath.Join(data, "serve.json"), "the snippet stopped its daemon cleanly")
}

// scratchModule writes go.mod and go.sum into dir for a module named name
// that requires this one through a replace directive (as gomobile does).
func scratchModule(t testing.TB, root, dir, name string) {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	scratch := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(gomod), "module "+name) +
		"\nrequire github.com/hearth-sync/hearth v0.0.0\n\nreplace github.com/hearth-sync/hearth => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(scratch), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
}
