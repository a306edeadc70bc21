package node_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// requireQuota checks a node's refusal over a quota: RESOURCE_EXHAUSTED carrying the
// reason QUOTA_EXCEEDED and the limit's word.
func requireQuota(t *testing.T, err error, limit string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	reason, meta := syncpb.ReasonOf(err)
	require.Equal(t, syncpb.ReasonQuotaExceeded, reason, "%v", err)
	require.Equal(t, limit, meta["limit"], "%v", err)
	require.Contains(t, err.Error(), "quota exceeded")
}

// pushSpace makes a new space of owner and pushes it.
func pushSpace(t *testing.T, c *syncclient.Client, owner device) (*syncpb.AclAddResponse, error) {
	h, _, root := newSpace(t, owner)
	return c.SpacePush(bg, h.Raw, root)
}

// TestQuotaSpaces is the attack of issue 16.4: one self-made identity creates 300 spaces
// (each came with its own 1 GiB of blobs). With the default limit the node takes 100 and
// refuses the rest with QUOTA_EXCEEDED; another identity still creates spaces; the count
// survives a restart of the node.
func TestQuotaSpaces(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBadger(dir, nil)
	require.NoError(t, err)
	e := startNode(t, st, crypto.PrivKey{}, nil)
	mallory := newAccount(t)
	c := e.dial(mallory)
	accepted, refused := 0, 0
	for range 300 {
		resp, err := pushSpace(t, c, mallory)
		if err != nil {
			requireQuota(t, err, "spaces")
			refused++
			continue
		}
		require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status, resp.Reason)
		accepted++
	}
	require.Equal(t, node.DefaultMaxSpaces, accepted)
	require.Equal(t, 300-node.DefaultMaxSpaces, refused)
	u, err := st.Usage(bg, mallory.account.Public())
	require.NoError(t, err)
	require.EqualValues(t, node.DefaultMaxSpaces, u.Spaces)
	alice := newAccount(t)
	resp, err := pushSpace(t, e.dial(alice), alice)
	require.NoError(t, err, "quotas are per identity")
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status)

	// After a restart the count is still there.
	require.NoError(t, e.node.Close())
	require.NoError(t, st.Close())
	st, err = store.OpenBadger(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e = startNode(t, st, e.key, nil)
	_, err = pushSpace(t, e.dial(mallory), mallory)
	requireQuota(t, err, "spaces")
}

// TestQuotaChanges: the bytes of changes count against the space's owner, whoever writes
// them and in whichever of the owner's spaces; past the limit a HeadUpdate is refused with
// QUOTA_EXCEEDED and nothing is stored; other owners are not limited by it.
func TestQuotaChanges(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.ChangeQuota = 8 << 10 })
	owner, writer := newAccount(t), newAccount(t)
	oc, wc := e.dial(owner), e.dial(writer)
	s1, s2 := createSpace(t, oc, owner), createSpace(t, oc, owner)
	s2.join(oc, wc, owner, writer, acl.RoleWriter)
	var used int
	push := func(c *syncclient.Client, s *tspace, author device) error {
		o, root := s.newObject(author)
		ch := o.change(author, "k")
		ack, err := c.HeadUpdate(bg, o.update(root, ch))
		if err == nil {
			require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
			used += len(root) + len(ch)
		}
		return err
	}
	var err error
	for i := 0; err == nil; i++ {
		switch i % 3 {
		case 0:
			err = push(oc, s1, owner)
		case 1:
			err = push(oc, s2, owner)
		default:
			err = push(wc, s2, writer) // a writer's changes count against the owner
		}
		require.Less(t, i, 100, "the quota must bite")
	}
	requireQuota(t, err, "changes")
	u, uerr := e.store.Usage(bg, owner.account.Public())
	require.NoError(t, uerr)
	require.EqualValues(t, used, u.ChangeBytes, "exactly what was stored")
	require.LessOrEqual(t, u.ChangeBytes, int64(8<<10))
	u, uerr = e.store.Usage(bg, writer.account.Public())
	require.NoError(t, uerr)
	require.Zero(t, u.ChangeBytes, "the writer owns nothing")

	other := newAccount(t)
	oth := e.dial(other)
	require.NoError(t, push(oth, createSpace(t, oth, other), other), "another owner has its own quota")
}

