package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

func spaceStatus(t testing.TB, data, sp string) map[string]any {
	out, _, code := cli(t, data, "--json", "space", "status", sp)
	if code != 0 {
		return nil
	}
	var v map[string]any
	_ = json.Unmarshal([]byte(out), &v)
	return v
}

// TestSpaceStatusOfflineAndBack: synced while connected; offline within a
// bounded time once the node is gone, never synced with unacknowledged
// changes; synced again once the node is back.
func TestSpaceStatusOfflineAndBack(t *testing.T) {
	nodeData := t.TempDir()
	node := startNode(t, nodeData, "")
	data := t.TempDir()
	startServe(t, data, "--node", node.addr)
	cliJSON(t, data, "account", "create", "--name", "Ada")
	sp := str(cliJSON(t, data, "space", "create", "--name", "Home"), "spaceId")
	obj := str(cliJSON(t, data, "object", "create", sp, "name=x"), "objectId")
	eventually(t, "the space is synced", func() bool {
		st := spaceStatus(t, data, sp)
		return st["status"] == "synced" && st["syncingObjects"] == 0.0 && st["network"] == "online"
	})

	node.stop(syscall.SIGTERM)
	began := time.Now()
	eventually(t, "the space goes offline", func() bool { return spaceStatus(t, data, sp)["status"] == "offline" })
	t.Logf("offline after %v (CLI.md: within 15 s)", time.Since(began))
	cliJSON(t, data, "object", "set", sp, obj, "offline=true")
	st := spaceStatus(t, data, sp)
	assert.NotEqual(t, "synced", st["status"])
	assert.Equal(t, 1.0, st["syncingObjects"], "one object waits for the node")
	_, objStatus := objectDetails(t, data, sp, obj)
	assert.NotEqual(t, "synced", objStatus, "an unacknowledged change is never synced")

	startNode(t, nodeData, node.addr)
	eventually(t, "synced again once the node is back", func() bool {
		st := spaceStatus(t, data, sp)
		_, objStatus := objectDetails(t, data, sp, obj)
		return st["status"] == "synced" && objStatus == "synced"
	})

	// A space that is not loaded has no status: an error, not "synced".
	cliJSON(t, data, "space", "offload", sp)
	_, errOut, code := cli(t, data, "space", "status", sp)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "not loaded")
}

// TestNewSessionGetsEachLoadedSpaceStatusOnce: a new session receives the
// status of every loaded space exactly once, and nothing for an offloaded
// space.
func TestNewSessionGetsEachLoadedSpaceStatusOnce(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, data, "--local-only")
	cliJSON(t, data, "account", "create", "--name", "Ada")
	loaded := map[string]bool{}
	for _, name := range []string{"one", "two", "three"} {
		loaded[str(cliJSON(t, data, "space", "create", "--name", name), "spaceId")] = true
	}
	gone := str(cliJSON(t, data, "space", "create", "--name", "gone"), "spaceId")
	cliJSON(t, data, "space", "offload", gone, "--force")

	raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
	require.NoError(t, err)
	var info struct{ GRPC, Token string }
	require.NoError(t, json.Unmarshal(raw, &info))
	conn, err := grpc.NewClient(d.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "token", info.Token), 30*time.Second)
	defer cancel()
	stream, err := pb.NewClientCommandsClient(conn).ListenSessionEvents(ctx, &pb.StreamRequest{})
	require.NoError(t, err)

	seen := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			for _, m := range ev.Messages {
				if st := m.GetSyncStatus(); st != nil {
					seen[st.SpaceId]++
				}
			}
		}
	}()
	// Local-only: nothing changes, so whatever arrives in this window is the
	// session's start.
	time.Sleep(2 * time.Second)
	cancel()
	<-done
	for id := range loaded {
		assert.Equal(t, 1, seen[id], "space %s", id)
	}
	assert.Zero(t, seen[gone], "an offloaded space emits no status")
	assert.Len(t, seen, len(loaded), "only loaded spaces (the account space is internal)")
}

// A failure that stops sync shows as an error with its reason, never as
// offline or syncing with an empty error, and it is not logged in a loop:
// another node (a new key) on the pinned node's address, and a member
// without the space's read key.
func TestSyncStoppingFailuresAreErrorsWithAReason(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, member := t.TempDir(), t.TempDir()
	ownerd := startServe(t, owner, "--node", node.addr)
	memberd := startServe(t, member, "--node", node.addr)
	cliJSON(t, owner, "account", "create", "--name", "Owner")
	memberID := str(cliJSON(t, member, "account", "create", "--name", "Member"), "accountId")
	sp := str(cliJSON(t, owner, "space", "create", "--name", "Team"), "spaceId")
	cliJSON(t, owner, "object", "create", sp, "name=x")
	cliJSON(t, member, "space", "join", str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite"))
	eventually(t, "both are synced", func() bool {
		return spaceStatus(t, owner, sp)["status"] == "synced" && spaceStatus(t, member, sp)["status"] == "synced"
	})

	// The member's device loses the invite key file its read key was sealed
	// to (a fault injected by hand): it stays a member without the read key.
	memberd.stop(syscall.SIGTERM)
	keyFiles, _ := filepath.Glob(filepath.Join(member, "accounts", memberID, "spaces", sp, "*", "invite.key"))
	require.Len(t, keyFiles, 1)
	require.NoError(t, os.Remove(keyFiles[0]))
	startServe(t, member, "--node", node.addr)
	eventually(t, "the member shows noReadKey", func() bool {
		st := spaceStatus(t, member, sp)
		return st["status"] == "error" && st["error"] == "noReadKey" && st["errorMessage"] != ""
	})

	// Another node on the same address: the owner refuses its key.
	node.stop(syscall.SIGTERM)
	impostor := startNode(t, t.TempDir(), node.addr)
	defer impostor.stop(syscall.SIGTERM)
	eventually(t, "the owner shows nodeKeyMismatch", func() bool {
		st := spaceStatus(t, owner, sp)
		return st["status"] == "error" && st["error"] == "nodeKeyMismatch" && st["errorMessage"] != ""
	})
	before := strings.Count(ownerd.stderr.String(), "node unreachable")
	time.Sleep(10 * time.Second)
	repeats := strings.Count(ownerd.stderr.String(), "node unreachable") - before
	assert.LessOrEqual(t, repeats, 3, "the same failure is logged once per backoff step (capped at 10 s), not in a loop")
}
