package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func str(v map[string]any, k string) string { s, _ := v[k].(string); return s }

// objectDetails reads an object's details through the CLI ("" if absent).
func objectDetails(t *testing.T, data, space, obj string) (map[string]any, string) {
	out, _, code := cli(t, data, "--json", "object", "get", space, obj)
	if code != 0 {
		return nil, ""
	}
	var v struct {
		Details    map[string]any `json:"details"`
		SyncStatus string         `json:"syncStatus"`
	}
	if json.Unmarshal([]byte(out), &v) != nil {
		return nil, ""
	}
	return v.Details, v.SyncStatus
}

// TestTwoDevicesAndRecovery: a second device, recovered from the mnemonic on
// an empty data dir, finds every space of the account and converges with the
// first, both ways.
func TestTwoDevicesAndRecovery(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	dataA, dataB := t.TempDir(), t.TempDir()
	startServe(t, dataA, "--node", node.addr)
	startServe(t, dataB, "--node", node.addr)

	created := cliJSON(t, dataA, "account", "create", "--name", "Ada")
	var spaces, objects []string
	for i := range 2 {
		sp := str(cliJSON(t, dataA, "space", "create", "--name", fmt.Sprintf("space %d", i)), "spaceId")
		spaces = append(spaces, sp)
		objects = append(objects, str(cliJSON(t, dataA, "object", "create", sp, "--type", "note", fmt.Sprintf("name=note %d", i)), "objectId"))
	}
	shown := cliJSON(t, dataA, "account", "show")
	assert.Equal(t, node.addr, shown["node"])

	recovered := cliJSON(t, dataB, "account", "recover", "--mnemonic", str(created, "mnemonic"))
	assert.Equal(t, created["accountId"], recovered["accountId"])

	for i, sp := range spaces {
		eventually(t, "device B has "+sp, func() bool {
			d, _ := objectDetails(t, dataB, sp, objects[i])
			return d["name"] == fmt.Sprintf("note %d", i)
		})
	}
	list := cliJSON(t, dataB, "space", "list")
	assert.Len(t, list["spaces"], 2, "B knows exactly the account's spaces")

	cliJSON(t, dataB, "object", "set", spaces[0], objects[0], "from=B")
	eventually(t, "A sees B's change", func() bool {
		d, status := objectDetails(t, dataA, spaces[0], objects[0])
		return d["from"] == "B" && status == "synced"
	})
}

// TestMembersEditConcurrently: two members edit the same object while
// connected, then while the node is down, and end identical.
func TestMembersEditConcurrently(t *testing.T) {
	nodeData := t.TempDir()
	node := startNode(t, nodeData, "")
	dataA, dataB := t.TempDir(), t.TempDir()
	startServe(t, dataA, "--node", node.addr)
	startServe(t, dataB, "--node", node.addr)
	cliJSON(t, dataA, "account", "create", "--name", "Ada")
	cliJSON(t, dataB, "account", "create", "--name", "Bo")
	sp := str(cliJSON(t, dataA, "space", "create", "--name", "Shared"), "spaceId")
	obj := str(cliJSON(t, dataA, "object", "create", sp, "--type", "doc", "name=doc"), "objectId")
	link := str(cliJSON(t, dataA, "space", "invite", sp, "--no-approval"), "invite")
	joined := cliJSON(t, dataB, "space", "join", link)
	assert.Equal(t, "active", joined["accountStatus"])

	converged := func(want ...string) {
		t.Helper()
		eventually(t, "both devices converge", func() bool {
			dA, sA := objectDetails(t, dataA, sp, obj)
			dB, sB := objectDetails(t, dataB, sp, obj)
			for _, k := range want {
				if _, ok := dA[k]; !ok {
					return false
				}
			}
			rawA, _ := json.Marshal(dA)
			rawB, _ := json.Marshal(dB)
			return string(rawA) == string(rawB) && sA == "synced" && sB == "synced"
		})
	}

	// Connected: interleaved writes to the same keys and to distinct keys.
	for i := range 3 {
		cliJSON(t, dataA, "object", "set", sp, obj, fmt.Sprintf("a%d=%d", i, i), fmt.Sprintf("same=A%d", i))
		cliJSON(t, dataB, "object", "set", sp, obj, fmt.Sprintf("b%d=%d", i, i), fmt.Sprintf("same=B%d", i))
	}
	converged("a2", "b2")

	// The node goes away; both keep writing offline.
	node.stop(syscall.SIGTERM)
	cliJSON(t, dataA, "object", "set", sp, obj, "offlineA=1", "same=offA")
	cliJSON(t, dataB, "object", "set", sp, obj, "offlineB=1", "same=offB")
	_, status := objectDetails(t, dataA, sp, obj)
	assert.NotEqual(t, "synced", status, "an unacknowledged change is never reported synced")

	node = startNode(t, nodeData, node.addr)
	converged("offlineA", "offlineB")
}

