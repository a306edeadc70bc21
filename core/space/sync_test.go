package space

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/spaceindex"
)

// twoDevices is one account on two devices, with a node key both pinned.
func twoDevices(t *testing.T) (a, b *env, node crypto.PrivKey) {
	node, err := crypto.GenerateKey()
	require.NoError(t, err)
	pinned := func() (crypto.PubKey, bool) { return node.Public(), true }
	acc, err := crypto.GenerateKey()
	require.NoError(t, err)
	mk := func() *env {
		dev, err := crypto.GenerateKey()
		require.NoError(t, err)
		e := &env{t: t, dir: t.TempDir(), account: acc, device: dev, nodeKey: pinned}
		e.open()
		t.Cleanup(e.close)
		return e
	}
	return mk(), mk(), node
}

// register plays the node's part for a new space: accept its root.
func register(t *testing.T, c context.Context, sp *Space, node crypto.PrivKey) (header []byte, records [][]byte) {
	reg, ok, err := sp.PendingRegistration(c)
	require.NoError(t, err)
	require.True(t, ok)
	rec, err := acl.VerifyAuthor(reg.AclRoot)
	require.NoError(t, err)
	accepted, err := acl.Countersign(node, rec, 1)
	require.NoError(t, err)
	require.NoError(t, sp.AcceptRegistration(c, accepted.Accepted))
	_, ok, err = sp.PendingRegistration(c)
	require.NoError(t, err)
	assert.False(t, ok, "registered")
	return reg.Header, [][]byte{accepted.Accepted}
}

// relay plays the node's part for one object: A's outgoing changes reach B.
func relay(t *testing.T, c context.Context, from, to *Space, id crypto.ObjectID) {
	batches, err := from.Outgoing(c, id)
	require.NoError(t, err)
	for _, hu := range batches {
		missing, err := to.ApplyRemote(c, id, hu.Changes, hu.Heads)
		require.NoError(t, err)
		assert.Empty(t, missing)
		lacking, err := from.Acknowledged(c, id, hu.Heads)
		require.NoError(t, err)
		assert.False(t, lacking)
	}
}

func TestTwoDevicesConverge(t *testing.T) {
	c := ctx(t)
	_, spA, spB := sharedSpace(t, c)

	obj, err := spA.CreateObject(c, "task", Details{"name": str("from A")})
	require.NoError(t, err)
	pending, err := spA.PendingObjects(c)
	require.NoError(t, err)
	assert.Equal(t, []crypto.ObjectID{obj}, pending)
	relay(t, c, spA, spB, obj)
	pending, err = spA.PendingObjects(c)
	require.NoError(t, err)
	assert.Empty(t, pending, "acknowledged objects leave the push queue")

	// Concurrent edits on both devices, then exchange both ways.
	require.NoError(t, spA.UpdateObject(c, obj, Details{"a": num(1), "same": str("A")}, nil))
	require.NoError(t, spB.UpdateObject(c, obj, Details{"b": num(2), "same": str("B")}, nil))
	relay(t, c, spA, spB, obj)
	relay(t, c, spB, spA, obj)

	gotA, err := spA.Get(c, obj)
	require.NoError(t, err)
	gotB, err := spB.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, gotA.Details, gotB.Details, "same changes, same state")
	assert.Equal(t, num(1), gotA.Details["a"])
	assert.Equal(t, num(2), gotA.Details["b"])
	headsA, _ := spA.Heads(c, obj)
	headsB, _ := spB.Heads(c, obj)
	assert.Equal(t, headsA, headsB)
	assert.Len(t, headsA, 2, "two concurrent heads until someone writes on both")

	// Head-sync summaries agree once converged.
	setA, err := spA.Summary(c)
	require.NoError(t, err)
	setB, err := spB.Summary(c)
	require.NoError(t, err)
	res, _, err := diffSync(setA, setB)
	require.NoError(t, err)
	assert.Empty(t, res)

	// Synced is honest: B wrote, A relayed back everything, B's ack covers B's heads.
	recB, err := spB.Query(c, spaceindex.Query{})
	require.NoError(t, err)
	require.Equal(t, 1, recB.Total)
	assert.Equal(t, spaceindex.SyncSynced, recB.Records[0].SyncStatus.State)

	// A new local change is not synced until acknowledged.
	require.NoError(t, spB.UpdateObject(c, obj, Details{"c": num(3)}, nil))
	recB, err = spB.Query(c, spaceindex.Query{})
	require.NoError(t, err)
	assert.NotEqual(t, spaceindex.SyncSynced, recB.Records[0].SyncStatus.State)
}

