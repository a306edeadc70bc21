package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// countingStore counts Status reads.
type countingStore struct {
	store.Store
	reads atomic.Int32
}

func (c *countingStore) Status(ctx context.Context, id crypto.SpaceID) (store.Status, error) {
	c.reads.Add(1)
	return c.Store.Status(ctx, id)
}

// Statuses of a store this node alone uses are read once and then served
// from memory; writes racing reads never leave a stale status cached.
func TestOwnStoreCachesStatusesExactly(t *testing.T) {
	ctx := context.Background()
	inner := &countingStore{Store: store.NewMemory()}
	st := cacheStatuses(inner)
	id := crypto.SpaceID("s")
	owner, err := crypto.GenerateKey()
	require.NoError(t, err)
	require.NoError(t, st.CreateSpace(ctx, id, []byte("h"), []byte("r"), nil, owner.Public(), store.Limits{}))
	for range 100 {
		got, err := st.Status(ctx, id)
		require.NoError(t, err)
		require.Equal(t, codeOK, got.Code)
	}
	require.EqualValues(t, 1, inner.reads.Load(), "read once, then from memory")

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() { // writers: each moves LastRequest forward by compare-and-swap
			defer wg.Done()
			for range 50 {
				for {
					cur, err := inner.Store.Status(ctx, id)
					require.NoError(t, err)
					next := cur
					next.LastRequest = cur.LastRequest + int64(w) + 1
					if st.SwapStatus(ctx, id, cur, next) == nil {
						break
					}
				}
			}
		}()
		go func() { // readers
			defer wg.Done()
			for range 200 {
				_, err := st.Status(ctx, id)
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	want, err := inner.Store.Status(ctx, id)
	require.NoError(t, err)
	got, err := st.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, want, got, "the cache agrees with the store once writes stop")
}