// TestQuotaIdentityBlobs: blobs count against the owner across its spaces; past the limit
// a put is refused with QUOTA_EXCEEDED, which the device's client reads as a quota; a
// delete gives the room back.
func TestQuotaIdentityBlobs(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.IdentityBlobQuota = 3000 })
	owner := newAccount(t)
	c := e.dial(owner)
	s1, s2 := createSpace(t, c, owner), createSpace(t, c, owner)
	a, b, over := newBlob(t, 1000), newBlob(t, 1500), newBlob(t, 600)
	require.NoError(t, c.PutBlob(bg, s1.id, a.id, a.data))
	require.NoError(t, c.PutBlob(bg, s2.id, b.id, b.data))
	err := c.PutBlob(bg, s1.id, over.id, over.data)
	requireKind(t, errkind.Quota, err)
	requireQuota(t, err, "blobs")
	_, err = c.DeleteBlobs(bg, s2.id, []string{b.id})
	require.NoError(t, err)
	require.NoError(t, c.PutBlob(bg, s1.id, over.id, over.data), "a delete frees room")
}

// TestNodeFullDisk (issue 16.7): a node whose disk has too little room refuses writes
// with RESOURCE_EXHAUSTED and the reason NO_SPACE, and serves what it has.
func TestNodeFullDisk(t *testing.T) {
	var full atomic.Bool
	disk := &badgerdb.Disk{Probe: func(string) (uint64, error) {
		if full.Load() {
			return 1 << 20, nil
		}
		return 1 << 40, nil
	}}
	st, err := store.OpenBadgerOn(disk, t.TempDir(), nil, false)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := startNode(t, st, crypto.PrivKey{}, nil)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	o, root := s.newObject(owner)
	ack, err := c.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)

	full.Store(true)
	_, err = c.HeadUpdate(bg, o.update(o.change(owner, "k")))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	reason, _ := syncpb.ReasonOf(err)
	require.Equal(t, syncpb.ReasonNoSpace, reason)
	_, err = pushSpace(t, c, owner)
	reason, _ = syncpb.ReasonOf(err)
	require.Equal(t, syncpb.ReasonNoSpace, reason)
	f, err := c.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	require.NoError(t, err, "reads go on")
	require.Len(t, f.Changes, 1)
}

// TestSessionLimit: one account holds at most MaxSessions devices with a live session on a
// node; a device opening a new session counts once; the next device is refused with
// QUOTA_EXCEEDED until a session expires; other accounts are not limited by it.
func TestSessionLimit(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) {
		c.MaxSessions = 2
		c.SessionTTL = time.Hour
	})
	acc := newAccount(t)
	d2 := newDevice(t, acc.account)
	d3 := newDevice(t, acc.account)
	e.dial(acc)
	e.dial(acc) // the same device again: still one
	e.dial(d2)
	k := e.node.Key()
	_, err := syncclient.Dial(bg, syncclient.Config{Addr: e.node.Addr(), DeviceKey: d3.key, DeviceCert: d3.cert, NodeKey: &k})
	requireQuota(t, err, "sessions")
	e.dial(newAccount(t))

	e.clock.Advance(time.Hour + time.Second)
	e.dial(d3) // the others' sessions expired
}

// TestStreamLimit: a session opens at most MaxStreams push streams at once; one more is
// refused with QUOTA_EXCEEDED; closing one makes room.
func TestStreamLimit(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.MaxStreams = 2 })
	acc := newAccount(t)
	c := e.dial(acc)
	createSpace(t, c, acc)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var subs []*syncclient.Subscription
	for range 2 {
		sub, err := c.Subscribe(ctx, nil)
		require.NoError(t, err)
		_, err = sub.Recv() // the first status: the stream is registered
		require.NoError(t, err)
		subs = append(subs, sub)
	}
	sub, err := c.Subscribe(ctx, nil)
	require.NoError(t, err)
	_, err = sub.Recv()
	requireQuota(t, err, "streams")
	subs[0].Close()
	require.Eventually(t, func() bool {
		sub, err := c.Subscribe(ctx, nil)
		if err != nil {
			return false
		}
		defer sub.Close()
		_, err = sub.Recv()
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	for _, s := range subs {
		s.Close()
	}
}
