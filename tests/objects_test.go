package tests

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLocalSpacesAndObjectsCLI drives spaces and objects through the CLI on a
// local-only daemon: every write is visible to the next command, and
// everything survives a restart.
func TestLocalSpacesAndObjectsCLI(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, data, "--local-only")
	cliJSON(t, data, "account", "create", "--name", "Ada")

	spaceID, _ := cliJSON(t, data, "space", "create", "--name", "Home")["spaceId"].(string)
	require.NotEmpty(t, spaceID)

	created := cliJSON(t, data, "object", "create", spaceID, "--type", "task", "name=Buy milk", "n=3", "done=false", `tags=["a","b"]`, "note=plain words")
	obj, _ := created["objectId"].(string)
	require.NotEmpty(t, obj)

	got := cliJSON(t, data, "object", "get", spaceID, obj)
	assert.Equal(t, "task", got["type"])
	assert.Equal(t, "queued", got["syncStatus"], "local-only: nothing is on a node")
	details := got["details"].(map[string]any)
	created1, modified1 := details["created"], details["modified"]
	assert.GreaterOrEqual(t, modified1, created1, "created and modified (unix ms), like a query's")
	assert.Equal(t, map[string]any{"name": "Buy milk", "n": 3.0, "done": false, "tags": []any{"a", "b"}, "note": "plain words",
		"type": "task", "created": created1, "modified": modified1}, details)

	cliJSON(t, data, "object", "set", spaceID, obj, "n=4", "done=true")
	cliJSON(t, data, "object", "unset", spaceID, obj, "note")
	got = cliJSON(t, data, "object", "get", spaceID, obj)
	details = got["details"].(map[string]any)
	assert.Equal(t, created1, details["created"])
	assert.GreaterOrEqual(t, details["modified"], modified1)
	assert.Equal(t, map[string]any{"name": "Buy milk", "n": 4.0, "done": true, "tags": []any{"a", "b"},
		"type": "task", "created": created1, "modified": details["modified"]}, details)

	for _, n := range []string{"1", "2", "3"} {
		cliJSON(t, data, "object", "create", spaceID, "--type", "task", "name=task "+n, "n="+n)
	}
	cliJSON(t, data, "object", "create", spaceID, "--type", "note", "name=Milk notes")

	q := cliJSON(t, data, "object", "query", spaceID, "--filter", "type = task", "--filter", "n >= 2", "--sort", "n:desc", "--limit", "2")
	assert.Equal(t, 3.0, q["total"], "total ignores the limit")
	objects := q["objects"].([]any)
	require.Len(t, objects, 2)
	assert.Equal(t, obj, objects[0].(map[string]any)["objectId"], "n=4 sorts first")
	assert.Equal(t, 3.0, objects[1].(map[string]any)["details"].(map[string]any)["n"])

	q = cliJSON(t, data, "object", "query", spaceID, "--text", "milk")
	assert.Equal(t, 2.0, q["total"], "full text is case-insensitive and spans types")
	q = cliJSON(t, data, "object", "query", spaceID, "--filter", `name in ["task 1","task 3"]`)
	assert.Equal(t, 2.0, q["total"])

	cliJSON(t, data, "object", "delete", spaceID, obj)
	out, errOut, code := cli(t, data, "--json", "object", "get", spaceID, obj)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "deleted")
	assert.Contains(t, out, `"not_found"`)

	// Bad input: a clear error, no crash.
	_, errOut, code = cli(t, data, "object", "query", spaceID, "--filter", "n ~ 3")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "unknown operator")
	_, errOut, code = cli(t, data, "object", "create", spaceID, `x={"a":1}`)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "JSON objects")
	_, errOut, code = cli(t, data, "object", "get", spaceID, "not-an-id")
	assert.NotEqual(t, 0, code)
	assert.True(t, strings.HasPrefix(errOut, "hearth: object get: "), errOut)

	list := cliJSON(t, data, "space", "list")
	raw, _ := json.Marshal(list["spaces"])
	var spaces []map[string]string
	require.NoError(t, json.Unmarshal(raw, &spaces))
	require.Len(t, spaces, 1)
	assert.Equal(t, map[string]string{"spaceId": spaceID, "name": "Home", "mode": "loaded", "accountStatus": "active", "localStatus": "ok", "remoteStatus": "unknown"}, spaces[0])

	require.Equal(t, 0, d.stop(syscall.SIGTERM))
	d2 := startServe(t, data, "--local-only")
	q = cliJSON(t, data, "object", "query", spaceID, "--filter", "type = task")
	assert.Equal(t, 3.0, q["total"], "everything survives a restart")
	list = cliJSON(t, data, "space", "list")
	assert.Contains(t, list["spaces"].([]any)[0].(map[string]any)["mode"], "loaded", "the space loaded on first use")
	require.Equal(t, 0, d2.stop(syscall.SIGTERM))
}
