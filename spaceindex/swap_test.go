package spaceindex

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// dump returns every key/value of the open index but the change feed's
// sequence number (which counts write calls, not contents).
func dump(t *testing.T, h *Handle) map[string]string {
	t.Helper()
	idx, err := h.acquire()
	require.NoError(t, err)
	defer h.release()
	return dumpDB(t, idx.db)
}

func dumpDB(t *testing.T, db *badger.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if bytes.Equal(it.Item().Key(), feedSeqKey()) {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	}))
	return out
}

func generations(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if _, ok := generationNumber(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestWatermarkAndCheckpointRoundTrip(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the registry's cleanup
	ctx := context.Background()
	reg, h := openTestIndex(t, Config{})
	_, ok, err := h.Watermark(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "a fresh index has no watermark")
	_, err = h.Checkpoint(ctx)
	require.ErrorIs(t, err, ErrNoWatermark)

	require.NoError(t, h.PutAt(ctx, 5, fixture()...))
	require.NoError(t, h.DeleteAt(ctx, 6, "d"))
	require.NoError(t, h.SetSyncStatusAt(ctx, 7, "a", SyncStatus{State: SyncSyncing}))
	wm, ok, err := h.Watermark(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(7), wm)
	require.NoError(t, h.Put(ctx, Record{ID: "z"}), "a write without a sequence number leaves the watermark")
	wm, _, _ = h.Watermark(ctx)
	assert.Equal(t, uint64(7), wm)

	info, err := h.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), info.Watermark)
	got, err := h.CheckpointWatermark()
	require.NoError(t, err)
	assert.Equal(t, uint64(7), got)

	g, err := reg.NewGeneration(ctx, "space")
	require.NoError(t, err)
	assert.Equal(t, "g2", g.Name())
	wm, err = g.RestoreCheckpoint(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), wm)
	want := dump(t, h)
	require.NoError(t, g.Commit())
	assert.Equal(t, want, dump(t, h), "the restored generation holds exactly the checkpointed index")
	res, err := h.Query(ctx, Query{Filter: Eq("type", String("note"))})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, ids(res.Records))
	dir := reg.IndexDir("space", "inc")
	assert.Equal(t, []string{"g2"}, generations(t, dir), "the old generation is deleted")
}

func TestBadCheckpointIsRefused(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the registry's cleanup
	ctx := context.Background()
	reg, h := openTestIndex(t, Config{})
	require.NoError(t, h.PutAt(ctx, 1, fixture()...))
	_, err := h.Checkpoint(ctx)
	require.NoError(t, err)
	path := filepath.Join(reg.IndexDir("space", "inc"), checkpointFile)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	for name, bad := range map[string][]byte{
		"flipped byte": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 1; return b }(),
		"truncated":    good[:len(good)-10],
		"trailing":     append(bytes.Clone(good), 0),
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, bad, 0o600))
			g, err := reg.NewGeneration(ctx, "space")
			require.NoError(t, err)
			_, err = g.RestoreCheckpoint(ctx)
			require.ErrorIs(t, err, ErrBadCheckpoint)
			require.NoError(t, g.Abort())
		})
	}
	// Another configuration's checkpoint is refused too.
	require.NoError(t, os.WriteFile(path, good, 0o600))
	_, _, err = decodeCheckpoint(bytes.NewReader(good), Config{FullTextKeys: []string{"other"}}, func(k, v []byte) error { return nil })
	require.ErrorIs(t, err, ErrBadCheckpoint)
	require.NoError(t, os.Remove(path))
	g, err := reg.NewGeneration(ctx, "space")
	require.NoError(t, err)
	_, err = g.RestoreCheckpoint(ctx)
	require.ErrorIs(t, err, ErrNoCheckpoint)
	require.NoError(t, g.Abort())
	assert.Equal(t, []string{"g1"}, generations(t, reg.IndexDir("space", "inc")))
}

