package mobile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/pb"
)

// The facade forwards the platform's lifecycle to the middleware; the
// counting of what stops and comes back is tests/applife_test.go's. Here:
// each call reaches the running middleware, is harmless when none runs, and
// Background before Start is remembered.
func TestLifecycleForwarded(t *testing.T) {
	n, key := startNode(t)
	m, _, dir := newInstance(t)
	// Before Start: nothing to act on, nothing breaks.
	m.networkChanged()
	assert.NoError(t, m.memoryPressure())
	m.setBackground(true)

	cfg := encodeConfig(t, &pb.MobileConfig{DataDir: dir, NodeAddrs: []string{n.Addr()}, NodeKey: string(key.Identity())})
	require.NoError(t, m.startConfig(cfg, nil))
	assert.NoError(t, m.memoryPressure(), "no account: nothing to free")
	createAccount(t, m, "Alice")
	sp := command(t, m, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: "Home"}, &pb.Rpc_Space_Create_Response{})
	require.Nil(t, sp.Error)
	time.Sleep(300 * time.Millisecond) // a short look for a wrong call, not a timing assertion
	assert.Zero(t, n.Calls()["Hello"], "started in the background: no call to the node")
	assert.Equal(t, "offline", spaceStatus(t, m, sp.SpaceId).Network)

	m.setBackground(false)
	waitUntil(t, "the space syncs in the foreground", func() bool { return spaceStatus(t, m, sp.SpaceId).Status == "synced" })
	hellos := n.Calls()["Hello"]
	m.networkChanged()
	waitUntil(t, "a network change redials", func() bool { return n.Calls()["Hello"] > hellos })
	assert.NoError(t, m.memoryPressure())
	obj := command(t, m, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: sp.SpaceId, Type: "note"}, &pb.Rpc_Object_Create_Response{})
	require.Nil(t, obj.Error, "the middleware works after a trim")

	m.setBackground(true)
	waitUntil(t, "the background closes the connection", func() bool { return spaceStatus(t, m, sp.SpaceId).Network == "offline" })
	require.NoError(t, m.stop())
	// Stopped: remembered for the next Start, harmless now.
	m.setBackground(false)
	m.networkChanged()
	assert.NoError(t, m.memoryPressure())
}
