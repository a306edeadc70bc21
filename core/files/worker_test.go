package files

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// memQueue is an in-memory Queue: the test double of a space's queues.
type memQueue struct {
	id   crypto.SpaceID
	keys map[crypto.KeyID]crypto.SymKey

	mu   sync.Mutex // guards ups, dels
	ups  map[Unit]UploadEntry
	dels map[Unit]DeleteEntry
}

func newMemQueue(id crypto.SpaceID, keys ...crypto.SymKey) *memQueue {
	q := &memQueue{id: id, keys: map[crypto.KeyID]crypto.SymKey{}, ups: map[Unit]UploadEntry{}, dels: map[Unit]DeleteEntry{}}
	for _, k := range keys {
		q.keys[k.ID()] = k
	}
	return q
}

func (q *memQueue) ID() crypto.SpaceID { return q.id }

func (q *memQueue) FileKey(_ context.Context, id crypto.KeyID) (crypto.SymKey, error) {
	k, ok := q.keys[id]
	if !ok {
		return k, errkind.Errorf("test", errkind.Permission, "no key %s", id)
	}
	return k, nil
}

func (q *memQueue) FileQueue(context.Context) ([]QueuedUpload, []QueuedDelete, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ups []QueuedUpload
	for u, e := range q.ups {
		ups = append(ups, QueuedUpload{u, e})
	}
	var dels []QueuedDelete
	for u, e := range q.dels {
		dels = append(dels, QueuedDelete{u, e})
	}
	return ups, dels, nil
}

func (q *memQueue) FileUploadProgress(_ context.Context, u Unit, done int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.ups[u]
	if !ok {
		return errkind.Errorf("test", errkind.NotFound, "gone")
	}
	e.Done = done
	q.ups[u] = e
	return nil
}

func (q *memQueue) FileUploaded(_ context.Context, u Unit) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.ups, u)
	return nil
}

func (q *memQueue) FileDeleted(_ context.Context, u Unit) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.dels, u)
	return nil
}

func (q *memQueue) sizes() (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ups), len(q.dels)
}

func startWorker(t *testing.T, s *Service, q *memQueue, r Remote) *Worker {
	w := StartWorker(WorkerConfig{Queue: q, Files: s, Remote: func() Remote { return r }, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Log: quiet})
	t.Cleanup(w.Close)
	return w
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func importFile(t *testing.T, s *Service, size int, k crypto.SymKey) *Imported {
	p, _ := randomFile(t, size)
	im, err := s.Import(ctx(t), p, k, nil)
	require.NoError(t, err)
	im.Release()
	return im
}

func TestUploadResumesWithoutResending(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	im := importFile(t, s, 3*ChunkSize, k) // manifest + 3 chunks
	r := NewMemRemote()
	transient := errkind.Errorf("test", errkind.Transient, "network")
	// Let the manifest and one chunk through, then fail twice.
	q := newMemQueue("sp", k)
	q.ups[Unit{im.FileID, k.ID()}] = UploadEntry{RemoteID: im.RemoteID}
	r.FailPut(nil, nil, transient, transient)
	startWorker(t, s, q, r)
	eventually(t, "the upload", func() bool { n, _ := q.sizes(); return n == 0 })
	assert.Equal(t, 4+2, r.Calls().Put, "each blob acknowledged once, plus the two failed tries")
	assert.Len(t, r.IDs("sp"), 4)
}

func TestQuotaMakesTheFileLimited(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	im := importFile(t, s, 1000, k)
	r := NewMemRemote()
	r.SetLimit(100)
	q := newMemQueue("sp", k)
	q.ups[Unit{im.FileID, k.ID()}] = UploadEntry{RemoteID: im.RemoteID}
	w := startWorker(t, s, q, r)
	eventually(t, "limited", func() bool {
		st, msg, err := w.State(ctx(t), im.FileID)
		return err == nil && st == Limited && msg != ""
	})
	r.SetLimit(0)
	w.Nudge()
	eventually(t, "synced", func() bool {
		st, _, err := w.State(ctx(t), im.FileID)
		return err == nil && st == Synced
	})
}

func TestRemoteDeletesConvergeDespiteFaults(t *testing.T) {
	transient := errkind.Errorf("test", errkind.Transient, "network")
	timeout := fmt.Errorf("deleting: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		name   string
		script func(r *MemRemote)
	}{
		{"no fault", func(*MemRemote) {}},
		{"fails three times", func(r *MemRemote) { r.FailDelete(transient, transient, transient) }},
		{"times out", func(r *MemRemote) { r.FailDelete(timeout) }},
		{"a child fails mid-batch", func(r *MemRemote) { r.FailDeleteAt(1, transient) }},
		{"manifest read fails", func(r *MemRemote) { r.FailGet(transient, timeout) }},
		{"already gone", func(r *MemRemote) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newService(t)
			k := key(t)
			im := importFile(t, s, 2*ChunkSize+1, k)
			r := NewMemRemote()
			if tc.name != "already gone" {
				upload(t, s, r, "sp", im, k)
			}
			tc.script(r)
			q := newMemQueue("sp", k)
			q.dels[Unit{im.FileID, k.ID()}] = DeleteEntry{RemoteID: im.RemoteID}
			startWorker(t, s, q, r)
			eventually(t, "an empty outbox", func() bool { _, n := q.sizes(); return n == 0 })
			assert.Empty(t, r.IDs("sp"), "every remote blob of the file is gone")
		})
	}
}