// TestSwapKeepsServing: readers query without pause or error while
// generations are built and switched; none sees a closed database.
func TestSwapKeepsServing(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the registry's cleanup
	ctx := context.Background()
	reg, h := openTestIndex(t, Config{})
	require.NoError(t, h.PutAt(ctx, 1, fixture()...))
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res, err := h.Query(ctx, Query{Filter: Eq("type", String("task"))})
				if err == nil && len(res.Records) != 2 {
					err = assert.AnError
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 5 {
		g, err := reg.NewGeneration(ctx, "space")
		require.NoError(t, err)
		require.NoError(t, g.PutAt(ctx, 1, fixture()...))
		require.NoError(t, g.Commit())
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	assert.Len(t, generations(t, reg.IndexDir("space", "inc")), 1)
}

func TestStaleGenerationsRemovedOnOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0))
	h, err := reg.Open(ctx, "s", "i", Config{})
	require.NoError(t, err)
	require.NoError(t, h.Put(ctx, fixture()...))
	g, err := reg.NewGeneration(ctx, "s")
	require.NoError(t, err)
	require.NoError(t, g.Put(ctx, Record{ID: "half"}))
	// A crash now: the half-built generation stays on disk.
	require.NoError(t, g.idx.close())
	require.NoError(t, reg.Close(ctx, "s"))
	dir := reg.IndexDir("s", "i")
	require.NoError(t, os.WriteFile(filepath.Join(dir, currentFile+".tmp"), []byte("g2\n"), 0o600))
	assert.Equal(t, []string{"g1", "g2"}, generations(t, dir))
	h, err = reg.Open(ctx, "s", "i", Config{})
	require.NoError(t, err)
	assert.Equal(t, []string{"g1"}, generations(t, dir))
	assert.NoFileExists(t, filepath.Join(dir, currentFile+".tmp"))
	_, err = h.Get(ctx, "half")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, reg.CloseAll())

	// Neither a closed nor a removed index gets a new generation.
	_, err = reg.NewGeneration(ctx, "s")
	require.ErrorIs(t, err, ErrSpaceNotLoaded)
}

func TestCommitAfterCloseIsRefused(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx := context.Background()
	reg, h := openTestIndex(t, Config{})
	require.NoError(t, h.Put(ctx, fixture()...))
	g, err := reg.NewGeneration(ctx, "space")
	require.NoError(t, err)
	require.NoError(t, g.Put(ctx, Record{ID: "new"}))
	require.NoError(t, reg.Close(ctx, "space"))
	require.ErrorIs(t, g.Commit(), ErrSpaceNotLoaded)
	assert.Equal(t, []string{"g1"}, generations(t, reg.IndexDir("space", "inc")), "a refused generation is deleted")
	_, err = reg.Open(ctx, "space", "inc", Config{})
	require.NoError(t, err)
	res, err := h.Query(ctx, Query{})
	require.NoError(t, err)
	assert.Len(t, res.Records, len(fixture()))
}

func FuzzDecodeCheckpoint(f *testing.F) {
	reg := NewRegistry(f.TempDir(), WithValueLogGC(0))
	h, err := reg.Open(context.Background(), "s", "i", Config{})
	if err != nil {
		f.Fatal(err)
	}
	if err := h.PutAt(context.Background(), 3, fixture()[:2]...); err != nil {
		f.Fatal(err)
	}
	if _, err := h.Checkpoint(context.Background()); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(reg.IndexDir("s", "i"), checkpointFile))
	if err != nil {
		f.Fatal(err)
	}
	if err := reg.CloseAll(); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte(checkpointMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int64
		wm, entries, err := decodeCheckpoint(bytes.NewReader(b), Config{}, func(k, v []byte) error { n++; return nil })
		if err != nil {
			return
		}
		if n != entries || wm != 3 && bytes.Equal(b, good) {
			t.Fatalf("decoded %d entries, counted %d, watermark %d", entries, n, wm)
		}
	})
}

func FuzzCheckTableFooter(f *testing.F) {
	f.Add([]byte{7, 0, 0, 0, 1, 9, 0, 0, 0, 1}) // index of 1 byte, checksum of 1 byte
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkTableFooter(bytes.NewReader(b), int64(len(b)))
		if err == nil && len(b) < 8 {
			t.Fatalf("accepted a %d-byte table", len(b))
		}
	})
}
