package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// The quotas of store.Quotas: what each owner's spaces hold, counted in the transaction
// of every write, refused past the caller's limits, taken off by a purge exactly once.

func ownerUsage(t require.TestingT, s store.Store, who string) store.Usage {
	u, err := s.Usage(ctx, key(who))
	require.NoError(t, err)
	return u
}

func quotaKind(t require.TestingT, err error, k store.QuotaKind) *store.QuotaError {
	require.ErrorIs(t, err, store.ErrQuota)
	require.True(t, errkind.Is(err, errkind.Quota))
	var q *store.QuotaError
	require.ErrorAs(t, err, &q)
	require.Equal(t, k, q.Kind)
	return q
}

func deleteSpace(t require.TestingT, s store.Store, id crypto.SpaceID) {
	st, err := s.Status(ctx, id)
	require.NoError(t, err)
	require.NoError(t, s.SwapStatus(ctx, id, st, store.Status{Code: 2 /* deleted */}))
	require.NoError(t, s.Purge(ctx, id))
}

// testQuotaSpaces is the attack of issue 16.4 in the store: one identity creating spaces
// past the limit is refused, with nothing stored; another identity is not; a purge makes
// room once.
func testQuotaSpaces(t *testing.T, s store.Store) {
	lim := store.Limits{Spaces: 3}
	require.Equal(t, store.Usage{}, ownerUsage(t, s, "mallory"), "an identity with no spaces")
	for i := range 3 {
		require.NoError(t, s.CreateSpace(ctx, sid(fmt.Sprint("m", i)), []byte("h"), []byte("r"), nil, key("mallory"), lim))
	}
	err := s.CreateSpace(ctx, sid("m3"), []byte("h"), []byte("r"), []crypto.PubKey{key("mallory")}, key("mallory"), lim)
	q := quotaKind(t, err, store.QuotaSpaces)
	require.Equal(t, store.QuotaError{Kind: store.QuotaSpaces, Used: 3, Limit: 3, Size: 1}, *q)
	require.Contains(t, err.Error(), "quota exceeded")
	_, err = s.Status(ctx, sid("m3"))
	require.ErrorIs(t, err, store.ErrNotFound, "a refused space is not stored")
	sp, err := s.SpacesOf(ctx, key("mallory"))
	require.NoError(t, err)
	require.Len(t, sp, 0, "nor indexed")
	require.ErrorIs(t, s.CreateSpace(ctx, sid("m0"), []byte("h"), []byte("r"), nil, key("mallory"), lim), store.ErrExists,
		"a space pushed again is known, whatever the quota")
	require.NoError(t, s.CreateSpace(ctx, sid("a0"), []byte("h"), []byte("r"), nil, key("alice"), lim), "quotas are per identity")
	require.EqualValues(t, 3, ownerUsage(t, s, "mallory").Spaces)
	require.EqualValues(t, 1, ownerUsage(t, s, "alice").Spaces)

	deleteSpace(t, s, sid("m1"))
	require.NoError(t, s.Purge(ctx, sid("m1")), "again")
	require.EqualValues(t, 2, ownerUsage(t, s, "mallory").Spaces, "a purge takes the space off once")
	require.NoError(t, s.CreateSpace(ctx, sid("m3"), []byte("h"), []byte("r"), nil, key("mallory"), lim))
	quotaKind(t, s.CreateSpace(ctx, sid("m4"), []byte("h"), []byte("r"), nil, key("mallory"), lim), store.QuotaSpaces)
	require.NoError(t, s.CreateSpace(ctx, sid("m4"), []byte("h"), []byte("r"), nil, key("mallory"), store.Limits{}), "0 is no limit")
}

