package tests

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestElectronClient runs tests/node/client.js — @grpc/grpc-js and
// @grpc/proto-loader, as an Electron main process uses them, installed from
// the committed lockfile — against `hearth serve`: it creates a session,
// listens to events, runs account commands and sees their events in command
// order, creates a space and an object. The CLI then sees what it did.
func TestElectronClient(t *testing.T) {
	requireNode(t, "tests/node")
	data := t.TempDir()
	d := startServe(t, data, "--local-only")
	info := readServeInfo(t, data)

	root := repoRoot(t)
	stdout, stderr, code := run(t, filepath.Join(root, "tests", "node"),
		[]string{"HEARTH_TOKEN=" + info.Token},
		"node", "client.js", "--grpc", d.grpc, "--proto", filepath.Join(root, "pb"))
	t.Logf("node client:\n%s", stdout)
	require.Equalf(t, 0, code, "the node client failed:\n%s\ndaemon:\n%s", stderr, lastLines(d.stderr.String(), 20))

	var res struct {
		Version, Alice, Bob string
		Events              []string
		Space, Object       string
	}
	decodeResult(t, stdout, &res)
	assert.Equal(t, "dev", res.Version)
	assert.Equal(t, []string{
		"accountShow:" + res.Alice, "accountStopped:" + res.Alice,
		"accountShow:" + res.Bob, "accountStopped:" + res.Bob,
		"accountShow:" + res.Alice,
	}, res.Events)

	// The daemon's state is what the client left: both accounts, Alice selected.
	assert.ElementsMatch(t, []string{res.Alice, res.Bob}, accountIDs(t, data))
	assert.Equal(t, res.Alice, cliJSON(t, data, "account", "show")["accountId"])
	requireObject(t, data, res.Space, res.Object, "note", "Hello from Node")
	assert.Equal(t, 0, d.stop(syscall.SIGTERM))
}
