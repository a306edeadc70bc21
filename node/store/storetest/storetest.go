// Package storetest is the one conformance suite of store.Store: every implementation
// (in-memory, badger, any later shared backend) runs Run in its tests. It owns no
// implementation and must never depend on one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

func sid(s string) crypto.SpaceID  { return crypto.SpaceID(crypto.Sum([]byte("space:" + s))) }
func oid(s string) crypto.ObjectID { return crypto.ObjectID(crypto.Sum([]byte("object:" + s))) }
func key(s string) crypto.PubKey {
	var k crypto.PubKey
	copy(k[:], crypto.Sum([]byte("key:"+s)).Bytes())
	return k
}
func change(s string) store.Change  { return store.Change{ID: chid(s), Raw: []byte("raw " + s)} }
func chid(s string) crypto.ChangeID { return crypto.ChangeID(crypto.Sum([]byte("change:" + s))) }

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	tests := map[string]func(*testing.T, store.Store){
		"Spaces":       testSpaces,
		"Status":       testStatus,
		"ACL":          testACL,
		"ACLRace":      testACLRace,
		"Changes":      testChanges,
		"ChangesRace":  testChangesRace,
		"ChangesBig":   testChangesBig,
		"Purge":        testPurge,
		"Index":        testIndex,
		"Blobs":        testBlobs,
		"BlobQuota":    testBlobQuota,
		"BlobRace":     testBlobRace,
		"BlobUsage":    testBlobUsageProperty,
		"BlobPurge":    testBlobPurge,
		"QuotaSpaces":  testQuotaSpaces,
		"QuotaChanges": testQuotaChanges,
		"QuotaBlobs":   testQuotaBlobs,
		"QuotaRace":    testQuotaRace,
		"Usage":        testUsageProperty,
		"SetOwner":     testSetOwner,
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			s := open(t)
			defer func() { require.NoError(t, s.Close()); require.NoError(t, s.Close(), "Close is idempotent") }()
			tests[n](t, s)
		})
	}
}

var ctx = context.Background()

func testSpaces(t *testing.T, s store.Store) {
	_, err := s.Header(ctx, sid("a"))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Status(ctx, sid("a"))
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("header"), []byte("root"), []crypto.PubKey{key("owner")}, key("owner"), store.Limits{}))
	require.ErrorIs(t, s.CreateSpace(ctx, sid("a"), []byte("h2"), []byte("r2"), nil, key("owner"), store.Limits{}), store.ErrExists)
	h, err := s.Header(ctx, sid("a"))
	require.NoError(t, err)
	require.Equal(t, []byte("header"), h)
	st, err := s.Status(ctx, sid("a"))
	require.NoError(t, err)
	require.Equal(t, store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}, st)
	var recs []string
	require.NoError(t, s.ACL(ctx, sid("a"), 0, func(seq uint64, b []byte) bool { recs = append(recs, fmt.Sprint(seq, string(b))); return true }))
	require.Equal(t, []string{"1root"}, recs)
}

func testStatus(t *testing.T, s store.Store) {
	require.ErrorIs(t, s.SwapStatus(ctx, sid("a"), store.Status{}, store.Status{}), store.ErrNotFound)
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	ok := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}
	pending := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, DeletionAt: 1000, LastRequest: 5}
	require.NoError(t, s.SwapStatus(ctx, sid("a"), ok, pending))
	require.ErrorIs(t, s.SwapStatus(ctx, sid("a"), ok, pending), store.ErrStale)
	st, err := s.Status(ctx, sid("a"))
	require.NoError(t, err)
	require.Equal(t, pending, st)
	got := map[crypto.SpaceID]store.Status{}
	require.NoError(t, s.Statuses(ctx, func(id crypto.SpaceID, st store.Status) bool { got[id] = st; return true }))
	require.Equal(t, map[crypto.SpaceID]store.Status{sid("a"): pending, sid("b"): ok}, got)
	n := 0
	require.NoError(t, s.Statuses(ctx, func(crypto.SpaceID, store.Status) bool { n++; return false }))
	require.Equal(t, 1, n, "returning false stops the walk")
}

