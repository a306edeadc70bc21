package spaceindex

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFeedTellsCommittedWritesInOrder(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "spaces")
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer reg.CloseAll()
	h, err := reg.Open(ctx, "s1", "i1", Config{})
	require.NoError(t, err)

	var mu sync.Mutex
	var got []Batch
	cancel := h.Watch(func(b Batch) {
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
	})
	rec := func(id string, n float64) Record {
		return Record{ID: id, Details: Details{"n": Number(n)}, HeadsHash: []byte("h")}
	}
	require.NoError(t, h.Put(ctx, rec("a", 1), rec("b", 2)))
	require.NoError(t, h.Put(ctx, rec("a", 1))) // unchanged: no batch
	require.NoError(t, h.SetSyncStatus(ctx, "a", SyncStatus{State: SyncSynced}))
	require.NoError(t, h.Delete(ctx, "b", "absent"))
	require.NoError(t, h.Delete(ctx, "absent")) // nothing: no batch

	mu.Lock()
	require.Len(t, got, 3)
	require.Equal(t, []uint64{1, 2, 3}, []uint64{got[0].Seq, got[1].Seq, got[2].Seq})
	require.Len(t, got[0].Changes, 2)
	require.Equal(t, SyncSynced, got[1].Changes[0].Record.SyncStatus.State)
	require.Equal(t, []Change{{ID: "b"}}, got[2].Changes, "a removal carries no record")
	mu.Unlock()

	// A snapshot says which batches it holds.
	res, seq, err := h.QueryAt(ctx, Query{})
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)
	require.Len(t, res.Records, 1)

	// The sequence survives a reopen, and watchers stay attached to the
	// entry across it.
	require.NoError(t, reg.Close(ctx, "s1"))
	h, err = reg.Open(ctx, "s1", "i1", Config{})
	require.NoError(t, err)
	s, err := h.Seq()
	require.NoError(t, err)
	require.Equal(t, uint64(3), s)
	require.NoError(t, h.Put(ctx, rec("c", 3)))
	mu.Lock()
	require.Len(t, got, 4)
	require.Equal(t, uint64(4), got[3].Seq)
	mu.Unlock()

	cancel()
	require.NoError(t, h.Put(ctx, rec("d", 4)))
	mu.Lock()
	require.Len(t, got, 4, "no batch after cancel")
	mu.Unlock()
}

// TestQueryAtAgreesWithTheFeed: with writers racing, a snapshot plus the
// batches after its sequence number always rebuild the index exactly.
func TestQueryAtAgreesWithTheFeed(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(filepath.Join(t.TempDir(), "spaces"), WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer reg.CloseAll()
	h, err := reg.Open(ctx, "s1", "i1", Config{})
	require.NoError(t, err)

	var mu sync.Mutex
	var log []Batch
	h.Watch(func(b Batch) { mu.Lock(); log = append(log, b); mu.Unlock() })

	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				id := fmt.Sprintf("w%d-%d", w, i%20)
				if i%5 == 4 {
					_ = h.Delete(ctx, id)
				} else {
					_ = h.Put(ctx, Record{ID: id, Details: Details{"i": Number(float64(i))}, HeadsHash: []byte("h")})
				}
			}
		}()
	}
	res, seq, err := h.QueryAt(ctx, Query{})
	require.NoError(t, err)
	wg.Wait()

	view := map[string]float64{}
	for _, r := range res.Records {
		view[r.ID] = r.Details["i"].AsNumber()
	}
	mu.Lock()
	for _, b := range log {
		if b.Seq <= seq {
			continue
		}
		for _, c := range b.Changes {
			if c.Record == nil {
				delete(view, c.ID)
			} else {
				view[c.ID] = c.Record.Details["i"].AsNumber()
			}
		}
	}
	mu.Unlock()
	final, err := h.Query(ctx, Query{})
	require.NoError(t, err)
	want := map[string]float64{}
	for _, r := range final.Records {
		want[r.ID] = r.Details["i"].AsNumber()
	}
	require.Equal(t, want, view)
}
