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
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func usage(t require.TestingT, s store.Store, id crypto.SpaceID) int64 {
	used, err := s.BlobUsage(ctx, id)
	require.NoError(t, err)
	return used
}

func testBlobs(t *testing.T, s store.Store) {
	_, err := s.BlobUsage(ctx, sid("a"))
	require.ErrorIs(t, err, store.ErrNotFound, "unknown space")
	require.ErrorIs(t, s.PutBlob(ctx, sid("a"), "x", []byte("xx"), store.Limits{SpaceBlobBytes: 100}), store.ErrNotFound, "unknown space")
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	require.Zero(t, usage(t, s, sid("a")))
	require.True(t, errkind.Is(s.PutBlob(ctx, sid("a"), "", []byte("x"), store.Limits{SpaceBlobBytes: 100}), errkind.Invalid), "empty id")

	require.NoError(t, s.PutBlob(ctx, sid("a"), "x", []byte("xxx"), store.Limits{SpaceBlobBytes: 100}))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "x", []byte("xxx"), store.Limits{SpaceBlobBytes: 100}), "idempotent")
	require.NoError(t, s.PutBlob(ctx, sid("a"), "y", []byte("yyyyy"), store.Limits{SpaceBlobBytes: 100}))
	require.EqualValues(t, 8, usage(t, s, sid("a")), "the same id counts once")
	require.Zero(t, usage(t, s, sid("b")), "usage is per space")
	got, err := s.GetBlob(ctx, sid("a"), "x")
	require.NoError(t, err)
	require.Equal(t, []byte("xxx"), got)
	got[0] = 'z'
	got, err = s.GetBlob(ctx, sid("a"), "x")
	require.NoError(t, err)
	require.Equal(t, []byte("xxx"), got, "a returned slice is the caller's")
	_, err = s.GetBlob(ctx, sid("b"), "x")
	require.ErrorIs(t, err, store.ErrNotFound, "blobs are per space")
	_, err = s.GetBlob(ctx, sid("a"), "missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.DeleteBlob(ctx, sid("a"), "x"))
	require.ErrorIs(t, s.DeleteBlob(ctx, sid("a"), "x"), store.ErrNotFound, "deleting twice")
	require.ErrorIs(t, s.DeleteBlob(ctx, sid("b"), "y"), store.ErrNotFound, "another space's blob")
	require.EqualValues(t, 5, usage(t, s, sid("a")))
	_, err = s.GetBlob(ctx, sid("a"), "x")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.PutBlob(ctx, sid("a"), "x", []byte("xxx"), store.Limits{SpaceBlobBytes: 100}), "a deleted id may come back")
	require.EqualValues(t, 8, usage(t, s, sid("a")))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "e", nil, store.Limits{SpaceBlobBytes: 100}), "an empty blob")
	got, err = s.GetBlob(ctx, sid("a"), "e")
	require.NoError(t, err)
	require.Empty(t, got)

	// A space being deleted takes no new blobs; deletes still work.
	ok := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}
	pending := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, DeletionAt: 9}
	require.NoError(t, s.SwapStatus(ctx, sid("a"), ok, pending))
	require.ErrorIs(t, s.PutBlob(ctx, sid("a"), "z", []byte("z"), store.Limits{SpaceBlobBytes: 100}), store.ErrNotLive)
	require.NoError(t, s.DeleteBlob(ctx, sid("a"), "y"))
	require.EqualValues(t, 3, usage(t, s, sid("a")))
}

// testBlobQuota: exactly at the quota is fine, one byte over is refused with the numbers.
func testBlobQuota(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "a", make([]byte, 60), store.Limits{SpaceBlobBytes: 100}))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "b", make([]byte, 40), store.Limits{SpaceBlobBytes: 100}), "exactly at the quota")
	err := s.PutBlob(ctx, sid("a"), "c", make([]byte, 1), store.Limits{SpaceBlobBytes: 100})
	require.ErrorIs(t, err, store.ErrQuota)
	require.True(t, errkind.Is(err, errkind.Quota))
	var q *store.QuotaError
	require.ErrorAs(t, err, &q)
	require.Equal(t, store.QuotaError{Used: 100, Limit: 100, Size: 1}, *q)
	require.Contains(t, err.Error(), "used 100 of 100 bytes")
	_, err = s.GetBlob(ctx, sid("a"), "c")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused put stores nothing")
	require.NoError(t, s.PutBlob(ctx, sid("a"), "a", make([]byte, 60), store.Limits{SpaceBlobBytes: 100}), "a stored blob puts again at full quota")
	require.EqualValues(t, 100, usage(t, s, sid("a")))
	require.NoError(t, s.DeleteBlob(ctx, sid("a"), "b"))
	require.NoError(t, s.PutBlob(ctx, sid("a"), "c", make([]byte, 40), store.Limits{SpaceBlobBytes: 100}), "deleting frees room")
	require.ErrorIs(t, s.PutBlob(ctx, sid("a"), "d", make([]byte, 1), store.Limits{SpaceBlobBytes: 100}), store.ErrQuota)
	require.NoError(t, s.PutBlob(ctx, sid("a"), "d", make([]byte, 1), store.Limits{SpaceBlobBytes: 101}), "the quota is the caller's")
}

