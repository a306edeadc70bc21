package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/pgtest"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/node/store/postgres"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/space"
)

// cluster is n nodes sharing one PostgreSQL database and one node key, each with its own
// store (as separate processes would have).
type cluster struct {
	url   string
	key   crypto.PrivKey
	nodes []*env
}

func pgStore(t *testing.T, url string) *postgres.Store {
	st, err := postgres.Open(bg, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// newCluster starts len(wrap) nodes; wrap[i] may hide capabilities of node i's store (nil
// keeps them all).
func newCluster(t *testing.T, wrap ...func(store.Store) store.Store) *cluster {
	c := &cluster{url: pgtest.Start(t).NewDB(t)}
	var err error
	c.key, err = crypto.GenerateKey()
	require.NoError(t, err)
	for _, w := range wrap {
		var st store.Store = pgStore(t, c.url)
		if w != nil {
			st = w(st)
		}
		e := startNode(t, st, c.key, func(cfg *node.Config) { cfg.Clock = time.Now })
		if _, ok := st.(store.Feed); ok {
			select { // the feed's first reset would end streams opened before it
			case <-node.FeedUp(e.node):
			case <-time.After(60 * time.Second):
				t.Fatal("the node's feed never listened")
			}
		}
		c.nodes = append(c.nodes, e)
	}
	return c
}

// noFeed hides every shared-store capability but the ACL re-check (a node that never
// hears of other nodes' writes).
type noFeed struct {
	store.Store
	h store.ACLHead
}

func (w noFeed) LastACL(ctx context.Context, id crypto.SpaceID) (uint64, error) {
	return w.h.LastACL(ctx, id)
}

func withoutFeed(st store.Store) store.Store { return noFeed{st, st.(store.ACLHead)} }

// plain hides every capability: a node that trusts its cache (the bug issue 21 names).
type plain struct{ store.Store }

func withoutCapabilities(st store.Store) store.Store { return plain{st} }

// recv waits for the next push that is not a space status.
func recv(t *testing.T, sub interface{ Recv() (*syncpb.Push, error) }) *syncpb.Push {
	t.Helper()
	for {
		p, err := sub.Recv()
		require.NoError(t, err)
		if p.GetSpaceStatus() == nil {
			return p
		}
	}
}

// TestClusterPush: device A on node 1, B on node 2: a change, ACL records and a status
// accepted on node 1 reach B's stream on node 2.
func TestClusterPush(t *testing.T) {
	c := newCluster(t, nil, nil)
	n1, n2 := c.nodes[0], c.nodes[1]
	a, b, m := newAccount(t), newAccount(t), newAccount(t)
	ac, bc, mc := n1.dial(a), n2.dial(b), n2.dial(m)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter) // B's join request goes through node 2
	s.join(ac, mc, a, m, acl.RoleWriter)

	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	sub, err := bc.Subscribe(ctx, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	defer sub.Close()
	first, err := sub.Recv()
	require.NoError(t, err)
	require.Equal(t, s.state.Seq(), first.GetSpaceStatus().AclSeq, "node 2 sees node 1's records")

	objects := func() uint32 { // what a head sync on node 2 finds (node 2 caches the set)
		res, err := bc.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
		require.NoError(t, err)
		rr, err := diff.ResultsFromPB(res)
		require.NoError(t, err)
		return rr[0].Count
	}
	require.Zero(t, objects())

	o, root := s.newObject(a)
	ch := o.change(a, "x")
	ack, err := ac.HeadUpdate(bg, o.update(root, ch))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
	p := recv(t, sub)
	require.NotNil(t, p.GetHeadUpdate(), "%v", p)
	require.Equal(t, [][]byte{root, ch}, p.GetHeadUpdate().Changes)
	require.Equal(t, ack.Heads, p.GetHeadUpdate().Heads)
	require.EqualValues(t, 1, objects(), "node 2's head-sync set learned of node 1's write")

	ik, _ := crypto.GenerateKey()
	inv, err := acl.Builder{Author: a.account}.Invite(s.state, ik.Public(), acl.RoleReader, true, s.readKey, s.now())
	require.NoError(t, err)
	r := s.add(ac, inv)
	p = recv(t, sub)
	require.Equal(t, [][]byte{r.Accepted}, p.GetAclUpdate().GetRecords())

	// M is removed on node 1; M's stream on node 2 gets its removal record.
	msub, err := mc.Subscribe(ctx, nil)
	require.NoError(t, err)
	defer msub.Close()
	_, err = msub.Recv()
	require.NoError(t, err)
	rm := s.remove(ac, a, m)
	p = recv(t, msub)
	require.Equal(t, [][]byte{rm.Accepted}, p.GetAclUpdate().GetRecords(), "the removed member hears of it on the other node")
	p = recv(t, sub)
	require.Equal(t, [][]byte{rm.Accepted}, p.GetAclUpdate().GetRecords())

	// A status change on node 1 reaches B on node 2.
	req, err := space.NewDeleteRequest(a.account, s.id, 10, false)
	require.NoError(t, err)
	_, err = ac.SpaceDelete(bg, req)
	require.NoError(t, err)
	for {
		p, err := sub.Recv()
		require.NoError(t, err)
		if st := p.GetSpaceStatus(); st != nil {
			require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, st.Status)
			break
		}
	}
}

// TestClusterStaleCache: node 2 cached the ACL while B was a member; node 1 removes B.
// Node 2 hears nothing of it (no feed), yet refuses B at once: every membership decision
// re-checks the stored sequence number. Without the re-check it would not (the bug).
func TestClusterStaleCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   func(store.Store) store.Store
		refuse bool
	}{
		{"re-checked", withoutFeed, true},
		{"cache trusted (the bug)", withoutCapabilities, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, nil, tc.wrap)
			n1, n2 := c.nodes[0], c.nodes[1]
			a, b := newAccount(t), newAccount(t)
			ac, bc := n1.dial(a), n2.dial(b)
			s := createSpace(t, ac, a)
			s.join(ac, bc, a, b, acl.RoleWriter)
			o, root := s.newObject(b)
			ack, err := bc.HeadUpdate(bg, o.update(root))
			require.NoError(t, err)
			require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, "node 2 caches B as a writer")

			s.remove(ac, a, b)
			_, err = bc.HeadUpdate(bg, o.update(o.change(b, "late")))
			_, ferr := bc.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
			if tc.refuse {
				requireCode(t, codes.PermissionDenied, err, "a removed member's write")
				requireCode(t, codes.PermissionDenied, ferr, "a removed member's read")
			} else {
				require.NoError(t, err)
				require.NoError(t, ferr)
			}
		})
	}
}

