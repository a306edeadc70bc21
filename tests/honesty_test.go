package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
	"github.com/hearth-sync/hearth/syncstatus"
)

// nodeHas reports whether the node's store durably holds every local head
// of obj (read from the node's own database, not from what it answered).
func nodeHas(t *testing.T, tn *testNode, sp crypto.SpaceID, obj crypto.ObjectID, local []string) bool {
	if tn.st == nil {
		return false
	}
	ids := make([]crypto.ChangeID, len(local))
	for i, h := range local {
		ids[i] = crypto.ChangeID(h)
	}
	has, err := tn.st.HasChanges(context.Background(), sp, obj, ids)
	if err != nil {
		return false
	}
	for _, ok := range has {
		if !ok {
			return false
		}
	}
	return true
}

// TestSyncStatusHonestUnderFaults: random rounds of writes while the link is
// cut (acks lost mid-flight) and the node restarts. At every observation no
// object and no space says synced while the node lacks a local head; once
// the faults stop, everything reaches synced.
func TestSyncStatusHonestUnderFaults(t *testing.T) {
	tn := newTestNode(t)
	px := newProxy(t, tn.n.Addr())
	dev := newDevice(t, px.addr())
	_, _, err := dev.app.Accounts().Create("honest")
	require.NoError(t, err)
	ctx := context.Background()
	id, err := dev.spaces(t).Create(ctx, "honest")
	require.NoError(t, err)
	sp, err := dev.spaces(t).Get(ctx, id)
	require.NoError(t, err)

	var objects []crypto.ObjectID
	for i := range 5 {
		o, err := sp.CreateObject(ctx, "doc", space.Details{"name": objtree.String(fmt.Sprintf("o%d", i))})
		require.NoError(t, err)
		objects = append(objects, o)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	falseSynced, observations := 0, 0
	observe := func() {
		// Object statuses, as any client reads them: through the index.
		res, err := sp.Query(ctx, spaceindex.Query{})
		require.NoError(t, err)
		for _, r := range res.Records {
			if r.SyncStatus.State != spaceindex.SyncSynced {
				continue
			}
			local, err := sp.Heads(ctx, crypto.ObjectID(r.ID))
			require.NoError(t, err)
			observations++
			if !nodeHas(t, tn, id, crypto.ObjectID(r.ID), local) {
				falseSynced++
				t.Errorf("object %s says synced, the node lacks one of %v", r.ID, local)
			}
		}
		// The space's status: synced only if no object waits.
		if st, ok, err := dev.app.SyncStatus(id); err == nil && ok && st.State == syncstatus.Synced {
			observations++
			for _, o := range objects {
				local, err := sp.Heads(ctx, o)
				require.NoError(t, err)
				if !nodeHas(t, tn, id, o, local) {
					falseSynced++
					t.Errorf("space says synced, the node lacks object %s's heads", o)
					break
				}
			}
		}
	}

	const rounds = 60
	for round := range rounds {
		for range 1 + rng.IntN(4) {
			o := objects[rng.IntN(len(objects))]
			require.NoError(t, sp.UpdateObject(ctx, o, space.Details{fmt.Sprintf("r%d", round): objtree.Number(float64(rng.IntN(100)))}, nil))
			observe()
		}
		switch rng.IntN(6) {
		case 0, 1: // the link drops: acks in flight are lost
			px.cut()
		case 2: // the node restarts
			px.setTarget(tn.restart())
			px.cut()
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		observe()
	}
	t.Logf("%d observations of synced, %d false", observations, falseSynced)
	require.Zero(t, falseSynced, "no object or space ever said synced while the node lacked a local head")
	require.Positive(t, observations, "the test saw synced states to check")

	waitFor(t, 2*time.Minute, "everything reaches synced once the faults stop", func() bool {
		res, err := sp.Query(ctx, spaceindex.Query{Filter: spaceindex.Ne(spaceindex.KeySyncStatus, spaceindex.Number(float64(spaceindex.SyncSynced)))})
		if err != nil || res.Total != 0 {
			return false
		}
		st, ok, err := dev.app.SyncStatus(id)
		return err == nil && ok && st.State == syncstatus.Synced && st.SyncingObjects == 0
	})
	for _, o := range objects {
		local, err := sp.Heads(ctx, o)
		require.NoError(t, err)
		require.True(t, nodeHas(t, tn, id, o, local), "synced means the node has it")
	}
}
