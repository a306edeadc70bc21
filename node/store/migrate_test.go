package store

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// TestBadgerSchema1: a store written before quotas (schema 1: no owners, no counters)
// opens as schema 2; its spaces count against nobody until SetOwner names the creator,
// which charges what they hold (its changes counted from the store), once; the counters
// survive a reopen and a purge takes them off.
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
		for _, k := range [][]byte{keyOwner(sp), keyOwnerSpaces(who), keyOwnerChanges(who), keyOwnerBlobs(who)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(keySchema, []byte{1})
	}))
	db, release, err := s.db.Acquire()
	require.NoError(t, err)
	require.NoError(t, db.DropPrefix([]byte("ud/")))
	release()
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

// TestBadgerUsageDeltas: an owner's byte counters are a base plus a delta per write;
// deltas past compactAfter are folded into the base, and the counter stays exact through
// the folding and a reopen, as does the limit it enforces.
func TestBadgerUsageDeltas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var owner crypto.PubKey
	owner[0] = 9
	sp := crypto.SpaceID(crypto.Sum([]byte("s")))
	s, err := OpenBadger(dir, nil)
	require.NoError(t, err)
	lim := Limits{ChangeBytes: 10 * 1000}
	require.NoError(t, s.CreateSpace(ctx, sp, []byte("h"), []byte("r"), nil, owner, lim))
	const writes = 3*compactAfter + 10
	for i := range writes {
		obj := crypto.ObjectID(crypto.Sum([]byte{byte(i), byte(i >> 8)}))
		c := Change{ID: crypto.ChangeID(crypto.Sum([]byte{'c', byte(i), byte(i >> 8)})), Raw: make([]byte, 10)}
		require.NoError(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{c.ID}, []Change{c}, lim))
	}
	deltas := 0
	require.NoError(t, s.db.View(func(txn *badger.Txn) error {
		_, deltas, err = sumLocked(txn, string(owner.Identity()), usageChanges)
		return err
	}))
	require.Less(t, deltas, compactAfter+1, "folded")
	u, err := s.Usage(ctx, owner)
	require.NoError(t, err)
	require.EqualValues(t, 10*writes, u.ChangeBytes)
	require.NoError(t, s.Close())

	s, err = OpenBadger(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	u, err = s.Usage(ctx, owner)
	require.NoError(t, err)
	require.EqualValues(t, 10*writes, u.ChangeBytes, "after a reopen")
	room := lim.ChangeBytes - u.ChangeBytes
	obj := crypto.ObjectID(crypto.Sum([]byte("last")))
	over := Change{ID: crypto.ChangeID(crypto.Sum([]byte("over"))), Raw: make([]byte, room+1)}
	require.ErrorIs(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{over.ID}, []Change{over}, lim), ErrQuota)
	fits := Change{ID: crypto.ChangeID(crypto.Sum([]byte("fits"))), Raw: make([]byte, room)}
	require.NoError(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{fits.ID}, []Change{fits}, lim))
}

// TestBadgerFullDisk (issue 16.7, a fake probe): on a disk with too little room every
// write fails with ErrNoSpace and stores nothing, reads go on; the store opened on the
// full disk opens read-only and takes writes again once there is room; a new store is
// not made there.
func TestBadgerFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var full atomic.Bool
	disk := &badgerdb.Disk{Probe: func(string) (uint64, error) {
		if full.Load() {
			return 1 << 20, nil
		}
		return 1 << 40, nil
	}}
	var owner crypto.PubKey
	sp := crypto.SpaceID(crypto.Sum([]byte("s")))
	obj := crypto.ObjectID(crypto.Sum([]byte("o")))
	c := Change{ID: crypto.ChangeID(crypto.Sum([]byte("1"))), Raw: []byte("raw")}
	s, err := OpenBadgerOn(disk, dir, nil, false)
	require.NoError(t, err)
	require.NoError(t, s.CreateSpace(ctx, sp, []byte("h"), []byte("r"), nil, owner, Limits{}))
	full.Store(true)
	err = s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{c.ID}, []Change{c}, Limits{})
	require.ErrorIs(t, err, ErrNoSpace)
	require.True(t, errkind.Is(err, errkind.NoSpace))
	require.ErrorIs(t, s.PutBlob(ctx, sp, "b", []byte("x"), Limits{}), ErrNoSpace)
	h, err := s.Header(ctx, sp)
	require.NoError(t, err, "reads go on")
	require.Equal(t, []byte("h"), h)
	require.NoError(t, s.Close())

	s, err = OpenBadgerOn(disk, dir, nil, false)
	require.NoError(t, err, "opens on the full disk")
	_, err = s.Header(ctx, sp)
	require.NoError(t, err)
	require.ErrorIs(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{c.ID}, []Change{c}, Limits{}), ErrNoSpace,
		"read-only while the disk is full")
	full.Store(false)
	require.NoError(t, s.PutChanges(ctx, sp, obj, nil, []crypto.ChangeID{c.ID}, []Change{c}, Limits{}),
		"room again: the database reopens for writing, no restart needed")
	require.NoError(t, s.Close())

	full.Store(true)
	_, err = OpenBadgerOn(disk, t.TempDir(), nil, false)
	require.True(t, errkind.Is(err, errkind.NoSpace), "no new store on a full disk: %v", err)
}