func TestApplyRemoteRejectsForeignChanges(t *testing.T) {
	a, b, node := twoDevices(t)
	c := ctx(t)
	id, err := a.svc.Create(c, "One")
	require.NoError(t, err)
	spA, err := a.svc.Get(c, id)
	require.NoError(t, err)
	register(t, c, spA, node)
	obj, err := spA.CreateObject(c, "x", Details{"k": num(1)})
	require.NoError(t, err)
	batches, err := spA.Outgoing(c, obj)
	require.NoError(t, err)

	other, err := b.svc.Create(c, "Other")
	require.NoError(t, err)
	spOther, err := b.svc.Get(c, other)
	require.NoError(t, err)
	_, err = spOther.ApplyRemote(c, obj, batches[0].Changes, nil)
	assert.Error(t, err, "changes of another space are refused")
	_, err = spOther.ApplyRemote(c, obj, [][]byte{[]byte("garbage")}, nil)
	assert.Error(t, err)
}

func TestApplyAclRejectsGapsAndForgeries(t *testing.T) {
	a, _, node := twoDevices(t)
	c := ctx(t)
	id, err := a.svc.Create(c, "One")
	require.NoError(t, err)
	sp, err := a.svc.Get(c, id)
	require.NoError(t, err)
	register(t, c, sp, node)
	st, err := sp.AclState(c)
	require.NoError(t, err)

	invKey, err := crypto.GenerateKey()
	require.NoError(t, err)
	readKey, err := crypto.NewSymKey()
	require.NoError(t, err)
	raw, err := acl.Builder{Author: a.account}.Invite(st, invKey.Public(), acl.RoleWriter, true, readKey, 2)
	require.NoError(t, err)
	rec, err := acl.VerifyAuthor(raw)
	require.NoError(t, err)

	forger, err := crypto.GenerateKey()
	require.NoError(t, err)
	forged, err := acl.Countersign(forger, rec, 2)
	require.NoError(t, err)
	_, err = sp.ApplyAcl(c, [][]byte{forged.Accepted})
	assert.Error(t, err, "a record not countersigned by the pinned node is refused")

	gap, err := acl.Countersign(node, rec, 3)
	require.NoError(t, err)
	_, err = sp.ApplyAcl(c, [][]byte{gap.Accepted})
	assert.Error(t, err, "a gap in the sequence is refused")

	good, err := acl.Countersign(node, rec, 2)
	require.NoError(t, err)
	n, err := sp.ApplyAcl(c, [][]byte{good.Accepted, good.Accepted})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a replayed record is skipped")
	seq, err := sp.AclSeq(c)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), seq)

	// The record survives a reload.
	a.reopen()
	sp, err = a.svc.Get(c, id)
	require.NoError(t, err)
	seq, err = sp.AclSeq(c)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), seq)
	assert.Len(t, mustState(t, sp).Invites(), 1)
}

func mustState(t *testing.T, sp *Space) acl.State {
	st, err := sp.AclState(context.Background())
	require.NoError(t, err)
	return st
}

// diffSync compares two head-sync sets in-process and lists what differs.
func diffSync(a, b *diff.Set) ([]string, int, error) {
	res, rounds, err := diff.Sync(a, b)
	if err != nil {
		return nil, rounds, err
	}
	return append(append(append([]string{}, res.Changed...), res.RemoteOnly...), res.LocalOnly...), rounds, nil
}

// TestAcceptRegistrationRefusesAnotherRoot: the node's acceptance must be of
// this space's own root, countersigned by the pinned node.
func TestAcceptRegistrationRefusesAnotherRoot(t *testing.T) {
	a, _, node := twoDevices(t)
	c := ctx(t)
	one, err := a.svc.Create(c, "one")
	require.NoError(t, err)
	two, err := a.svc.Create(c, "two")
	require.NoError(t, err)
	spOne, err := a.svc.Get(c, one)
	require.NoError(t, err)
	spTwo, err := a.svc.Get(c, two)
	require.NoError(t, err)

	regTwo, _, err := spTwo.PendingRegistration(c)
	require.NoError(t, err)
	recTwo, err := acl.VerifyAuthor(regTwo.AclRoot)
	require.NoError(t, err)
	acceptedTwo, err := acl.Countersign(node, recTwo, 1)
	require.NoError(t, err)
	assert.Error(t, spOne.AcceptRegistration(c, acceptedTwo.Accepted), "another space's root is refused")

	forger, err := crypto.GenerateKey()
	require.NoError(t, err)
	regOne, _, err := spOne.PendingRegistration(c)
	require.NoError(t, err)
	recOne, err := acl.VerifyAuthor(regOne.AclRoot)
	require.NoError(t, err)
	forged, err := acl.Countersign(forger, recOne, 1)
	require.NoError(t, err)
	assert.Error(t, spOne.AcceptRegistration(c, forged.Accepted), "a root not countersigned by the pinned node is refused")

	register(t, c, spOne, node) // the real one is accepted
}