func TestBatchDeleteStopsAtTheFailingChild(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	im := importFile(t, s, 2*ChunkSize+1, k)
	r := NewMemRemote()
	upload(t, s, r, "sp", im, k)
	r.FailDeleteAt(1, errkind.Errorf("test", errkind.Permission, "refused"))
	q := newMemQueue("sp", k)
	d := QueuedDelete{Unit{im.FileID, k.ID()}, DeleteEntry{RemoteID: im.RemoteID}}
	w := &Worker{cfg: WorkerConfig{Queue: q, Files: s}}
	q.dels[d.Unit] = d.DeleteEntry
	err := w.sendDelete(ctx(t), r, d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
	assert.Contains(t, err.Error(), "1 of 4 done", "the failing child is named")
	_, n := q.sizes()
	assert.Equal(t, 1, n, "the entry stays until every child is deleted")
	assert.Len(t, r.IDs("sp"), 3, "nothing after the failing child was deleted")
}

func TestOfflineWorkerMakesNoCalls(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	im := importFile(t, s, 10, k)
	q := newMemQueue("sp", k)
	q.ups[Unit{im.FileID, k.ID()}] = UploadEntry{RemoteID: im.RemoteID}
	pending := make(chan int, 10)
	w := StartWorker(WorkerConfig{Queue: q, Files: s, Remote: func() Remote { return nil }, Pending: func(n int) { pending <- n }, Log: quiet})
	defer w.Close()
	assert.Equal(t, 1, <-pending)
	st, _, err := w.State(ctx(t), im.FileID)
	require.NoError(t, err)
	assert.Equal(t, Queued, st)
}

// TestDeleteWaitsOutItsGrace: a queued remote delete is not sent before its
// grace period has passed (another device's reference to the same remote
// copy may still arrive and cancel it); once due, it is sent without a nudge.
func TestDeleteWaitsOutItsGrace(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	im := importFile(t, s, 10, k)
	r := NewMemRemote()
	upload(t, s, r, "sp", im, k)
	q := newMemQueue("sp", k)
	const grace = 300 * time.Millisecond
	queued := time.UnixMilli(time.Now().UnixMilli()) // entries keep milliseconds
	q.dels[Unit{im.FileID, k.ID()}] = DeleteEntry{RemoteID: im.RemoteID, QueuedAt: queued.UnixMilli()}
	w := StartWorker(WorkerConfig{Queue: q, Files: s, Remote: func() Remote { return r }, DeleteGrace: grace, Log: quiet})
	t.Cleanup(w.Close)
	eventually(t, "the delete, once due", func() bool { _, n := q.sizes(); return n == 0 })
	require.GreaterOrEqual(t, time.Since(queued), grace, "sent only after its grace period")
	assert.Empty(t, r.IDs("sp"))
}

// TestDeletesWaitUntilCaughtUp: while the space has not finished a sync
// cycle on the current connection, queued deletes stay queued (a reference
// made elsewhere meanwhile may still arrive and cancel them); uploads go.
func TestDeletesWaitUntilCaughtUp(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	gone, kept := importFile(t, s, 10, k), importFile(t, s, 20, k)
	r := NewMemRemote()
	upload(t, s, r, "sp", gone, k)
	q := newMemQueue("sp", k)
	q.dels[Unit{gone.FileID, k.ID()}] = DeleteEntry{RemoteID: gone.RemoteID}
	q.ups[Unit{kept.FileID, k.ID()}] = UploadEntry{RemoteID: kept.RemoteID}
	var caughtUp atomic.Bool
	w := StartWorker(WorkerConfig{Queue: q, Files: s, Remote: func() Remote { return r }, CaughtUp: caughtUp.Load, Log: quiet})
	t.Cleanup(w.Close)
	eventually(t, "the upload", func() bool { n, _ := q.sizes(); return n == 0 })
	_, n := q.sizes()
	require.Equal(t, 1, n, "the delete waits for the space to catch up")
	require.Zero(t, r.Calls().Delete)
	caughtUp.Store(true)
	w.Nudge()
	eventually(t, "the delete", func() bool { _, n := q.sizes(); return n == 0 })
}
