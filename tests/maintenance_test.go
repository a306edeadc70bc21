package tests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIndexMaintenanceCLI rebuilds and verifies a space's index through the
// CLI against a real daemon: every source, the clear failure of a
// checkpoint rebuild without a checkpoint, and queries that answer the same
// after each rebuild.
func TestIndexMaintenanceCLI(t *testing.T) {
	data := t.TempDir()
	startServe(t, data, "--local-only")
	cliJSON(t, data, "account", "create", "--name", "Ada")
	spaceID, _ := cliJSON(t, data, "space", "create", "--name", "Home")["spaceId"].(string)
	require.NotEmpty(t, spaceID)
	for i := range 5 {
		cliJSON(t, data, "object", "create", spaceID, "--type", "task", fmt.Sprintf("name=task %d", i), fmt.Sprintf("n=%d", i))
	}
	gone, _ := cliJSON(t, data, "object", "create", spaceID, "--type", "task", "name=gone")["objectId"].(string)
	cliJSON(t, data, "object", "delete", spaceID, gone)

	out, errOut, code := cli(t, data, "--json", "index", "rebuild", spaceID, "--source", "checkpoint")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "no valid checkpoint")
	assert.Contains(t, out, "failed_precondition")
	_, errOut, code = cli(t, data, "index", "rebuild", spaceID, "--source", "sideways")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "unknown source")

	r := cliJSON(t, data, "index", "rebuild", spaceID)
	assert.Equal(t, "fullscan", r["source"], "auto without a checkpoint scans")
	assert.Equal(t, 5.0, r["objectsIndexed"])
	assert.Equal(t, 1.0, r["objectsSkipped"], "the deleted object")
	assert.Contains(t, r, "durationMs")

	cliJSON(t, data, "object", "create", spaceID, "--type", "task", "name=after", "n=9")
	r = cliJSON(t, data, "index", "rebuild", spaceID, "--source", "checkpoint")
	assert.Equal(t, "checkpoint", r["source"])
	q := cliJSON(t, data, "object", "query", spaceID, "--filter", "type = task", "--filter", "n >= 3")
	assert.Equal(t, 3.0, q["total"], "tasks 3, 4 and the one written after the checkpoint")

	v := cliJSON(t, data, "index", "verify", spaceID, "--repair")
	assert.Equal(t, map[string]any{"objects": 6.0, "mismatches": 0.0, "repaired": 0.0, "mismatchList": []any{}}, v)
	q = cliJSON(t, data, "object", "query", spaceID, "--text", "task")
	assert.Equal(t, 5.0, q["total"])
}