func testACL(t *testing.T, s store.Store) {
	require.ErrorIs(t, s.AppendACL(ctx, sid("a"), 2, []byte("x"), nil), store.ErrNotFound)
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r1"), nil, key("owner"), store.Limits{}))
	require.ErrorIs(t, s.AppendACL(ctx, sid("a"), 1, []byte("again"), nil), store.ErrStale)
	require.ErrorIs(t, s.AppendACL(ctx, sid("a"), 3, []byte("gap"), nil), store.ErrStale)
	for i := uint64(2); i <= 5; i++ {
		require.NoError(t, s.AppendACL(ctx, sid("a"), i, []byte(fmt.Sprint("r", i)), nil))
	}
	var got []string
	require.NoError(t, s.ACL(ctx, sid("a"), 2, func(seq uint64, b []byte) bool {
		got = append(got, fmt.Sprint(seq, "=", string(b)))
		return seq < 4
	}))
	require.Equal(t, []string{"3=r3", "4=r4"}, got)
	got = nil
	require.NoError(t, s.ACL(ctx, sid("a"), 5, func(seq uint64, b []byte) bool { got = append(got, string(b)); return true }))
	require.Empty(t, got)
}

// testACLRace: many writers append the same sequence number; exactly one wins each.
func testACLRace(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r1"), nil, key("owner"), store.Limits{}))
	const writers, rounds = 4, 10
	var mu sync.Mutex
	wins := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(2); seq < 2+rounds; seq++ {
				err := s.AppendACL(ctx, sid("a"), seq, []byte(fmt.Sprint("w", w, "s", seq)), nil)
				if err == nil {
					mu.Lock()
					wins[seq]++
					mu.Unlock()
					continue
				}
				if !errors.Is(err, store.ErrStale) {
					t.Errorf("append: %v", err)
					return
				}
				// Lost or ahead of the chain: retry this seq until it is taken.
				for {
					var last uint64
					_ = s.ACL(ctx, sid("a"), 0, func(q uint64, _ []byte) bool { last = q; return true })
					if last >= seq {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	for seq := uint64(2); seq < 2+rounds; seq++ {
		require.Equal(t, 1, wins[seq], "seq %d", seq)
	}
}

func testChanges(t *testing.T, s store.Store) {
	_, err := s.Heads(ctx, sid("a"), oid("x"))
	require.ErrorIs(t, err, store.ErrNotFound, "unknown space")
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	heads, err := s.Heads(ctx, sid("a"), oid("x"))
	require.NoError(t, err)
	require.Nil(t, heads)
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("x"), nil, []crypto.ChangeID{chid("1")}, []store.Change{change("1")}, store.Limits{}))
	require.ErrorIs(t, s.PutChanges(ctx, sid("a"), oid("x"), nil, []crypto.ChangeID{chid("9")}, []store.Change{change("9")}, store.Limits{}), store.ErrStale)
	two := []crypto.ChangeID{chid("2"), chid("3")}
	slices.Sort(two)
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("x"), []crypto.ChangeID{chid("1")}, two, []store.Change{change("2"), change("3"), change("1")}, store.Limits{}))
	heads, err = s.Heads(ctx, sid("a"), oid("x"))
	require.NoError(t, err)
	require.Equal(t, two, heads)
	has, err := s.HasChanges(ctx, sid("a"), oid("x"), []crypto.ChangeID{chid("1"), chid("9"), chid("3")})
	require.NoError(t, err)
	require.Equal(t, []bool{true, false, true}, has)
	var order []string
	require.NoError(t, s.Changes(ctx, sid("a"), oid("x"), func(c store.Change) bool { order = append(order, string(c.Raw)); return true }))
	require.Equal(t, []string{"raw 1", "raw 2", "raw 3"}, order, "arrival order, duplicates skipped")
	var seqs []uint64
	order = nil
	require.NoError(t, s.ChangesAfter(ctx, sid("a"), oid("x"), 1, func(c store.Change) bool {
		order, seqs = append(order, string(c.Raw)), append(seqs, c.Seq)
		return true
	}))
	require.Equal(t, []string{"raw 2", "raw 3"}, order, "after the first")
	require.Equal(t, []uint64{2, 3}, seqs, "arrival numbers")
	order = nil
	require.NoError(t, s.ChangesAfter(ctx, sid("a"), oid("x"), 2, func(c store.Change) bool { order = append(order, string(c.Raw)); return false }))
	require.Equal(t, []string{"raw 3"}, order, "fn stops it")
	require.NoError(t, s.ChangesAfter(ctx, sid("a"), oid("x"), 3, func(c store.Change) bool { t.Error("nothing after the last"); return true }))
	require.NoError(t, s.ChangesAfter(ctx, sid("a"), oid("unknown"), 0, func(c store.Change) bool { t.Error("no such object"); return true }))
	require.ErrorIs(t, s.ChangesAfter(ctx, sid("nope"), oid("x"), 0, func(store.Change) bool { return true }), store.ErrNotFound)
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("y"), nil, []crypto.ChangeID{chid("y")}, []store.Change{change("y")}, store.Limits{}))
	objs := map[crypto.ObjectID][]crypto.ChangeID{}
	require.NoError(t, s.Objects(ctx, sid("a"), func(o crypto.ObjectID, h []crypto.ChangeID) bool { objs[o] = h; return true }))
	require.Equal(t, map[crypto.ObjectID][]crypto.ChangeID{oid("x"): two, oid("y"): {chid("y")}}, objs)
}

