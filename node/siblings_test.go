package node_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// TestManySiblingsOnPhoneStore is the node's half of issue 16.5: a writer pushes 3,000
// concurrent siblings of one object in one HeadUpdate to a node on the phone-sized badger
// store (the node inside `hearth serve`, whose transactions hold about 150 KiB). The node
// stores them as a run of prefixes, answers with every sibling as a head, serves them all,
// and takes the merges that bring them back to one head.
func TestManySiblingsOnPhoneStore(t *testing.T) {
	st, err := store.OpenBadger(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := startNode(t, st, crypto.PrivKey{}, nil)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	o, root := s.newObject(owner)
	const n = 3000
	changes := [][]byte{root}
	base := o.heads
	var want []crypto.ChangeID
	for i := range n {
		o.heads = base
		changes = append(changes, o.change(owner, fmt.Sprint("k", i)))
		want = append(want, o.heads...)
	}
	ack, err := c.HeadUpdate(bg, o.update(changes...))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
	require.ElementsMatch(t, headStrings(want), ack.Heads)

	got := 0
	var have []string
	for range 100 {
		f, err := c.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id), HaveHeads: have})
		require.NoError(t, err)
		got += len(f.Changes)
		for _, raw := range f.Changes {
			ch, err := objtree.Verify(raw)
			require.NoError(t, err)
			have = append(have, string(ch.ID))
		}
		if !f.Truncated {
			break
		}
	}
	require.Equal(t, n+1, got, "every change is served")

	merges, parents, err := objtree.Builder{Space: s.id, Author: owner.account}.Merge(o.id, want, s.state.Head(), s.readKey, s.now())
	require.NoError(t, err)
	o.heads = parents
	last := o.change(owner, "merged")
	batch := make([][]byte, 0, len(merges)+1)
	for _, m := range merges {
		require.LessOrEqual(t, len(m.Parents), protocol.MaxParents)
		batch = append(batch, m.Raw)
	}
	ack, err = c.HeadUpdate(bg, o.update(append(batch, last)...))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
	require.Equal(t, headStrings(o.heads), ack.Heads)
}
