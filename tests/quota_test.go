package tests

import (
	"strings"
	"syscall"
	"testing"
)

// TestQuotaShowsLimited (issue 16.4, end to end through the binaries): a node with small
// per-identity quotas refuses a space past --max-spaces and changes past --change-quota;
// the device shows each space `limited` with the reason storageLimit and the node's
// numbers, the other spaces stay synced, doctor names the problem, and once the node
// allows more (a restart with higher limits) the waiting changes go through by themselves.
func TestQuotaShowsLimited(t *testing.T) {
	nodeData := t.TempDir()
	// The account space counts as one of the account's spaces.
	node := startNodeWith(t, nodeData, "", "--max-spaces", "2", "--change-quota", "40000")
	data := t.TempDir()
	startServe(t, data, "--node", node.addr)
	cliJSON(t, data, "account", "create", "--name", "Ada")
	home := str(cliJSON(t, data, "space", "create", "--name", "Home"), "spaceId")
	eventually(t, "Home is synced", func() bool { return spaceStatus(t, data, home)["status"] == "synced" })
	two := str(cliJSON(t, data, "space", "create", "--name", "Two"), "spaceId")
	eventually(t, "the third space is limited", func() bool {
		st := spaceStatus(t, data, two)
		return st["status"] == "limited" && st["error"] == "storageLimit"
	})
	if st := spaceStatus(t, data, home); st["status"] != "synced" {
		t.Fatalf("Home: %v", st)
	}

	// Changes past the change quota: Home is limited, its changes wait here.
	big := "v=" + strings.Repeat("x", 4000)
	for range 12 {
		cliJSON(t, data, "object", "create", home, big)
	}
	eventually(t, "Home is limited by its changes", func() bool {
		st := spaceStatus(t, data, home)
		return st["status"] == "limited" && st["error"] == "storageLimit" && st["syncingObjects"].(float64) > 0
	})
	doc := cliJSON(t, data, "doctor")
	if !strings.Contains(strings.Join(strs(doc["problems"]), "\n"), "quota") {
		t.Fatalf("doctor does not name the quota: %v", doc["problems"])
	}

	// More room: everything that waited goes through.
	node.stop(syscall.SIGTERM)
	startNodeWith(t, nodeData, node.addr, "--max-spaces", "10", "--change-quota", "0")
	eventually(t, "both spaces synced once the node allows it", func() bool {
		return spaceStatus(t, data, home)["status"] == "synced" && spaceStatus(t, data, two)["status"] == "synced"
	})
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}