// testQuotaChanges: the bytes of changes count against the owner across its spaces,
// duplicates once; a batch over the limit stores nothing; a purge takes its bytes off.
func testQuotaChanges(t *testing.T, s store.Store) {
	lim := store.Limits{ChangeBytes: 100}
	for _, sp := range []string{"a", "b"} {
		require.NoError(t, s.CreateSpace(ctx, sid(sp), []byte("h"), []byte("r"), nil, key("owner"), lim))
	}
	require.NoError(t, s.CreateSpace(ctx, sid("c"), []byte("h"), []byte("r"), nil, key("other"), lim))
	sized := func(name string, n int) store.Change { return store.Change{ID: chid(name), Raw: make([]byte, n)} }
	put := func(sp, obj string, old []crypto.ChangeID, cs ...store.Change) ([]crypto.ChangeID, error) {
		heads := []crypto.ChangeID{cs[len(cs)-1].ID}
		return heads, s.PutChanges(ctx, sid(sp), oid(obj), old, heads, cs, lim)
	}
	ha, err := put("a", "x", nil, sized("1", 30), sized("2", 20))
	require.NoError(t, err)
	_, err = put("b", "y", nil, sized("3", 10))
	require.NoError(t, err)
	require.EqualValues(t, 60, ownerUsage(t, s, "owner").ChangeBytes, "across the owner's spaces")
	_, err = put("c", "z", nil, sized("4", 90))
	require.NoError(t, err, "another owner has its own quota")

	// Over: nothing stored, the heads stay.
	_, err = put("a", "x", ha, sized("2", 20), sized("5", 41))
	q := quotaKind(t, err, store.QuotaChanges)
	require.Equal(t, store.QuotaError{Kind: store.QuotaChanges, Used: 60, Limit: 100, Size: 41}, *q, "a change held already does not count")
	heads, err := s.Heads(ctx, sid("a"), oid("x"))
	require.NoError(t, err)
	require.Equal(t, ha, heads)
	has, err := s.HasChanges(ctx, sid("a"), oid("x"), []crypto.ChangeID{chid("5")})
	require.NoError(t, err)
	require.Equal(t, []bool{false}, has)
	_, err = put("a", "new", nil, sized("6", 41))
	quotaKind(t, err, store.QuotaChanges)
	heads, err = s.Heads(ctx, sid("a"), oid("new"))
	require.NoError(t, err)
	require.Nil(t, heads, "a refused new object is not there")

	// Exactly at the limit is fine, and a duplicate-only batch always is.
	ha, err = put("a", "x", ha, sized("5", 40))
	require.NoError(t, err)
	require.EqualValues(t, 100, ownerUsage(t, s, "owner").ChangeBytes)
	_, err = put("a", "x", ha, sized("5", 40))
	require.NoError(t, err, "stored already: nothing to count")

	deleteSpace(t, s, sid("a"))
	require.Equal(t, store.Usage{Spaces: 1, ChangeBytes: 10}, ownerUsage(t, s, "owner"), "the purge took space a's 90 bytes off")
	_, err = put("b", "y", []crypto.ChangeID{chid("3")}, sized("7", 90))
	require.NoError(t, err)
}

// testQuotaBlobs: blobs count against the space's limit and the owner's; deletes and a
// purge give room back.
func testQuotaBlobs(t *testing.T, s store.Store) {
	lim := store.Limits{BlobBytes: 100, SpaceBlobBytes: 70}
	for _, sp := range []string{"a", "b"} {
		require.NoError(t, s.CreateSpace(ctx, sid(sp), []byte("h"), []byte("r"), nil, key("owner"), lim))
	}
	require.NoError(t, s.PutBlob(ctx, sid("a"), "a1", make([]byte, 60), lim))
	quotaKind(t, s.PutBlob(ctx, sid("a"), "a2", make([]byte, 11), lim), store.QuotaSpaceBlobs)
	require.NoError(t, s.PutBlob(ctx, sid("b"), "b1", make([]byte, 40), lim))
	q := quotaKind(t, s.PutBlob(ctx, sid("b"), "b2", make([]byte, 1), lim), store.QuotaBlobs)
	require.Equal(t, store.QuotaError{Kind: store.QuotaBlobs, Used: 100, Limit: 100, Size: 1}, *q)
	require.NoError(t, s.PutBlob(ctx, sid("b"), "b1", make([]byte, 40), lim), "a blob held already puts again")
	require.EqualValues(t, 100, ownerUsage(t, s, "owner").BlobBytes)
	require.NoError(t, s.DeleteBlob(ctx, sid("a"), "a1"))
	require.EqualValues(t, 40, ownerUsage(t, s, "owner").BlobBytes)
	require.NoError(t, s.PutBlob(ctx, sid("b"), "b2", make([]byte, 30), lim))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "a3", make([]byte, 30), lim))
	deleteSpace(t, s, sid("b"))
	require.Equal(t, store.Usage{Spaces: 1, BlobBytes: 30}, ownerUsage(t, s, "owner"))
}

