package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/pgtest"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// pgCluster is `hearth node` processes sharing one PostgreSQL database and one node key.
type pgCluster struct {
	url     string
	keyFile string
	nodes   []*nodeProc
}

func startPGCluster(t *testing.T, n int) *pgCluster {
	t.Helper()
	c := &pgCluster{url: pgtest.Start(t).NewDB(t), keyFile: filepath.Join(t.TempDir(), "node.key")}
	for range n {
		// The first node creates the key file; the others read the same one.
		c.nodes = append(c.nodes, startNodeWith(t, t.TempDir(), "", "--store", c.url, "--key-file", c.keyFile))
	}
	return c
}

// TestPostgresTwoNodes (issue 21): two nodes on one database; device A on node 1 (with
// node 2 as its fallback), device B on node 2. They converge both ways, B joins through
// an invite A made, a file A adds reaches B, and when A kicks B, B offloads at once.
func TestPostgresTwoNodes(t *testing.T) {
	c := startPGCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	a, b := t.TempDir(), t.TempDir()
	startServe(t, a, "--node", n1.addr+","+n2.addr)
	startServe(t, b, "--node", n2.addr)
	cliJSON(t, a, "account", "create", "--name", "Ada")
	idB := str(cliJSON(t, b, "account", "create", "--name", "Bo"), "accountId")

	// Invite and join across nodes.
	sp := str(cliJSON(t, a, "space", "create", "--name", "Team"), "spaceId")
	objA := str(cliJSON(t, a, "object", "create", sp, "name=from A"), "objectId")
	link := str(cliJSON(t, a, "space", "invite", sp, "--no-approval"), "invite")
	cliJSON(t, b, "space", "join", link)
	eventually(t, "B (node 2) has A's object (node 1)", func() bool {
		d, _ := objectDetails(t, b, sp, objA)
		return d["name"] == "from A"
	})
	objB := str(cliJSON(t, b, "object", "create", sp, "name=from B"), "objectId")
	eventually(t, "A sees B's object, synced", func() bool {
		d, status := objectDetails(t, a, sp, objB)
		return d["name"] == "from B" && status == "synced"
	})
	cliJSON(t, a, "object", "set", sp, objB, "seen=yes")
	eventually(t, "B sees A's edit", func() bool {
		d, _ := objectDetails(t, b, sp, objB)
		return d["seen"] == "yes"
	})

	// Files: the chunks go through node 1 into the shared blob table; B reads them from
	// node 2.
	data := make([]byte, 1<<20+4321)
	_, _ = rand.Read(data)
	src := filepath.Join(t.TempDir(), "doc.bin")
	require.NoError(t, os.WriteFile(src, data, 0o600))
	fileID := str(cliJSON(t, a, "files", "add", sp, src), "fileId")
	out := filepath.Join(t.TempDir(), "got.bin")
	eventually(t, "B gets A's file", func() bool {
		_, _, code := cli(t, b, "files", "get", sp, fileID, "--out", out)
		return code == 0
	})
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "B's copy is A's file")

	// Kick on node 1: B, subscribed on node 2, offloads within 10× the kick budget.
	dirB := spaceDir(t, b, idB, sp)
	require.False(t, gone(dirB))
	cliJSON(t, a, "space", "kick", sp, idB)
	kicked := time.Now()
	for !gone(dirB) {
		require.Less(t, time.Since(kicked), 10*time.Second, "B still has the space's files")
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("kick on node 1 -> B's files gone (B on node 2): %v", time.Since(kicked))
	eventually(t, "B lists the space removed and offloaded", func() bool {
		e := spaceEntry(t, b, sp)
		return e != nil && e["mode"] == "offloaded"
	})
}

// TestPostgresFailover (issue 21): device A writes through node 1 while node 1 is killed;
// A fails over to node 2 (its second address) and converges with A's other device on
// node 2.
func TestPostgresFailover(t *testing.T) {
	const objects, perObject = 40, 50 // 2,000 changes
	c := startPGCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	spA, spA2 := pairOn(t, n1.addr+","+n2.addr, n2.addr)
	ctx := context.Background()

	pendingAtKill := make(chan int, 1)
	go func() { // node 1 dies in the middle of the burst, once A2 got part of it
		for {
			res, err := spA2.Query(ctx, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyType, spaceindex.String("burst"))})
			if err == nil && res.Total > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		n1.stop(syscall.SIGKILL)
		pendingAtKill <- spA.PendingCount()
	}()
	ids := burstWrite(t, spA, objects, perObject)
	pending := <-pendingAtKill
	t.Logf("node 1 killed with %d objects of A not yet acknowledged", pending)
	require.Positive(t, pending, "the kill came mid-sync")
	waitFor(t, 5*time.Minute, "A (failed over to node 2) and A2 converge", func() bool { return converged(t, spA, spA2, ids, perObject) })
	checkIdentical(t, spA, spA2, ids, perObject)
}

// TestPostgresNodeKeyGuard: a node started on the cluster's database with another key
// is refused with a message that says what to do.
func TestPostgresNodeKeyGuard(t *testing.T) {
	c := startPGCluster(t, 1)
	cmd := execHearth("node", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--store", c.url, "--key-file", filepath.Join(t.TempDir(), "other.key"))
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "every node of a cluster uses the same node key")
}

// execHearth is the hearth binary with args.
func execHearth(args ...string) *exec.Cmd { return exec.Command(hearthBin, args...) }

// pairOn sets up two devices of one account, the first on node address addrA, the other
// (recovered from the mnemonic) on addrB, and a space they share.
func pairOn(t testing.TB, addrA, addrB string) (spA, spB *space.Space) {
	a, b := newDevice(t, addrA), newDevice(t, addrB)
	_, mnemonic, err := a.app.Accounts().Create("Ada")
	require.NoError(t, err)
	ctx := context.Background()
	id, err := a.spaces(t).Create(ctx, "shared")
	require.NoError(t, err)
	spA, err = a.spaces(t).Get(ctx, id)
	require.NoError(t, err)
	_, err = b.app.Accounts().Recover(mnemonic, "")
	require.NoError(t, err)
	return spA, b.waitSpace(t, id)
}

// TestNodeStoreFlag: --store badger:PATH puts the embedded store at PATH (not under the
// data dir), and devices sync through it as before.
func TestNodeStoreFlag(t *testing.T) {
	data, dbDir := t.TempDir(), filepath.Join(t.TempDir(), "elsewhere")
	n := startNodeWith(t, data, "", "--store", "badger:"+dbDir)
	_, err := os.Stat(filepath.Join(dbDir, "MANIFEST"))
	require.NoError(t, err, "badger opened at the given path")
	assert.True(t, gone(filepath.Join(data, "db")), "nothing at the default place")
	spA, spB := pairOn(t, n.addr, n.addr)
	obj, err := spA.CreateObject(context.Background(), "note", space.Details{"name": objtree.String("x")})
	require.NoError(t, err)
	h, err := spA.Heads(context.Background(), obj)
	require.NoError(t, err)
	waitHeads(t, spB, obj, h)
}
