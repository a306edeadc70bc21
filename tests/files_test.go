package tests

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFilesThroughTheNode: a file added on device A reaches a member's
// device B through the node (sealed per space, fetched lazily); when B is
// kicked from one space, the blob another space of B still uses stays.
func TestFilesThroughTheNode(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	a, b := t.TempDir(), t.TempDir()
	startServe(t, a, "--node", node.addr)
	startServe(t, b, "--node", node.addr)
	cliJSON(t, a, "account", "create", "--name", "a")
	idB := str(cliJSON(t, b, "account", "create", "--name", "b"), "accountId")

	data := make([]byte, 1<<20+12345) // two chunks
	_, _ = rand.Read(data)
	src := filepath.Join(t.TempDir(), "photo.bin")
	require.NoError(t, os.WriteFile(src, data, 0o600))

	var spaces []string
	var fileID string
	for _, name := range []string{"kicks", "keeps"} {
		sp := str(cliJSON(t, a, "space", "create", "--name", name), "spaceId")
		link := str(cliJSON(t, a, "space", "invite", sp, "--no-approval"), "invite")
		cliJSON(t, b, "space", "join", link)
		added := cliJSON(t, a, "files", "add", sp, src)
		assert.EqualValues(t, len(data), added["size"])
		if fileID != "" {
			assert.Equal(t, fileID, str(added, "fileId"), "the same file has the same id in every space")
		}
		fileID = str(added, "fileId")
		spaces = append(spaces, sp)
	}

	for _, sp := range spaces {
		out := filepath.Join(t.TempDir(), "got.bin")
		eventually(t, "B gets the file of "+sp, func() bool {
			_, _, code := cli(t, b, "files", "get", sp, fileID, "--out", out)
			return code == 0
		})
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "B's copy is A's file")
	}

	// Kicked from one space, B keeps the blob its other space uses.
	cliJSON(t, a, "space", "kick", spaces[0], idB)
	eventually(t, "B is offloaded from the space it was kicked from", func() bool {
		e := spaceEntry(t, b, spaces[0])
		return e != nil && e["mode"] == "offloaded"
	})
	gc := cliJSON(t, b, "files", "gc", "--grace", "0s")
	assert.EqualValues(t, 0, gc["blobsRemoved"], "the other space still references every blob")
	out := filepath.Join(t.TempDir(), "again.bin")
	cliJSON(t, b, "files", "get", spaces[1], fileID, "--out", out)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))

	// A's spaces both still reference the file: its gc frees nothing.
	gcA := cliJSON(t, a, "files", "gc", "--grace", "0s")
	assert.EqualValues(t, 0, gcA["blobsRemoved"])
}