// TestPendingCountFollowsTheStore: the actor's pending count equals the
// store's count of pending objects through creates, edits, acknowledgements
// and a reload.
func TestPendingCountFollowsTheStore(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Pending")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	check := func(want int) {
		t.Helper()
		got := sp.PendingCount()
		stored, err := sp.store.PendingCount()
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, stored, got, "the actor's count is the store's")
	}
	check(0)
	var objs []crypto.ObjectID
	for i := range 3 {
		o, err := sp.CreateObject(c, "note", Details{"n": num(float64(i))})
		require.NoError(t, err)
		objs = append(objs, o)
	}
	check(3)
	require.NoError(t, sp.UpdateObject(c, objs[0], Details{"n": num(9)}, nil))
	check(3) // already pending
	heads, err := sp.Heads(c, objs[0])
	require.NoError(t, err)
	require.NoError(t, ackOK(sp.Acknowledged(c, objs[0], heads)))
	check(2)
	require.NoError(t, ackOK(sp.Acknowledged(c, objs[0], heads)))
	check(2) // acknowledging again changes nothing
	require.NoError(t, ackOK(sp.Acknowledged(c, objs[1], nil)))
	check(2) // heads that do not cover leave it pending
	require.NoError(t, sp.UpdateObject(c, objs[0], Details{"n": num(10)}, nil))
	check(3)
	require.NoError(t, e.svc.Unload(id))
	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	check(3)
}

// ackOK drops Acknowledged's lacking (these tests know what the node holds).
func ackOK(_ bool, err error) error { return err }

// applyMany is what a download does with objects from the node: verify, then apply.
func applyMany(c context.Context, sp *Space, objs []RemoteObject) ([][]crypto.ChangeID, error) {
	verified, err := sp.VerifyRemote(objs)
	if err != nil {
		return nil, err
	}
	return sp.ApplyVerified(c, verified)
}

// TestApplyVerifiedMatchesOneByOne: a download applied in batches leaves
// the same objects, details and sync statuses as ApplyRemote one object at
// a time, across several actor requests (more than maxApplyMany objects);
// a forged change stops it at that object, the ones before it are applied
// and indexed, and nothing after it is.
func TestApplyVerifiedMatchesOneByOne(t *testing.T) {
	c := ctx(t)
	_, spA, spB := sharedSpace(t, c)

	const n = 2*maxApplyMany + 7
	var objs []RemoteObject
	for i := range n {
		obj, err := spA.CreateObject(c, "task", Details{"name": str(fmt.Sprint("task ", i)), "n": num(float64(i))})
		require.NoError(t, err)
		batches, err := spA.Outgoing(c, obj)
		require.NoError(t, err)
		require.Len(t, batches, 1)
		objs = append(objs, RemoteObject{ID: obj, Raws: batches[0].Changes, NodeHeads: batches[0].Heads})
	}
	forged := maxApplyMany + 3
	bad := slices.Clone(objs[forged].Raws)
	bad[0] = slices.Clone(bad[0])
	bad[0][len(bad[0])-1] ^= 1 // the signature no longer matches
	withForgery := slices.Clone(objs)
	withForgery[forged].Raws = bad

	missing, err := applyMany(c, spB, withForgery)
	require.Error(t, err, "a forged change is refused")
	res, err := spB.Query(c, spaceindex.Query{ExactTotal: true})
	require.NoError(t, err)
	assert.Equal(t, forged, res.Total, "the objects before the forgery are applied, none after")
	for _, rec := range res.Records {
		assert.Equal(t, spaceindex.SyncSynced, rec.SyncStatus.State, "the node's heads cover them")
	}

	missing, err = applyMany(c, spB, objs) // the honest download, again from the start
	require.NoError(t, err)
	require.Len(t, missing, n)
	for i, o := range objs {
		assert.Empty(t, missing[i])
		gotA, err := spA.Get(c, o.ID)
		require.NoError(t, err)
		gotB, err := spB.Get(c, o.ID)
		require.NoError(t, err)
		assert.Equal(t, gotA.Details, gotB.Details)
		assert.Equal(t, spaceindex.SyncSynced, gotB.SyncStatus.State)
	}
	res, err = spB.Query(c, spaceindex.Query{ExactTotal: true, Filter: spaceindex.Eq("n", spaceindex.Number(float64(n-1)))})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Total, "the last batch is indexed too")
}

// TestRejectedShowsInTheSyncStatus: a rejection from the node turns the
// object's index record to error/rejected, and one for an object the index
// does not hold is no error.
func TestRejectedShowsInTheSyncStatus(t *testing.T) {
	_, _, sp := newLoadedSpace(t)
	c := ctx(t)
	obj, err := sp.CreateObject(c, "note", Details{"name": str("x")})
	require.NoError(t, err)
	require.NoError(t, sp.Rejected(c, obj, "quota"))
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, spaceindex.SyncStatus{State: spaceindex.SyncError, Reason: spaceindex.SyncErrorRejected}, got.SyncStatus)
	require.NoError(t, sp.Rejected(c, crypto.ObjectID("not-an-object"), "quota"))
}
