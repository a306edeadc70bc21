package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/node/store/storetest"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}

func TestBadger(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenBadger(t.TempDir(), nil)
		require.NoError(t, err)
		return s
	})
}

func TestBadgerServer(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenBadgerServer(t.TempDir(), nil)
		require.NoError(t, err)
		return s
	})
}

// TestBadgerReopen: what was written is there after a reopen.
func TestBadgerReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	id := crypto.SpaceID(crypto.Sum([]byte("s")))
	s, err := store.OpenBadger(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.CreateSpace(ctx, id, []byte("h"), []byte("r1"), nil, owner, store.Limits{}))
	require.NoError(t, s.AppendACL(ctx, id, 2, []byte("r2"), nil))
	require.NoError(t, s.Close())
	s, err = store.OpenBadger(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.AppendACL(ctx, id, 2, []byte("again"), nil), store.ErrStale)
	require.NoError(t, s.AppendACL(ctx, id, 3, []byte("r3"), nil))
}

// TestBadgerBlobsReopen: blobs as large as the node takes (in the value log, above the
// small memtable) are stored in one transaction, and the usage is exact after a reopen.
func TestBadgerBlobsReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	id := crypto.SpaceID(crypto.Sum([]byte("s")))
	s, err := store.OpenBadger(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.CreateSpace(ctx, id, []byte("h"), []byte("r1"), nil, owner, store.Limits{}))
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	const quota = 16 << 20
	for i := range 3 {
		require.NoError(t, s.PutBlob(ctx, id, fmt.Sprint("big", i), big, store.Limits{SpaceBlobBytes: quota}))
	}
	require.NoError(t, s.PutBlob(ctx, id, "small", []byte("abc"), store.Limits{SpaceBlobBytes: quota}))
	require.NoError(t, s.DeleteBlob(ctx, id, "big1"))
	require.NoError(t, s.Close())

	s, err = store.OpenBadger(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	used, err := s.BlobUsage(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 2*len(big)+3, used)
	got, err := s.GetBlob(ctx, id, "big2")
	require.NoError(t, err)
	require.Equal(t, big, got)
	_, err = s.GetBlob(ctx, id, "big1")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.PutBlob(ctx, id, "big0", big, store.Limits{SpaceBlobBytes: quota}), "idempotent after a reopen")
	err = s.PutBlob(ctx, id, "big3", big, store.Limits{SpaceBlobBytes: used + int64(len(big)) - 1})
	require.ErrorIs(t, err, store.ErrQuota, "the reopened counter still bounds puts")
}

// owner is the owner of the spaces these tests make (quotas need one; limits are off).
var owner = crypto.PubKey{1}

func BenchmarkBadgerServerPutChanges(b *testing.B) {
	storetest.BenchPutChanges(b, func(b *testing.B) store.Store {
		s, err := store.OpenBadgerServer(b.TempDir(), nil)
		require.NoError(b, err)
		return s
	})
}
