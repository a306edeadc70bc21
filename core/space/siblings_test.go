package space

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// TestManySiblings is the attack of issue 16.5: one writer makes n concurrent
// siblings of an object. With 300 the next change needed 300 parents (the
// limit is 256) and the object could not be written any more; with 3,000 the
// device could not even store them ("Txn is too big", the store's badger caps
// a transaction at about 150 KiB). Now the device stores them, writes on them
// through merge changes of at most MaxParents parents each, and every change it
// made verifies as the node and other members check it.
func TestManySiblings(t *testing.T) {
	for _, n := range []int{300, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := ctx(t)
			a, spA, spB := sharedSpace(t, c)
			w := newWriter(t, c, spA, a.account)
			obj, root := w.root(t, "task")
			raws := [][]byte{root}
			var nodeHeads []string
			for i := range n {
				raws = append(raws, w.change(t, obj, []crypto.ChangeID{crypto.ChangeID(obj)}, objtree.Set(fmt.Sprintf("k%04d", i), objtree.Number(float64(i)))))
				nodeHeads = append(nodeHeads, string(idOf(t, raws[len(raws)-1])))
			}
			missing, err := spB.ApplyRemote(c, obj, raws, nodeHeads)
			require.NoError(t, err, "store %d siblings", n)
			require.Empty(t, missing)
			heads, err := spB.Heads(c, obj)
			require.NoError(t, err)
			require.Len(t, heads, n)

			require.NoError(t, spB.UpdateObject(c, obj, Details{"merged": objtree.Bool(true)}, nil))
			heads, err = spB.Heads(c, obj)
			require.NoError(t, err)
			require.Len(t, heads, 1, "one change on top of every sibling")
			batches, err := spB.Outgoing(c, obj)
			require.NoError(t, err)
			var made int
			for _, hu := range batches {
				for _, raw := range hu.Changes {
					ch, err := objtree.Verify(raw)
					require.NoError(t, err, "what the device sends verifies (at most %d parents)", protocol.MaxParents)
					require.LessOrEqual(t, len(ch.Parents), protocol.MaxParents)
					if ch.Author == a.account.Public() && len(ch.Parents) > 1 {
						made++
					}
				}
			}
			assert.Equal(t, (n+protocol.MaxParents-1)/protocol.MaxParents+1, made, "merges of at most %d, then the change", protocol.MaxParents)

			// The other device, which had the siblings, gets the merges and agrees.
			_, err = spA.ApplyRemote(c, obj, raws, nodeHeads)
			require.NoError(t, err)
			for _, hu := range batches {
				_, err := spA.ApplyRemote(c, obj, hu.Changes, nil)
				require.NoError(t, err)
			}
			got, err := spB.Get(c, obj)
			require.NoError(t, err)
			require.Len(t, got.Details, n+1)
			other, err := spA.Get(c, obj)
			require.NoError(t, err)
			assert.Equal(t, got.Details, other.Details)
		})
	}
}

// TestMergeManyLevels: more heads than MaxParents² take two levels of merges.
func TestMergeManyLevels(t *testing.T) {
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	rk, err := crypto.NewSymKey()
	require.NoError(t, err)
	sp := crypto.SpaceID(crypto.Sum([]byte("space")))
	obj := crypto.ObjectID(crypto.Sum([]byte("object")))
	heads := make([]crypto.ChangeID, protocol.MaxParents*protocol.MaxParents+7)
	for i := range heads {
		heads[i] = crypto.ChangeID(crypto.Sum([]byte(fmt.Sprint(i))))
	}
	merges, parents, err := objtree.Builder{Space: sp, Author: k}.Merge(obj, heads, crypto.RecordID(crypto.Sum([]byte("acl"))), rk, 1)
	require.NoError(t, err)
	require.Len(t, parents, 2)
	require.Len(t, merges, protocol.MaxParents+1+2)
	for _, m := range merges {
		require.LessOrEqual(t, len(m.Parents), protocol.MaxParents)
	}
	few, parents, err := objtree.Builder{Space: sp, Author: k}.Merge(obj, heads[:protocol.MaxParents], crypto.RecordID(crypto.Sum([]byte("acl"))), rk, 1)
	require.NoError(t, err)
	assert.Empty(t, few, "heads that fit need no merge")
	assert.Len(t, parents, protocol.MaxParents)
}

// TestHeadsRepairedFromStoredChanges: a batch too big for one transaction
// stores its changes ahead of the object's meta; after a crash between the
// two, the next load of the object takes its heads from the stored changes.
func TestHeadsRepairedFromStoredChanges(t *testing.T) {
	c := ctx(t)
	e := newEnv(t)
	id, sp := homeSpace(t, e)
	obj, err := sp.CreateObject(c, "task", Details{"name": str("x")})
	require.NoError(t, err)
	old, err := sp.Heads(c, obj)
	require.NoError(t, err)
	w := newWriter(t, c, sp, e.account)
	later := w.change(t, obj, changeIDs(old), objtree.Set("later", objtree.Bool(true)))
	in, err := e.svc.Info(id)
	require.NoError(t, err)
	dir := e.svc.storeDir(in)
	e.close()

	// The crash: the change is stored, the meta still names the old heads.
	st, err := spacestore.Open(dir, quiet)
	require.NoError(t, err)
	meta, err := st.Meta(string(obj))
	require.NoError(t, err)
	_, err = st.WriteChanges(string(obj), []string{string(idOf(t, later))}, [][]byte{later}, meta, false)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	e.open()
	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, objtree.Bool(true), got.Details["later"])
	heads, err := sp.Heads(c, obj)
	require.NoError(t, err)
	assert.Equal(t, []string{string(idOf(t, later))}, heads, "the meta follows the stored changes")
}