// TestInvitesApprovalAndPermissions: invites with and without approval, a
// declined request, a reader's refused write, and a node that serves a
// space to members only.
func TestInvitesApprovalAndPermissions(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, writer, reader, declined := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	ids := map[string]string{}
	for name, data := range map[string]string{"owner": owner, "writer": writer, "reader": reader, "declined": declined} {
		startServe(t, data, "--node", node.addr)
		ids[name] = str(cliJSON(t, data, "account", "create", "--name", name), "accountId")
	}
	sp := str(cliJSON(t, owner, "space", "create", "--name", "Team"), "spaceId")
	obj := str(cliJSON(t, owner, "object", "create", sp, "name=plan"), "objectId")

	// Without approval: the writer is in at once.
	open := str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite")
	assert.Equal(t, "active", cliJSON(t, writer, "space", "join", open)["accountStatus"])

	// With approval: both wait; one is approved as reader, one declined.
	gated := str(cliJSON(t, owner, "space", "invite", sp, "--role", "reader"), "invite")
	assert.Equal(t, "joining", cliJSON(t, reader, "space", "join", gated)["accountStatus"])
	assert.Equal(t, "joining", cliJSON(t, declined, "space", "join", gated)["accountStatus"])
	reqs := cliJSON(t, owner, "space", "requests", sp)["requests"].([]any)
	var who []string
	for _, r := range reqs {
		who = append(who, r.(map[string]any)["identity"].(string))
	}
	assert.ElementsMatch(t, []string{ids["reader"], ids["declined"]}, who)
	cliJSON(t, owner, "space", "approve", sp, ids["reader"], "--role", "reader")
	cliJSON(t, owner, "space", "decline", sp, ids["declined"])

	eventually(t, "the approved reader has the space and its object", func() bool {
		d, _ := objectDetails(t, reader, sp, obj)
		return d["name"] == "plan"
	})
	// A reader's write is refused with a reason the device can show.
	_, errOut, code := cli(t, reader, "object", "set", sp, obj, "x=1")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "cannot write")

	members := cliJSON(t, owner, "space", "members", sp)["members"].([]any)
	got := map[string]string{}
	for _, m := range members {
		mm := m.(map[string]any)
		got[mm["identity"].(string)] = mm["role"].(string) + "/" + mm["status"].(string)
	}
	assert.Equal(t, map[string]string{
		ids["owner"]:    "owner/active",
		ids["writer"]:   "writer/active",
		ids["reader"]:   "reader/active",
		ids["declined"]: "reader/declined", // the role asked for: never "none"
	}, got)

	// The declined device never gets the space's data, and learns of the
	// decline: Joining → Offloaded.
	_, _, code = cli(t, declined, "object", "get", sp, obj)
	assert.NotEqual(t, 0, code)
	eventually(t, "the declined device offloads the space", func() bool {
		e := spaceEntry(t, declined, sp)
		return e["mode"] == "offloaded" && e["accountStatus"] == "deleted"
	})

	// A non-member cannot use a space: local commands refuse, the node refuses.
	outsider := t.TempDir()
	startServe(t, outsider, "--node", node.addr)
	cliJSON(t, outsider, "account", "create", "--name", "outsider")
	_, errOut, code = cli(t, outsider, "object", "get", sp, obj)
	assert.NotEqual(t, 0, code)
	assert.True(t, strings.Contains(errOut, "not found"), errOut)

	// And the node itself refuses an authenticated outsider.
	c, _ := dialOutsider(t, node.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Fetch(ctx, &syncpb.FetchRequest{SpaceId: sp, ObjectId: obj})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "fetch: %v", err)
	_, err = c.SpacePull(ctx, crypto.SpaceID(sp))
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "pull: %v", err)
	_, err = c.HeadSync(ctx, &syncpb.HeadSyncRequest{SpaceId: sp})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "head sync: %v", err)
}

// TestLeaveReachesTheAccountsOtherDevices: a device leaves a space; the
// account's other device follows through the account space and offloads.
func TestLeaveReachesTheAccountsOtherDevices(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, first, second := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{owner, first, second} {
		startServe(t, d, "--node", node.addr)
	}
	cliJSON(t, owner, "account", "create", "--name", "owner")
	created := cliJSON(t, first, "account", "create", "--name", "two-devices")
	cliJSON(t, second, "account", "recover", "--mnemonic", str(created, "mnemonic"))
	sp := str(cliJSON(t, owner, "space", "create", "--name", "Club"), "spaceId")
	obj := str(cliJSON(t, owner, "object", "create", sp, "name=x"), "objectId")
	cliJSON(t, first, "space", "join", str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite"))
	eventually(t, "the account's second device finds the joined space", func() bool {
		d, _ := objectDetails(t, second, sp, obj)
		return d["name"] == "x"
	})

	cliJSON(t, first, "space", "leave", sp)
	acc := str(created, "accountId")
	eventually(t, "the second device follows the leave", func() bool {
		_, err := os.Stat(filepath.Join(second, "accounts", acc, "spaces", sp))
		return os.IsNotExist(err)
	})
	e := spaceEntry(t, second, sp)
	assert.Equal(t, "deleted", e["accountStatus"])
	assert.Equal(t, "offloaded", e["mode"])
}