// testChangesRace: concurrent writers on one object never lose a head.
func testChangesRace(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				c := change(fmt.Sprint(w, "-", i))
				for {
					old, err := s.Heads(ctx, sid("a"), oid("x"))
					if err != nil {
						t.Error(err)
						return
					}
					heads := slices.Sorted(slices.Values(append(slices.Clone(old), c.ID)))
					err = s.PutChanges(ctx, sid("a"), oid("x"), old, heads, []store.Change{c}, store.Limits{})
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrStale) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	heads, err := s.Heads(ctx, sid("a"), oid("x"))
	require.NoError(t, err)
	require.Len(t, heads, 40)
	n := 0
	require.NoError(t, s.Changes(ctx, sid("a"), oid("x"), func(store.Change) bool { n++; return true }))
	require.Equal(t, 40, n)
}

// testChangesBig: a batch of thousands of changes (siblings of one root) is stored whole,
// or refused with ErrBatchTooBig leaving the object as it was; halves of a refused batch,
// each swapped on the heads the previous one left, store it all.
func testChangesBig(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	root := change("root")
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("x"), nil, []crypto.ChangeID{root.ID}, []store.Change{root}, store.Limits{}))
	var all []store.Change
	for i := range 3000 {
		c := change(fmt.Sprint("sibling ", i))
		c.Raw = append(c.Raw, make([]byte, 300)...) // small: kept in the LSM tree, not a value log
		all = append(all, c)
	}
	var put func(cs []store.Change) int
	put = func(cs []store.Change) (refused int) {
		old, err := s.Heads(ctx, sid("a"), oid("x"))
		require.NoError(t, err)
		heads := slices.Clone(old)
		if len(heads) == 1 && heads[0] == root.ID {
			heads = nil // the siblings replace nothing but are children of the root
		}
		for _, c := range cs {
			heads = append(heads, c.ID)
		}
		slices.Sort(heads)
		err = s.PutChanges(ctx, sid("a"), oid("x"), old, heads, cs, store.Limits{})
		if errors.Is(err, store.ErrBatchTooBig) {
			now, herr := s.Heads(ctx, sid("a"), oid("x"))
			require.NoError(t, herr)
			require.Equal(t, old, now, "a refused batch stores nothing")
			return 1 + put(cs[:len(cs)/2]) + put(cs[len(cs)/2:])
		}
		require.NoError(t, err)
		return 0
	}
	refused := put(all)
	t.Logf("a batch of %d changes: %d refusals", len(all), refused)
	heads, err := s.Heads(ctx, sid("a"), oid("x"))
	require.NoError(t, err)
	require.Len(t, heads, len(all))
	n := 0
	require.NoError(t, s.Changes(ctx, sid("a"), oid("x"), func(store.Change) bool { n++; return true }))
	require.Equal(t, len(all)+1, n)
}

