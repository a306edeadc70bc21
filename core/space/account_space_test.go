package space

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

// TestAccountSpaceIsIdenticalOnEveryDevice: two devices of one account
// build the same account space, and the same reference object per space, so
// the node sees one space and the references merge.
func TestAccountSpaceIsIdenticalOnEveryDevice(t *testing.T) {
	a, b, node := twoDevices(t)
	c := ctx(t)
	asA, err := a.svc.EnsureAccountSpace(c)
	require.NoError(t, err)
	asB, err := b.svc.EnsureAccountSpace(c)
	require.NoError(t, err)
	require.Equal(t, asA.ID(), asB.ID())
	regA, ok, err := asA.PendingRegistration(c)
	require.NoError(t, err)
	require.True(t, ok)
	regB, _, err := asB.PendingRegistration(c)
	require.NoError(t, err)
	assert.Equal(t, regA, regB, "byte-identical header and ACL root")

	// A space created on A is referenced in A's account space.
	id, err := a.svc.Create(c, "Shared")
	require.NoError(t, err)
	refs, err := a.svc.Refs(c)
	require.NoError(t, err)
	assert.Equal(t, []Ref{{Space: id, Name: "Shared", Status: AccountActive}}, withoutTimes(t, refs))
	// Writing the same reference again changes nothing.
	require.NoError(t, a.svc.Reconcile(c))
	pendingBefore, err := asA.PendingObjects(c)
	require.NoError(t, err)
	require.Len(t, pendingBefore, 1)
	batches, err := asA.Outgoing(c, pendingBefore[0])
	require.NoError(t, err)
	require.Len(t, batches, 1)
	assert.Len(t, batches[0].Changes, 2, "root and one change: reconcile wrote nothing new")

	// B writes the same reference independently (say, it imported the space).
	register(t, c, asA, node)
	_, err = b.svc.Import(c, mustHeader(t, a, id), mustRecords(t, a, id, node), "Shared")
	require.NoError(t, err)
	pendingB, err := asB.PendingObjects(c)
	require.NoError(t, err)
	assert.Equal(t, pendingBefore, pendingB, "the same object id on both devices")

	// Exchanging them leaves one reference per space on both sides.
	relay(t, c, asA, asB, pendingBefore[0])
	relay(t, c, asB, asA, pendingBefore[0])
	for _, e := range []*env{a, b} {
		refs, err := e.svc.Refs(c)
		require.NoError(t, err)
		assert.Equal(t, []Ref{{Space: id, Name: "Shared", Status: AccountActive}}, withoutTimes(t, refs))
	}
	res, err := asB.Query(c, spaceindex.Query{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Total)
}

// mustHeader registers the space with the node and returns its header.
func mustHeader(t *testing.T, e *env, id crypto.SpaceID) []byte {
	sp, err := e.svc.Get(ctx(t), id)
	require.NoError(t, err)
	return sp.header.Raw
}

// mustRecords registers the space with the node (if needed) and returns its
// node-accepted ACL records.
func mustRecords(t *testing.T, e *env, id crypto.SpaceID, node crypto.PrivKey) [][]byte {
	sp, err := e.svc.Get(ctx(t), id)
	require.NoError(t, err)
	if _, pending, _ := sp.PendingRegistration(ctx(t)); pending {
		register(t, ctx(t), sp, node)
	}
	recs, err := sp.store.AclRecords()
	require.NoError(t, err)
	return recs
}

// withoutTimes checks every reference carries its status time, then drops it
// for comparison.
func withoutTimes(t *testing.T, refs []Ref) []Ref {
	out := make([]Ref, len(refs))
	for i, r := range refs {
		assert.Positive(t, r.StatusAt, "the reference says when its status was set")
		r.StatusAt = 0
		out[i] = r
	}
	return out
}
