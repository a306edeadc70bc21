package tests

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStopsWithWorkInFlight (issue 16.7: let no handler block shutdown): a
// `files add` of a large file and an `index rebuild` are running in the daemon when it
// gets SIGTERM; it exits within the contract's 5 s with status 0, the callers get an
// error, and the data dir opens again with what was stored before.
func TestServeStopsWithWorkInFlight(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, data, "--local-only")
	cliJSON(t, data, "account", "create", "--name", "Ada")
	sp := str(cliJSON(t, data, "space", "create", "--name", "Home"), "spaceId")
	obj := str(cliJSON(t, data, "object", "create", sp, "name=kept"), "objectId")

	big := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(big)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for range 384 { // 384 MiB: seconds of hashing, sealing and fsyncs
		_, _ = rand.Read(chunk)
		_, err := f.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	var running []*exec.Cmd
	start := func(args ...string) {
		cmd := exec.Command(hearthBin, append([]string{"--data", data}, args...)...)
		cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
		require.NoError(t, cmd.Start())
		running = append(running, cmd)
	}
	start("files", "add", sp, big)
	start("index", "rebuild", sp, "--source", "fullscan")
	start("events", "--space", sp)
	time.Sleep(1500 * time.Millisecond) // the add is well under way
	require.Nil(t, running[0].ProcessState, "the add is still running")

	began := time.Now()
	code := d.stop(syscall.SIGTERM)
	took := time.Since(began)
	t.Logf("stopped in %v with work in flight", took)
	assert.Equal(t, 0, code, "a clean exit")
	assert.Less(t, took, 5*time.Second, "CLI.md: exit within 5 s of SIGTERM")
	for _, cmd := range running {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%v still runs after the daemon left", cmd.Args)
		}
	}
	assert.NotEqual(t, 0, running[0].ProcessState.ExitCode(), "the cut add fails")

	startServe(t, data, "--local-only")
	got := cliJSON(t, data, "object", "get", sp, obj)
	assert.Equal(t, "kept", got["details"].(map[string]any)["name"])
	cliJSON(t, data, "files", "gc", "--grace", "0") // whatever the cut add left goes
	cliJSON(t, data, "index", "verify", sp)
}