// testQuotaRace: writers racing on several objects and blobs of one owner's spaces never
// take it over its limits, and the counters equal what was stored.
func testQuotaRace(t *testing.T, s store.Store) {
	lim := store.Limits{ChangeBytes: 500, BlobBytes: 300}
	for _, sp := range []string{"a", "b"} {
		require.NoError(t, s.CreateSpace(ctx, sid(sp), []byte("h"), []byte("r"), nil, key("owner"), lim))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := sid([]string{"a", "b"}[w%2])
			for i := range 10 {
				c := store.Change{ID: chid(fmt.Sprint(w, "-", i)), Raw: make([]byte, 17)}
				for {
					old, err := s.Heads(ctx, sp, oid(fmt.Sprint(w)))
					if err != nil {
						t.Error(err)
						return
					}
					err = s.PutChanges(ctx, sp, oid(fmt.Sprint(w)), old, []crypto.ChangeID{c.ID}, []store.Change{c}, lim)
					if errors.Is(err, store.ErrStale) {
						continue
					}
					if err != nil && !errors.Is(err, store.ErrQuota) {
						t.Error(err)
						return
					}
					break
				}
				if err := s.PutBlob(ctx, sp, fmt.Sprint(w, "-", i), make([]byte, 11), lim); err != nil && !errors.Is(err, store.ErrQuota) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var changes, blobs int64
	for _, sp := range []string{"a", "b"} {
		for w := range 4 {
			require.NoError(t, s.Changes(ctx, sid(sp), oid(fmt.Sprint(w)), func(c store.Change) bool { changes += int64(len(c.Raw)); return true }))
		}
		blobs += usage(t, s, sid(sp))
	}
	u := ownerUsage(t, s, "owner")
	require.Equal(t, changes, u.ChangeBytes)
	require.Equal(t, blobs, u.BlobBytes)
	require.LessOrEqual(t, u.ChangeBytes, lim.ChangeBytes)
	require.LessOrEqual(t, u.BlobBytes, lim.BlobBytes)
	require.Greater(t, u.ChangeBytes, lim.ChangeBytes-17, "filled up to what fits")
}

// testUsageProperty: after any sequence of creates, change and blob writes, deletes and
// purges by a few owners, every owner's usage is what a model of the same writes says.
func testUsageProperty(t *testing.T, s store.Store) {
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		type model struct {
			owner   string
			changes int64
			blobs   map[string]int64
			live    bool
		}
		lim := store.Limits{Spaces: 3, ChangeBytes: 200, BlobBytes: 150}
		owners := []string{fmt.Sprint("p", n, "a"), fmt.Sprint("p", n, "b")}
		spaces := map[crypto.SpaceID]*model{}
		var ids []crypto.SpaceID
		want := func(who string) store.Usage {
			var u store.Usage
			for _, m := range spaces {
				if m.owner != who || !m.live {
					continue
				}
				u.Spaces++
				u.ChangeBytes += m.changes
				for _, b := range m.blobs {
					u.BlobBytes += b
				}
			}
			return u
		}
		for i := range rapid.IntRange(1, 20).Draw(rt, "ops") {
			switch op := rapid.IntRange(0, 4).Draw(rt, "op"); {
			case op == 0 || len(ids) == 0:
				who := rapid.SampledFrom(owners).Draw(rt, "owner")
				id := sid(fmt.Sprint("prop", n, "-", i))
				err := s.CreateSpace(ctx, id, []byte("h"), []byte("r"), nil, key(who), lim)
				if want(who).Spaces >= lim.Spaces {
					quotaKind(rt, err, store.QuotaSpaces)
					continue
				}
				require.NoError(rt, err)
				spaces[id] = &model{owner: who, blobs: map[string]int64{}, live: true}
				ids = append(ids, id)
			case op == 1:
				id := rapid.SampledFrom(ids).Draw(rt, "space")
				m := spaces[id]
				obj := oid(fmt.Sprint(rapid.IntRange(0, 2).Draw(rt, "object")))
				c := store.Change{ID: chid(fmt.Sprint(n, i)), Raw: make([]byte, rapid.IntRange(0, 60).Draw(rt, "size"))}
				old, err := s.Heads(ctx, id, obj)
				require.NoError(rt, err)
				err = s.PutChanges(ctx, id, obj, old, []crypto.ChangeID{c.ID}, []store.Change{c}, lim)
				switch {
				case !m.live:
					require.ErrorIs(rt, err, store.ErrNotLive)
				case want(m.owner).ChangeBytes+int64(len(c.Raw)) > lim.ChangeBytes:
					quotaKind(rt, err, store.QuotaChanges)
				default:
					require.NoError(rt, err)
					m.changes += int64(len(c.Raw))
				}
			case op == 2:
				id := rapid.SampledFrom(ids).Draw(rt, "space")
				m := spaces[id]
				blob := fmt.Sprint("b", rapid.IntRange(0, 3).Draw(rt, "blob"))
				size := int64(rapid.IntRange(0, 60).Draw(rt, "size"))
				if old, ok := m.blobs[blob]; ok {
					size = old
				}
				err := s.PutBlob(ctx, id, blob, make([]byte, size), lim)
				_, had := m.blobs[blob]
				switch {
				case !m.live:
					require.Error(rt, err)
				case had:
					require.NoError(rt, err)
				case want(m.owner).BlobBytes+size > lim.BlobBytes:
					quotaKind(rt, err, store.QuotaBlobs)
				default:
					require.NoError(rt, err)
					m.blobs[blob] = size
				}
			case op == 3:
				id := rapid.SampledFrom(ids).Draw(rt, "space")
				m := spaces[id]
				blob := fmt.Sprint("b", rapid.IntRange(0, 3).Draw(rt, "blob"))
				err := s.DeleteBlob(ctx, id, blob)
				if _, ok := m.blobs[blob]; ok && m.live {
					require.NoError(rt, err)
					delete(m.blobs, blob)
				} else {
					require.ErrorIs(rt, err, store.ErrNotFound)
				}
			default:
				id := rapid.SampledFrom(ids).Draw(rt, "space")
				m := spaces[id]
				if m.live {
					deleteSpace(rt, s, id)
				} else {
					require.NoError(rt, s.Purge(ctx, id))
				}
				m.live, m.changes, m.blobs = false, 0, map[string]int64{}
			}
			for _, who := range owners {
				require.Equal(rt, want(who), ownerUsage(rt, s, who), "owner %s after op %d", who, i)
			}
		}
	})
}

// testSetOwner: a space with an owner keeps it; an unknown space is ErrNotFound.
func testSetOwner(t *testing.T, s store.Store) {
	require.ErrorIs(t, s.SetOwner(ctx, sid("none"), key("x")), store.ErrNotFound)
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	c := store.Change{ID: chid("1"), Raw: make([]byte, 7)}
	require.NoError(t, s.PutChanges(ctx, sid("a"), oid("x"), nil, []crypto.ChangeID{c.ID}, []store.Change{c}, store.Limits{}))
	require.NoError(t, s.SetOwner(ctx, sid("a"), key("thief")))
	require.Equal(t, store.Usage{}, ownerUsage(t, s, "thief"), "an owned space keeps its owner")
	require.Equal(t, store.Usage{Spaces: 1, ChangeBytes: 7}, ownerUsage(t, s, "owner"))
}