// testBlobRace: concurrent puts (some of the same ids) and deletes keep the usage exact.
func testBlobRace(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	const writers, blobs = 4, 12
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range blobs {
				// Every writer puts every blob; writer 0 then deletes the odd ones.
				id := fmt.Sprint("blob", i)
				if err := s.PutBlob(ctx, sid("a"), id, make([]byte, 10+i), store.Limits{SpaceBlobBytes: 1 << 20}); err != nil {
					t.Error(err)
					return
				}
				if w == 0 && i%2 == 1 {
					if err := s.DeleteBlob(ctx, sid("a"), id); err != nil && !errors.Is(err, store.ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	var want int64
	for i := range blobs {
		if _, err := s.GetBlob(ctx, sid("a"), fmt.Sprint("blob", i)); err == nil {
			want += int64(10 + i)
		} else {
			require.ErrorIs(t, err, store.ErrNotFound)
		}
	}
	require.Equal(t, want, usage(t, s, sid("a")), "usage equals the bytes stored")
}

// testBlobUsageProperty: after any sequence of puts and deletes, the usage is the sum of
// the sizes of the blobs held, and every put over the quota was refused.
func testBlobUsageProperty(t *testing.T, s store.Store) {
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		id := sid(fmt.Sprint("prop", n))
		require.NoError(rt, s.CreateSpace(ctx, id, []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
		const quota = 64
		held := map[string]int{}
		sum := 0
		for range rapid.IntRange(1, 12).Draw(rt, "ops") {
			blob := fmt.Sprint("b", rapid.IntRange(0, 4).Draw(rt, "blob"))
			if rapid.Bool().Draw(rt, "put") {
				size := rapid.IntRange(0, 30).Draw(rt, "size")
				if old, ok := held[blob]; ok {
					size = old // an id names its bytes
				}
				err := s.PutBlob(ctx, id, blob, make([]byte, size), store.Limits{SpaceBlobBytes: quota})
				_, had := held[blob]
				switch {
				case had:
					require.NoError(rt, err)
				case sum+size > quota:
					require.ErrorIs(rt, err, store.ErrQuota)
				default:
					require.NoError(rt, err)
					held[blob] = size
					sum += size
				}
			} else {
				err := s.DeleteBlob(ctx, id, blob)
				if size, ok := held[blob]; ok {
					require.NoError(rt, err)
					delete(held, blob)
					sum -= size
				} else {
					require.ErrorIs(rt, err, store.ErrNotFound)
				}
			}
			require.EqualValues(rt, sum, usage(rt, s, id))
		}
	})
}

// testBlobPurge: purging a space drops its blobs and its usage, and nothing else's.
func testBlobPurge(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("h"), []byte("r"), nil, key("owner"), store.Limits{}))
	for i := range 3 {
		require.NoError(t, s.PutBlob(ctx, sid("a"), fmt.Sprint("x", i), []byte("aaaa"), store.Limits{SpaceBlobBytes: 100}))
	}
	require.NoError(t, s.PutBlob(ctx, sid("b"), "x0", []byte("bb"), store.Limits{SpaceBlobBytes: 100}))
	deleted := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED}
	require.NoError(t, s.SwapStatus(ctx, sid("a"), store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}, deleted))
	require.ErrorIs(t, s.PutBlob(ctx, sid("a"), "late", []byte("l"), store.Limits{SpaceBlobBytes: 100}), store.ErrNotLive, "a deleted space takes no blobs")
	require.NoError(t, s.Purge(ctx, sid("a")))
	require.NoError(t, s.Purge(ctx, sid("a")), "idempotent")
	for i := range 3 {
		_, err := s.GetBlob(ctx, sid("a"), fmt.Sprint("x", i))
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.Zero(t, usage(t, s, sid("a")))
	got, err := s.GetBlob(ctx, sid("b"), "x0")
	require.NoError(t, err)
	require.Equal(t, []byte("bb"), got)
	require.EqualValues(t, 2, usage(t, s, sid("b")))
}
