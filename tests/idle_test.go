package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/syncstatus"
)

// callsSince returns how many calls of each method the node served since
// before.
func callsSince(now, before map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for m, n := range now {
		if n > before[m] {
			d[m] = n - before[m]
		}
	}
	return d
}

// An idle device asks the node almost nothing. Round 1 answered every ACL
// fetch's status with another fetch, forever: hundreds of AclLog calls per
// space per second. Counted, not timed: once the spaces are synced, ten
// seconds of nothing happening cost at most a handful of AclLog calls per
// space, and no calls at all but head syncs (every 30 s per space).
func TestIdleDeviceMakesAlmostNoCalls(t *testing.T) {
	tn := newTestNode(t)
	d := newDevice(t, tn.n.Addr())
	ctx := context.Background()
	_, _, err := d.app.Accounts().Create("idle")
	require.NoError(t, err)
	const spaces = 3
	var ids []crypto.SpaceID
	for i := range spaces {
		id, err := d.spaces(t).Create(ctx, fmt.Sprint("space ", i))
		require.NoError(t, err)
		sp, err := d.spaces(t).Get(ctx, id)
		require.NoError(t, err)
		_, err = sp.CreateObject(ctx, "note", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitFor(t, 60*time.Second, "space "+string(id)+" is synced", func() bool {
			st, ok, err := d.app.SyncStatus(id)
			return err == nil && ok && st.State == syncstatus.Synced
		})
	}
	before := tn.n.Calls()
	time.Sleep(10 * time.Second)
	calls := callsSince(tn.n.Calls(), before)
	loaded := spaces + 1 // and the account space
	require.LessOrEqual(t, calls["AclLog"], uint64(2*loaded), "AclLog calls by an idle device in 10 s: %v", calls)
	for m, n := range calls {
		if m != "HeadSync" && m != "AclLog" {
			t.Errorf("an idle device called %s %d times in 10 s (all calls: %v)", m, n, calls)
		}
	}
	// At most one head sync per loaded space in 10 s (every 30 s, one round
	// trip when nothing differs), with one more of slack for a tick at the
	// window's edge.
	require.LessOrEqual(t, calls["HeadSync"], uint64(2*loaded), "head syncs by an idle device in 10 s: %v", calls)
}
