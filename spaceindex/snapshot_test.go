package spaceindex

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Queries share a snapshot between writes, yet a query that starts after a
// write returned always sees it, whatever queries run alongside: a writer
// counts its records after each Put while readers query without pause, and
// a delete and a sync-status write are seen the same way.
func TestQueriesSeeEveryWriteBeforeThem(t *testing.T) {
	ctx := context.Background()
	_, h := openTestIndex(t, Config{})
	q := Query{Filter: Eq(KeyType, String("note")), ExactTotal: true}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readErr := make(chan error, 3)
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.Query(ctx, q); err != nil {
					readErr <- err
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		readers.Wait()
		select {
		case err := <-readErr:
			t.Fatalf("a concurrent query failed: %v", err)
		default:
		}
	}()
	for i := 1; i <= 200; i++ {
		rec := Record{ID: fmt.Sprintf("n%04d", i), Details: Details{KeyType: String("note"), KeyName: String("note number")}}
		require.NoError(t, h.Put(ctx, rec))
		res, err := h.Query(ctx, q)
		require.NoError(t, err)
		require.Equal(t, i, res.Total, "after Put %d", i)
		res, err = h.Query(ctx, Query{Filter: FullText("number"), Limit: 1000})
		require.NoError(t, err)
		require.Len(t, res.Records, i, "full text after Put %d", i)
	}
	require.NoError(t, h.Delete(ctx, "n0001"))
	res, err := h.Query(ctx, q)
	require.NoError(t, err)
	require.Equal(t, 199, res.Total, "after the delete")
	require.NoError(t, h.SetSyncStatus(ctx, "n0002", SyncStatus{State: SyncError, Reason: SyncErrorTooLarge}))
	res, err = h.Query(ctx, Query{Filter: Eq(KeyID, String("n0002"))})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	require.Equal(t, SyncError, res.Records[0].SyncStatus.State, "after the sync-status write")
}

// A snapshot lives from a query to the next commit: queries in between
// share it, and a commit retires it at once, so writes without queries keep
// no old read timestamp alive.
func TestSnapshotSharedUntilTheNextCommit(t *testing.T) {
	ctx := context.Background()
	_, h := openTestIndex(t, Config{})
	snaps := &h.sp.idx.snaps
	current := func() *snapshot {
		snaps.mu.Lock()
		defer snaps.mu.Unlock()
		return snaps.cur
	}
	require.NoError(t, h.Put(ctx, Record{ID: "a", Details: Details{KeyType: String("note")}}))
	require.Nil(t, current(), "a commit leaves no snapshot behind")
	_, err := h.Query(ctx, Query{})
	require.NoError(t, err)
	first := current()
	require.NotNil(t, first)
	_, err = h.Query(ctx, Query{Filter: Eq(KeyType, String("note"))})
	require.NoError(t, err)
	require.Same(t, first, current(), "a second query reuses the snapshot")
	require.NoError(t, h.Put(ctx, Record{ID: "b", Details: Details{KeyType: String("note")}}))
	require.Nil(t, current(), "the commit retired it")
	snaps.mu.Lock()
	require.True(t, first.stale)
	require.Zero(t, first.refs)
	snaps.mu.Unlock()
}
