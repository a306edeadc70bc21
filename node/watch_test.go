package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// A stream that does not watch a space gets news of its changes once (until
// it watches it); Watch makes the same stream carry its head updates, and
// HeadDigests answers the digest a head sync's first round compares, for
// members only.
func TestWatchNewsAndDigests(t *testing.T) {
	e := memNode(t)
	a, b, stranger := newAccount(t), newAccount(t), newAccount(t)
	ac, bc, sc := e.dial(a), e.dial(b), e.dial(stranger)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter)

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	sub, err := bc.Subscribe(ctx, nil) // B keeps the space unloaded
	require.NoError(t, err)
	defer sub.Close()
	first, err := sub.Recv()
	require.NoError(t, err)
	require.Equal(t, string(s.id), first.GetSpaceStatus().SpaceId)

	o, root := s.newObject(a)
	_, err = ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	p, err := sub.Recv()
	require.NoError(t, err)
	require.Equal(t, string(s.id), p.GetSpaceNews().GetSpaceId(), "news of an unwatched space: %v", p)
	_, err = ac.HeadUpdate(bg, o.update(o.change(a, "again")))
	require.NoError(t, err)

	w, err := bc.Watch(bg, []crypto.SpaceID{s.id}, nil)
	require.NoError(t, err)
	require.Len(t, w.Statuses, 1, "the added space's status")
	require.Equal(t, s.state.Seq(), w.Statuses[0].AclSeq)
	_, err = ac.HeadUpdate(bg, o.update(o.change(a, "watched")))
	require.NoError(t, err)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.NotNil(t, p.GetHeadUpdate(), "watched now: head updates, and the second change made no second news: %v", p)

	// Unwatched again: news again, once.
	_, err = bc.Watch(bg, nil, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	_, err = ac.HeadUpdate(bg, o.update(o.change(a, "unwatched")))
	require.NoError(t, err)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.NotNil(t, p.GetSpaceNews(), "%v", p)

	d, err := bc.HeadDigests(bg, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	require.Len(t, d.Digests, 1)
	require.True(t, d.Digests[0].Served)
	require.EqualValues(t, 1, d.Digests[0].Count, "one object")
	hs, err := bc.HeadSync(bg, &syncpb.HeadSyncRequest{SpaceId: string(s.id), Ranges: []*syncpb.HeadSyncRange{{From: 0, To: ^uint64(0)}}})
	require.NoError(t, err)
	require.Equal(t, hs.Results[0].Hash, d.Digests[0].Hash, "the digest is the whole range's hash")

	d, err = sc.HeadDigests(bg, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	require.False(t, d.Digests[0].Served, "a stranger learns nothing")
	require.Empty(t, d.Digests[0].Hash)

	_, err = sc.Watch(bg, []crypto.SpaceID{s.id}, nil)
	require.Error(t, err, "no stream of the stranger's session to watch with")
	ssub, err := sc.Subscribe(ctx, nil)
	require.NoError(t, err)
	defer ssub.Close()
	w, err = sc.Watch(bg, []crypto.SpaceID{s.id}, nil)
	require.NoError(t, err)
	require.Empty(t, w.Statuses, "a space not served to the caller is skipped")
	_, err = ac.HeadUpdate(bg, o.update(o.change(a, "for members only")))
	require.NoError(t, err)
	rctx, rcancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer rcancel()
	quiet, err := sc.Subscribe(rctx, nil)
	require.NoError(t, err)
	_, err = quiet.Recv()
	require.Error(t, err, "the stranger's stream carries nothing of the space")
}
