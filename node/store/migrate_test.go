package store

import (
	"context"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// TestBadgerSchema1: a store written before quotas (schema 1: no owners, no counters)
// opens as schema 2 with each space's change bytes counted; its spaces count against
// nobody until SetOwner names the creator, which charges what they hold, once; the
// counters survive a reopen and a purge takes them off.
func TestBadgerSchema1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var owner crypto.PubKey
	owner[0] = 7
	sp := crypto.SpaceID(crypto.Sum([]byte("s")))
	obj := crypto.ObjectID(crypto.Sum([]byte("o")))
	s, err := OpenBadger(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.CreateSpace(ctx, sp, []byte("h"), []byte("r"), nil, owner, Limits{}))
	c1 := Change{ID: crypto.ChangeID(crypto.Sum([]byte("1"))), Raw: make([]byte, 300)}
	c2 := Change{ID: crypto.ChangeID(crypto.Sum([]byte("2"))), Raw: make([]byte, 2000)} // in the value log
	require.NoError(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{c2.ID}, []Change{c1, c2}, Limits{}))
	require.NoError(t, s.PutBlob(ctx, sp, "b", make([]byte, 50), Limits{}))
	// Make it a schema 1 store: what schema 2 added goes.
	who := string(owner.Identity())
	require.NoError(t, s.db.Update(func(txn *badger.Txn) error {
		for _, k := range [][]byte{keyOwner(sp), keyChangeUsage(sp), keyOwnerSpaces(who), keyOwnerChanges(who), keyOwnerBlobs(who)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(keySchema, []byte{1})
	}))
	require.NoError(t, s.Close())

	s, err = OpenBadger(dir, nil)
	require.NoError(t, err)
	u, err := s.Usage(ctx, owner)
	require.NoError(t, err)
	require.Equal(t, Usage{}, u, "no owner yet")
	c3 := Change{ID: crypto.ChangeID(crypto.Sum([]byte("3"))), Raw: make([]byte, 10)}
	require.NoError(t, s.PutChanges(ctx, sp, obj, []crypto.ChangeID{c2.ID}, []crypto.ChangeID{c3.ID}, []Change{c3}, Limits{ChangeBytes: 1}),
		"an unowned space counts against nobody")
	require.NoError(t, s.SetOwner(ctx, sp, owner))
	require.NoError(t, s.SetOwner(ctx, sp, owner), "once")
	u, err = s.Usage(ctx, owner)
	require.NoError(t, err)
	require.Equal(t, Usage{Spaces: 1, ChangeBytes: 2310, BlobBytes: 50}, u)
	require.NoError(t, s.Close())

	s, err = OpenBadger(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	u, err = s.Usage(ctx, owner)
	require.NoError(t, err)
	require.Equal(t, Usage{Spaces: 1, ChangeBytes: 2310, BlobBytes: 50}, u, "after a reopen")
	require.NoError(t, s.SwapStatus(ctx, sp, Status{Code: 0}, Status{Code: 2}))
	require.NoError(t, s.Purge(ctx, sp))
	u, err = s.Usage(ctx, owner)
	require.NoError(t, err)
	require.Equal(t, Usage{}, u)
}
