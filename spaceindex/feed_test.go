package spaceindex

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	require.Nil(t, got[0].Changes[0].Prev, "a new record has no previous state")
	require.Equal(t, SyncSynced, got[1].Changes[0].Record.SyncStatus.State)
	require.Equal(t, SyncUnknown, got[1].Changes[0].Prev.SyncStatus.State, "the state before the write")
	require.Len(t, got[2].Changes, 1)
	require.Equal(t, "b", got[2].Changes[0].ID)
	require.Nil(t, got[2].Changes[0].Record, "a removal carries no record")
	require.Equal(t, Number(2), got[2].Changes[0].Prev.Details["n"], "but the removed state")
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
	h := openFeedIndex(t)

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

// TestFeedDeliversOutsideTheWriteLock: while a watcher is still handling a
// batch, snapshots and the next write's commit go on (before, the write
// lock was held during delivery); batches still arrive one at a time in
// commit order, and a write returns only once its batch was delivered.
func TestFeedDeliversOutsideTheWriteLock(t *testing.T) {
	ctx := context.Background()
	h := openFeedIndex(t)

	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var seqs []uint64
	inside := 0
	first := true
	cancel := h.Watch(func(b Batch) {
		mu.Lock()
		inside++
		assert.Equal(t, 1, inside, "one batch at a time")
		wait := first
		first = false
		mu.Unlock()
		if wait {
			close(entered)
			<-release
		}
		mu.Lock()
		seqs = append(seqs, b.Seq)
		inside--
		mu.Unlock()
	})
	defer cancel()
	rec := func(id string) Record { return Record{ID: id, Details: Details{"n": Number(1)}} }

	firstDone := make(chan error, 1)
	go func() { firstDone <- h.Put(ctx, rec("a")) }()
	<-entered
	// The first write's batch is being delivered: a snapshot is not held up,
	// and it already sees the write.
	res, seq, err := h.QueryAt(ctx, Query{})
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq)
	require.Len(t, res.Records, 1)
	select {
	case <-firstDone:
		t.Fatal("a write returned before its batch was delivered")
	default:
	}
	// The next write commits (its data is visible) while the first batch is
	// still with the watcher; its own batch waits for the first.
	secondDone := make(chan error, 1)
	go func() { secondDone <- h.Put(ctx, rec("b")) }()
	require.Eventually(t, func() bool {
		res, err := h.Query(ctx, Query{})
		return err == nil && len(res.Records) == 2
	}, 10*time.Second, time.Millisecond, "the second write commits during the first delivery")
	select {
	case <-secondDone:
		t.Fatal("the second write returned before the first batch was delivered")
	default:
	}
	close(release)
	require.NoError(t, <-firstDone)
	require.NoError(t, <-secondDone)
	mu.Lock()
	require.Equal(t, []uint64{1, 2}, seqs)
	mu.Unlock()
}

// openFeedIndex opens space s1's index in a fresh registry with small
// memtables.
func openFeedIndex(t *testing.T) *Handle {
	reg := NewRegistry(filepath.Join(t.TempDir(), "spaces"), WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	t.Cleanup(func() { require.NoError(t, reg.CloseAll()) })
	h, err := reg.Open(context.Background(), "s1", "i1", Config{})
	require.NoError(t, err)
	return h
}
