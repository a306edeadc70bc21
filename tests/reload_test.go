package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offload then load works for every way of coming into a space: a join that
// an admin approved, a join through a no-approval invite (its read key is
// sealed to the invite's key, which the account space keeps across the
// offload), and a second device of the owner's account. `space load`
// returns only once the space holds what the node had: a query right after
// it sees every object, and the space's status is synced, not an error.
func TestOffloadThenLoadForEveryJoinPath(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, approved, open, second := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{owner, approved, open, second} {
		startServe(t, d, "--node", node.addr)
	}
	created := cliJSON(t, owner, "account", "create", "--name", "Owner")
	approvedID := str(cliJSON(t, approved, "account", "create", "--name", "Approved"), "accountId")
	cliJSON(t, open, "account", "create", "--name", "Open")
	sp := str(cliJSON(t, owner, "space", "create", "--name", "Team"), "spaceId")
	const objects = 15
	for i := range objects {
		cliJSON(t, owner, "object", "create", sp, "--type", "note", fmt.Sprintf("name=note %d", i))
	}

	// The three ways in.
	cliJSON(t, open, "space", "join", str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite"))
	cliJSON(t, approved, "space", "join", str(cliJSON(t, owner, "space", "invite", sp), "invite"))
	eventually(t, "the join request reaches the owner", func() bool {
		reqs, _ := cliJSON(t, owner, "space", "requests", sp)["requests"].([]any)
		return len(reqs) == 1
	})
	cliJSON(t, owner, "space", "approve", sp, approvedID)
	cliJSON(t, second, "account", "recover", "--mnemonic", str(created, "mnemonic"))

	total := func(data string) string {
		out, _, code := cli(t, data, "--json", "object", "query", sp, "--limit", "1")
		if code != 0 {
			return "error: " + out
		}
		return out
	}
	want := fmt.Sprintf(`"total":%d`, objects)
	for name, data := range map[string]string{"approved": approved, "no-approval": open, "second device": second} {
		eventually(t, name+" has every object", func() bool { return strings.Contains(total(data), want) })
		eventually(t, name+" is synced", func() bool { return spaceStatus(t, data, sp)["status"] == "synced" })

		cliJSON(t, data, "space", "offload", sp)
		assert.Equal(t, "offloaded", spaceEntry(t, data, sp)["mode"], name)
		cliJSON(t, data, "space", "load", sp)
		assert.Contains(t, total(data), want, "%s: a query right after `space load` sees every object", name)
		e := spaceEntry(t, data, sp)
		assert.Equal(t, "loaded", e["mode"], name)
		assert.Equal(t, "active", e["accountStatus"], name)
		eventually(t, name+" is synced after the load", func() bool {
			st := spaceStatus(t, data, sp)
			require.NotEqual(t, "error", st["status"], "%s: %v", name, st)
			return st["status"] == "synced"
		})
	}
	// They still write and are read after the reload.
	obj := str(cliJSON(t, open, "object", "create", sp, "name=from the no-approval member"), "objectId")
	eventually(t, "the owner sees the reloaded member's write", func() bool {
		d, _ := objectDetails(t, owner, sp, obj)
		return d["name"] == "from the no-approval member"
	})
}