// TestClusterLostPush: a device whose node missed a push (no feed at all here) still
// catches up by head sync; and when a node's listen connection drops, its subscribers
// are disconnected so that they resubscribe and head-sync.
func TestClusterLostPush(t *testing.T) {
	c := newCluster(t, nil, withoutFeed, nil)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	a, b := newAccount(t), newAccount(t)
	ac, bc := n1.dial(a), n2.dial(b)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter)
	o, root := s.newObject(a)
	ack, err := ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)
	res, err := bc.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
	require.NoError(t, err)
	rr, err := diff.ResultsFromPB(res)
	require.NoError(t, err)
	require.Equal(t, uint32(1), rr[0].Count, "head sync on node 2 finds the object node 1 stored")
	f, err := bc.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	require.NoError(t, err)
	require.Equal(t, [][]byte{root}, f.Changes)

	// Node 3 listens; kill its listen connection from the server side.
	k := n3.node.Key()
	cc, err := syncclient.Dial(bg, syncclient.Config{Addr: n3.node.Addr(), DeviceKey: b.key, DeviceCert: b.cert, NodeKey: &k})
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	sub, err := cc.Subscribe(ctx, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	defer sub.Close()
	_, err = sub.Recv()
	require.NoError(t, err)
	o2, root2 := s.newObject(a)
	_, err = ac.HeadUpdate(bg, o2.update(root2))
	require.NoError(t, err)
	require.NotNil(t, recv(t, sub).GetHeadUpdate(), "node 3 pushes node 1's write")
	admin, err := pgxpool.New(bg, c.url)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(bg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'`)
	require.NoError(t, err)
	for {
		_, err := sub.Recv()
		if err != nil {
			require.True(t, syncclient.Retryable(err), "the device is told to resubscribe: %v", err)
			break
		}
	}
}

// TestClusterJanitorLease: the janitor runs on one node of a cluster at a time.
func TestClusterJanitorLease(t *testing.T) {
	c := newCluster(t, nil, nil)
	ran1, err := node.JanitorTick(c.nodes[0].node, bg)
	require.NoError(t, err)
	ran2, err := node.JanitorTick(c.nodes[1].node, bg)
	require.NoError(t, err)
	require.NotEqual(t, ran1, ran2, "exactly one of two nodes sweeps")
	again, err := node.JanitorTick(c.nodes[0].node, bg)
	require.NoError(t, err)
	require.Equal(t, ran1, again, "the holder keeps its lease")
	ran, err := node.JanitorTick(memNode(t).node, bg)
	require.NoError(t, err)
	require.True(t, ran, "an embedded store has no lease: its one node sweeps")
}
