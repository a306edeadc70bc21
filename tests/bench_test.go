package tests

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// twoDevicesOneSpace sets up A and B (one account, B recovered) sharing a
// space through an in-process node over loopback.
func twoDevicesOneSpace(b *testing.B) (spA, spB *space.Space) {
	tn := newTestNode(b)
	return pairOn(b, tn.n.Addr(), tn.n.Addr())
}

// waitHeads polls (store reads, no actor round trip) until sp has heads.
func waitHeads(b testing.TB, sp *space.Space, id crypto.ObjectID, heads []string) {
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if h, err := sp.Heads(ctx, id); err == nil && slices.Equal(h, heads) {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.Fatalf("object %s did not reach heads %v", id, heads)
}

// BenchmarkSyncLatency: one change on device A until device B has it,
// through the node. Reports p50 and p99 (budget: p50 < 10 ms, p99 < 50 ms).
func BenchmarkSyncLatency(b *testing.B) {
	spA, spB := twoDevicesOneSpace(b)
	syncLatency(b, spA, spB)
}

// syncLatency measures one change on spA until spB has it, b.N times, and reports p50
// and p99.
func syncLatency(b *testing.B, spA, spB *space.Space) {
	ctx := context.Background()
	obj, err := spA.CreateObject(ctx, "bench", space.Details{"n": objtree.Number(0)})
	require.NoError(b, err)
	h, err := spA.Heads(ctx, obj)
	require.NoError(b, err)
	waitHeads(b, spB, obj, h)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		require.NoError(b, spA.UpdateObject(ctx, obj, space.Details{"n": objtree.Number(float64(i + 1))}, nil))
		h, err := spA.Heads(ctx, obj)
		require.NoError(b, err)
		waitHeads(b, spB, obj, h)
		lat = append(lat, time.Since(began))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkSyncBurst10k: 10,000 changes written on A (100 objects × 100)
// until B has every one of them (budget: < 3 s). Also reports how long A's
// local writes alone took.
func BenchmarkSyncBurst10k(b *testing.B) {
	const objects, perObject = 100, 100
	for i := range b.N {
		b.StopTimer()
		spA, spB := twoDevicesOneSpace(b)
		b.StartTimer()
		began := time.Now()
		ids := burstWrite(b, spA, objects, perObject)
		local := time.Since(began)
		waitFor(b, 5*time.Minute, "B has the burst", func() bool { return converged(b, spA, spB, ids, perObject) })
		if i == 0 {
			b.ReportMetric(local.Seconds(), "local-write-s")
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s@sync-burst-10k")
	b.ReportMetric(3, "max:s@sync-burst-10k")
}

// BenchmarkKickOffload: from the node accepting a removal until no file of
// the space is left on the kicked device (budget < 1 s).
func BenchmarkKickOffload(b *testing.B) {
	kickOffload(b, func(b *testing.B) (string, string) {
		tn := newTestNode(b)
		return tn.n.Addr(), tn.n.Addr()
	})
}

// kickOffload measures b.N kicks with the owner on the first node nodes returns and the
// member on the second.
func kickOffload(b *testing.B, nodes func(*testing.B) (owner, member string)) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		oa, ma := nodes(b)
		owner := newDevice(b, oa)
		member := newDevice(b, ma)
		_, _, err := owner.app.Accounts().Create("owner")
		require.NoError(b, err)
		info, _, err := member.app.Accounts().Create("member")
		require.NoError(b, err)
		ctx := context.Background()
		id, err := owner.spaces(b).Create(ctx, "kick")
		require.NoError(b, err)
		om, err := owner.app.Members()
		require.NoError(b, err)
		var link string
		waitFor(b, 60*time.Second, "the owner is connected", func() bool {
			link, err = om.CreateInvite(ctx, id, acl.RoleWriter, false)
			return err == nil
		})
		mm, err := member.app.Members()
		require.NoError(b, err)
		waitFor(b, 60*time.Second, "the member joins", func() bool {
			_, _, err = mm.Join(ctx, link)
			return err == nil
		})
		member.waitSpace(b, id)
		dir := filepath.Join(member.app.DataDir(), "accounts", string(info.ID), "spaces", string(id))
		b.StartTimer()
		_, err = om.Kick(ctx, id, string(info.ID))
		require.NoError(b, err)
		began := time.Now()
		waitFor(b, 60*time.Second, "the kicked device offloads", func() bool {
			_, err := os.Stat(dir)
			return os.IsNotExist(err)
		})
		total += time.Since(began)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "kick-to-gone-ms")
}
