package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/pgtest"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store/postgres"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/space"
)

// Benchmarks of the PostgreSQL cluster against the badger node, in the same run (issue
// 21). The PostgreSQL server keeps fsync on, as badger syncs every write.

// backends are the node setups compared: n nodes (the badger store has one node only).
type backend struct {
	name  string
	nodes func(b *testing.B, n int) []string // addresses of n nodes (or of one, repeated)
}

var backends = []backend{
	{"badger-1node", func(b *testing.B, n int) []string {
		tn := newTestNode(b)
		out := make([]string, n)
		for i := range out {
			out[i] = tn.n.Addr()
		}
		return out
	}},
	{"postgres-nodes", func(b *testing.B, n int) []string { return pgNodes(b, n) }},
}

// pgNodes starts n in-process nodes on one durable PostgreSQL database, one store each.
func pgNodes(b testing.TB, n int) []string {
	url := pgtest.Start(b, pgtest.Options{Durable: true}).NewDB(b)
	key, err := crypto.GenerateKey()
	require.NoError(b, err)
	var addrs []string
	for range n {
		st, err := postgres.Open(context.Background(), url, quiet)
		require.NoError(b, err)
		nd, err := node.Start(node.Config{Key: key, Store: st, Listen: "127.0.0.1:0", Logger: quiet})
		require.NoError(b, err)
		b.Cleanup(func() { nd.Close(); st.Close() })
		addrs = append(addrs, nd.Addr())
	}
	time.Sleep(500 * time.Millisecond) // past the feeds' first reset (it ends early streams)
	return addrs
}

// BenchmarkClusterSyncLatency: one change from device A (node 1) until device B (node 2)
// has it; p50/p99 (budget p50 < 10 ms, p99 < 50 ms).
func BenchmarkClusterSyncLatency(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			addrs := be.nodes(b, 2)
			spA, spB := pairOn(b, addrs[0], addrs[1])
			syncLatency(b, spA, spB)
		})
	}
}

// BenchmarkClusterBurst10k: 10,000 changes on A (node 1) until B (node 2) has them all
// (budget < 3 s).
func BenchmarkClusterBurst10k(b *testing.B) {
	const objects, perObject = 100, 100
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				addrs := be.nodes(b, 2)
				spA, spB := pairOn(b, addrs[0], addrs[1])
				b.StartTimer()
				ids := burstWrite(b, spA, objects, perObject)
				waitFor(b, 5*time.Minute, "B has the burst", func() bool { return converged(b, spA, spB, ids, perObject) })
			}
		})
	}
}

// BenchmarkClusterKickOffload: the owner on node 1 kicks a member whose device is on
// node 2, until no file of the space is left on it (budget < 1 s).
func BenchmarkClusterKickOffload(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			kickOffload(b, func(b *testing.B) (string, string) {
				addrs := be.nodes(b, 2)
				return addrs[0], addrs[1]
			})
		})
	}
}

// BenchmarkClusterACLAppend: four writers (devices of the owner, one per node) append ACL
// records to one space as fast as they can; a lost race answers CONFLICT and the writer
// reads the log and tries again. Reports accepted appends/s and conflicts per append.
func BenchmarkClusterACLAppend(b *testing.B) {
	const writers = 4
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			addrs := be.nodes(b, writers)
			owner, err := crypto.GenerateKey()
			require.NoError(b, err)
			var clients []*syncclient.Client
			for _, a := range addrs {
				dk, _ := crypto.GenerateKey()
				cert, err := crypto.NewDeviceCert(owner, dk.Public(), 1)
				require.NoError(b, err)
				c, err := syncclient.Dial(context.Background(), syncclient.Config{Addr: a, DeviceKey: dk, DeviceCert: cert})
				require.NoError(b, err)
				b.Cleanup(func() { c.Close() })
				clients = append(clients, c)
			}
			h, err := space.NewHeader(owner, 1)
			require.NoError(b, err)
			rk, err := crypto.NewSymKey()
			require.NoError(b, err)
			root, err := acl.Builder{Author: owner}.Root(h.ID, rk, 1)
			require.NoError(b, err)
			resp, err := clients[0].SpacePush(context.Background(), h.Raw, root)
			require.NoError(b, err)
			require.Equal(b, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status)

			var ts, left, conflicts atomic.Int64
			ts.Store(10)
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := appendLoop(c, h, owner, rk, &ts, &left, &conflicts); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/append")
		})
	}
}

// appendLoop appends invites until left runs out, catching up through AclLog after a
// conflict.
func appendLoop(c *syncclient.Client, h space.Header, owner crypto.PrivKey, rk crypto.SymKey, ts, left, conflicts *atomic.Int64) error {
	ctx := context.Background()
	st := acl.New(h.ID, h.Creator)
	catchUp := func() error {
		for {
			log, err := c.AclLog(ctx, h.ID, st.Seq())
			if err != nil {
				return err
			}
			if st, err = acl.Replay(st, c.NodeKey(), log.Records); err != nil {
				return err
			}
			if st.Seq() >= log.Status.AclSeq {
				return nil
			}
		}
	}
	if err := catchUp(); err != nil {
		return err
	}
	for left.Add(-1) >= 0 {
		for {
			ik, _ := crypto.GenerateKey()
			rec, err := acl.Builder{Author: owner}.Invite(st, ik.Public(), acl.RoleReader, true, rk, ts.Add(1))
			if err != nil {
				return err
			}
			resp, err := c.AclAdd(ctx, h.ID, rec)
			if err != nil {
				return err
			}
			if resp.Status == syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED {
				if st, err = acl.Replay(st, c.NodeKey(), [][]byte{resp.Accepted}); err != nil {
					return err
				}
				break
			}
			if resp.Status != syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT {
				return fmt.Errorf("append: %v %s", resp.Status, resp.Reason)
			}
			conflicts.Add(1)
			if err := catchUp(); err != nil {
				return err
			}
		}
	}
	return nil
}