func testPurge(t *testing.T, s store.Store) {
	require.NoError(t, s.Purge(ctx, sid("none")), "purging an unknown space is not an error")
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), []crypto.PubKey{key("o")}, key("owner"), store.Limits{}))
	require.NoError(t, s.AppendACL(ctx, sid("a"), 2, []byte("r2"), nil))
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("x"), nil, []crypto.ChangeID{chid("1")}, []store.Change{change("1")}, store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("hb"), []byte("rb"), nil, key("owner"), store.Limits{}))
	require.NoError(t, s.PutChanges(ctx, sid("b"), oid("x"), nil, []crypto.ChangeID{chid("1")}, []store.Change{change("1")}, store.Limits{}))
	deleted := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED}
	require.NoError(t, s.SwapStatus(ctx, sid("a"), store.Status{}, deleted))
	require.NoError(t, s.Purge(ctx, sid("a")))
	require.NoError(t, s.Purge(ctx, sid("a")), "idempotent")
	_, err := s.Header(ctx, sid("a"))
	require.ErrorIs(t, err, store.ErrNotFound)
	st, err := s.Status(ctx, sid("a"))
	require.NoError(t, err)
	require.Equal(t, deleted, st, "the status survives as a tombstone")
	require.ErrorIs(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}), store.ErrExists, "a deleted space cannot come back")
	n := 0
	require.NoError(t, s.ACL(ctx, sid("a"), 0, func(uint64, []byte) bool { n++; return true }))
	require.NoError(t, s.Objects(ctx, sid("a"), func(crypto.ObjectID, []crypto.ChangeID) bool { n++; return true }))
	require.NoError(t, s.Changes(ctx, sid("a"), oid("x"), func(store.Change) bool { n++; return true }))
	require.Zero(t, n)
	has, err := s.HasChanges(ctx, sid("a"), oid("x"), []crypto.ChangeID{chid("1")})
	require.NoError(t, err)
	require.Equal(t, []bool{false}, has)
	// The other space is untouched.
	has, err = s.HasChanges(ctx, sid("b"), oid("x"), []crypto.ChangeID{chid("1")})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, has)
	sp, err := s.SpacesOf(ctx, key("o"))
	require.NoError(t, err)
	require.Equal(t, []crypto.SpaceID{sid("a")}, sp)
}

func testIndex(t *testing.T, s store.Store) {
	sp, err := s.SpacesOf(ctx, key("o"))
	require.NoError(t, err)
	require.Empty(t, sp)
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), []crypto.PubKey{key("o")}, key("owner"), store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("h"), []byte("r"), []crypto.PubKey{key("o"), key("m")}, key("owner"), store.Limits{}))
	require.NoError(t, s.AppendACL(ctx, sid("a"), 2, []byte("r"), []crypto.PubKey{key("m")}))
	require.ErrorIs(t, s.AppendACL(ctx, sid("a"), 2, []byte("r"), []crypto.PubKey{key("z")}), store.ErrStale)
	want := []crypto.SpaceID{sid("a"), sid("b")}
	slices.Sort(want)
	for _, who := range []string{"o", "m"} {
		sp, err := s.SpacesOf(ctx, key(who))
		require.NoError(t, err)
		slices.Sort(sp)
		require.Equal(t, want, sp, who)
	}
	sp, err = s.SpacesOf(ctx, key("z"))
	require.NoError(t, err)
	require.Empty(t, sp, "a lost swap indexes nothing")
}
