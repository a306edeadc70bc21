package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// burstWrite makes objects×perObject changes on sp: change j of an object
// sets key kJ, so a lost change shows as a missing key.
func burstWrite(t testing.TB, sp *space.Space, objects, perObject int) []crypto.ObjectID {
	ctx := context.Background()
	ids := make([]crypto.ObjectID, objects)
	for i := range ids {
		id, err := sp.CreateObject(ctx, "burst", space.Details{"name": objtree.String(fmt.Sprintf("o%d", i))})
		require.NoError(t, err)
		ids[i] = id
	}
	var wg sync.WaitGroup
	for w := range 4 { // a few writers, like an app's burst
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < objects; i += 4 {
				for j := 1; j < perObject; j++ { // the create was change 0
					if err := sp.UpdateObject(ctx, ids[i], space.Details{fmt.Sprintf("k%d", j): objtree.Number(float64(j))}, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

// converged reports whether b holds every change a holds, with identical
// state, and a says every object is synced.
func converged(t testing.TB, a, b *space.Space, ids []crypto.ObjectID, perObject int) bool {
	ctx := context.Background()
	for _, id := range ids {
		ha, err := a.Heads(ctx, id)
		if err != nil {
			return false
		}
		hb, err := b.Heads(ctx, id)
		if err != nil || fmt.Sprint(ha) != fmt.Sprint(hb) {
			return false
		}
	}
	res, err := a.Query(ctx, spaceindex.Query{Filter: spaceindex.Ne(spaceindex.KeySyncStatus, spaceindex.Number(float64(spaceindex.SyncSynced)))})
	return err == nil && res.Total == 0
}

// checkIdentical asserts b has exactly a's details for every object, with
// every key of the burst present (nothing lost, nothing invented).
func checkIdentical(t *testing.T, a, b *space.Space, ids []crypto.ObjectID, perObject int) {
	ctx := context.Background()
	for _, id := range ids {
		oa, err := a.Get(ctx, id)
		require.NoError(t, err)
		ob, err := b.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, oa.Details, ob.Details)
		require.Len(t, oa.Details, perObject, "name plus one key per change")
	}
}

// TestBurstWithCutsAndNodeRestart: 10,000 changes from device A while the
// connection is cut again and again and the node restarts mid-sync; device
// B (the same account, recovered) ends with exactly A's data.
func TestBurstWithCutsAndNodeRestart(t *testing.T) {
	const objects, perObject = 100, 100 // 10,000 changes
	tn := newTestNode(t)
	px := newProxy(t, tn.n.Addr())
	a := newDevice(t, px.addr())
	b := newDevice(t, px.addr())
	_, mnemonic, err := a.app.Accounts().Create("Ada")
	require.NoError(t, err)
	ctx := context.Background()
	id, err := a.spaces(t).Create(ctx, "burst")
	require.NoError(t, err)
	spA, err := a.spaces(t).Get(ctx, id)
	require.NoError(t, err)
	_, err = b.app.Accounts().Recover(mnemonic, "")
	require.NoError(t, err)
	spB := b.waitSpace(t, id)

	var cuts atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // cut the link every 250 ms for the whole burst
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				px.cut()
				cuts.Add(1)
			}
		}
	}()
	ids := burstWrite(t, spA, objects, perObject)
	// The node restarts in the middle of syncing the burst.
	px.setTarget(tn.restart())
	px.cut()
	time.Sleep(time.Second)
	close(stop)
	<-done
	t.Logf("link cut %d times during the burst", cuts.Load())
	assert.Greater(t, cuts.Load(), int32(2))

	waitFor(t, 5*time.Minute, "B converges with A", func() bool { return converged(t, spA, spB, ids, perObject) })
	checkIdentical(t, spA, spB, ids, perObject)
}
