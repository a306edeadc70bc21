package store_test

import (
	"context"
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

// TestBadgerReopen: what was written is there after a reopen.
func TestBadgerReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	id := crypto.SpaceID(crypto.Sum([]byte("s")))
	s, err := store.OpenBadger(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.CreateSpace(ctx, id, []byte("h"), []byte("r1"), nil))
	require.NoError(t, s.AppendACL(ctx, id, 2, []byte("r2"), nil))
	require.NoError(t, s.Close())
	s, err = store.OpenBadger(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.AppendACL(ctx, id, 2, []byte("again"), nil), store.ErrStale)
	require.NoError(t, s.AppendACL(ctx, id, 3, []byte("r3"), nil))
}
