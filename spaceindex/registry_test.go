package spaceindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// tinyOptions keeps lifecycle tests cheap: small memtables and files.
func tinyOptions(o badger.Options) badger.Options {
	return o.WithMemTableSize(256 << 10).WithValueLogFileSize(1 << 20).WithBaseTableSize(256 << 10)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestHandleBeforeOpenCreatesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "spaces")
	reg := NewRegistry(root, WithValueLogGC(0))
	defer reg.CloseAll()
	h := reg.Handle("s1")
	res, err := h.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceNotLoaded)
	require.Equal(t, Result{}, res)
	require.ErrorIs(t, h.Put(ctx, Record{ID: "a"}), ErrSpaceNotLoaded)
	require.ErrorIs(t, h.Delete(ctx, "a"), ErrSpaceNotLoaded)
	require.ErrorIs(t, h.SetSyncStatus(ctx, "a", SyncStatus{}), ErrSpaceNotLoaded)
	_, err = h.Get(ctx, "a")
	require.ErrorIs(t, err, ErrSpaceNotLoaded)
	require.ErrorIs(t, h.ForEachHead(ctx, func(string, []byte) error { return nil }), ErrSpaceNotLoaded)
	require.False(t, exists(root), "a handle call created files")
	require.Equal(t, StateClosed, reg.State("s1"))
	require.Empty(t, reg.Loaded())
}

func TestOpenCloseReopen(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(time.Millisecond), WithBadgerOptions(tinyOptions))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	early := reg.Handle("s1")
	h, err := reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err)
	require.NoError(t, early.Put(ctx, fixture()...), "a handle taken before Open follows it")
	require.Equal(t, []string{"s1"}, reg.Loaded())
	require.Equal(t, StateOpen, h.State())
	require.FileExists(t, filepath.Join(root, "s1", "inc1", "index", "CURRENT"))

	again, err := reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err, "opening an open incarnation is idempotent")
	_, err = reg.Open(ctx, "s1", "inc2", Config{})
	require.ErrorIs(t, err, ErrIncarnationMismatch)

	time.Sleep(5 * time.Millisecond) // let the value-log GC loop run once
	require.NoError(t, reg.Close(ctx, "s1"))
	require.NoError(t, reg.Close(ctx, "s1"))
	require.Equal(t, StateClosed, again.State())
	_, err = h.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceNotLoaded)
	require.Empty(t, reg.Loaded())

	_, err = reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err)
	res, err := h.Query(ctx, Query{})
	require.NoError(t, err, "the old handle forwards again once reopened")
	require.Equal(t, 6, res.Total)
}

func TestSchemaMismatchAndCorruption(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer reg.CloseAll()
	_, err := reg.Open(ctx, "s", "1", Config{})
	require.NoError(t, err)
	require.NoError(t, reg.Close(ctx, "s"))

	_, err = reg.Open(ctx, "s", "1", Config{IndexedKeys: []string{"due"}})
	require.ErrorIs(t, err, ErrSchemaMismatch, "a different configuration needs a rebuild")
	require.Equal(t, StateClosed, reg.State("s"))

	// An older schema version.
	gen := filepath.Join(reg.IndexDir("s", "1"), firstGeneration)
	db, err := badger.Open(tinyOptions(PhoneOptions(gen)))
	require.NoError(t, err)
	require.NoError(t, db.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey(), []byte{0}) }))
	require.NoError(t, db.Close())
	_, err = reg.Open(ctx, "s", "1", Config{})
	require.ErrorIs(t, err, ErrSchemaMismatch)

	// A damaged manifest.
	require.NoError(t, os.WriteFile(filepath.Join(gen, "MANIFEST"), []byte("garbage garbage garbage"), 0o600))
	_, err = reg.Open(ctx, "s", "1", Config{})
	require.ErrorIs(t, err, ErrCorrupt)

	// A bad CURRENT pointer.
	require.NoError(t, os.WriteFile(filepath.Join(reg.IndexDir("s", "1"), currentFile), []byte("../x"), 0o600))
	_, err = reg.Open(ctx, "s", "1", Config{})
	require.ErrorIs(t, err, ErrCorrupt)

	// The caller's answer: delete and open again gives a fresh index.
	require.NoError(t, reg.Delete(ctx, "s"))
	h, err := reg.Open(ctx, "s", "2", Config{})
	require.NoError(t, err)
	res, err := h.Query(ctx, Query{})
	require.NoError(t, err)
	require.Zero(t, res.Total)
}

func TestDeleteRemovesOnlyTheIndex(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer reg.CloseAll()

	// With the space's store beside the index: only index/ goes.
	_, err := reg.Open(ctx, "a", "1", Config{})
	require.NoError(t, err)
	store := filepath.Join(root, "a", "1", "store")
	require.NoError(t, os.MkdirAll(store, 0o700))
	require.NoError(t, reg.Delete(ctx, "a"))
	require.NoDirExists(t, reg.IndexDir("a", "1"))
	require.DirExists(t, store)
	require.NoError(t, reg.Delete(ctx, "a"), "idempotent")

	// Without: the incarnation and space directories go too.
	_, err = reg.Open(ctx, "b", "1", Config{})
	require.NoError(t, err)
	require.NoError(t, reg.Delete(ctx, "b"))
	require.NoDirExists(t, filepath.Join(root, "b"))

	// Never opened in this process (an offload resumed after a crash).
	stale := filepath.Join(root, "c", "9", "index", "g1")
	require.NoError(t, os.MkdirAll(stale, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(stale, "000001.sst"), []byte("x"), 0o600))
	require.NoError(t, reg.Delete(ctx, "c"))
	require.NoDirExists(t, filepath.Join(root, "c"))
	require.Equal(t, StateRemoved, reg.State("c"))
}

func TestLateCallersAfterDelete(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	h, err := reg.Open(ctx, "s", "inc1", Config{})
	require.NoError(t, err)
	require.NoError(t, h.Put(ctx, fixture()...))
	handles := make([]*Handle, 100)
	for i := range handles {
		if i%2 == 0 {
			handles[i] = h
		} else {
			handles[i] = reg.Handle("s")
		}
	}
	require.NoError(t, reg.Delete(ctx, "s"))
	dir := filepath.Join(root, "s")
	require.NoDirExists(t, dir)

	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for i, hh := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check := func(what string, err error) {
				if !errors.Is(err, ErrSpaceRemoved) {
					errs <- fmt.Errorf("goroutine %d %s: %v", i, what, err)
				}
			}
			for range 5 {
				res, err := hh.Query(ctx, Query{Filter: Eq("type", String("note"))})
				check("query", err)
				if res.Total != 0 || len(res.Records) != 0 {
					errs <- fmt.Errorf("goroutine %d: non-empty result %v", i, res)
				}
				r, err := hh.Get(ctx, "a")
				check("get", err)
				if r.ID != "" {
					errs <- fmt.Errorf("goroutine %d: got record", i)
				}
				check("put", hh.Put(ctx, Record{ID: "late", Details: Details{"name": String("ghost")}}))
				check("delete", hh.Delete(ctx, "a"))
				check("sync status", hh.SetSyncStatus(ctx, "a", SyncStatus{State: SyncSynced}))
				check("heads", hh.ForEachHead(ctx, func(string, []byte) error { return nil }))
				_, err = reg.Open(ctx, "s", "inc1", Config{})
				check("reopen", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoDirExists(t, dir, "a late caller brought the index back")
	require.Equal(t, StateRemoved, reg.State("s"))

	// Re-joining under a new incarnation gives a fresh, empty index; the old
	// handles stay removed.
	fresh, err := reg.Open(ctx, "s", "inc2", Config{})
	require.NoError(t, err)
	res, err := fresh.Query(ctx, Query{})
	require.NoError(t, err)
	require.Zero(t, res.Total)
	_, err = h.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceRemoved)
	require.Equal(t, StateOpen, reg.State("s"))
	require.Equal(t, StateOpen, reg.Handle("s").State())
	require.NoDirExists(t, filepath.Join(root, "s", "inc1"))
}

// 1,000 rounds: Delete races re-Opens of the same incarnation, queries and
// writes. The outcome is always removed, with no directory left.
func TestDeleteRacesOpenAndQueries(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	for i := 0; i < rounds; i++ {
		inc := fmt.Sprint(i)
		h, err := reg.Open(ctx, "s", inc, Config{})
		require.NoError(t, err)
		var wg sync.WaitGroup
		fail := make(chan error, 8)
		run := func(f func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(); err != nil {
					fail <- err
				}
			}()
		}
		run(func() error { return reg.Delete(ctx, "s") })
		run(func() error {
			_, err := reg.Open(ctx, "s", inc, Config{})
			if err != nil && !errors.Is(err, ErrSpaceRemoved) {
				return fmt.Errorf("reopen: %w", err)
			}
			return nil
		})
		run(func() error {
			_, err := h.Query(ctx, Query{Filter: Eq("type", String("note")), Sorts: []Sort{{Key: "modified"}}, Limit: 5})
			if err != nil && !errors.Is(err, ErrSpaceRemoved) && !errors.Is(err, ErrSpaceNotLoaded) {
				return fmt.Errorf("query: %w", err)
			}
			return nil
		})
		run(func() error {
			err := reg.Handle("s").Put(ctx, Record{ID: inc, Details: Details{"type": String("note")}})
			if err != nil && !errors.Is(err, ErrSpaceRemoved) && !errors.Is(err, ErrSpaceNotLoaded) {
				return fmt.Errorf("put: %w", err)
			}
			return nil
		})
		run(func() error { return reg.Close(ctx, "s") })
		wg.Wait()
		close(fail)
		for err := range fail {
			t.Fatalf("round %d: %v", i, err)
		}
		require.Equal(t, StateRemoved, reg.State("s"), "round %d", i)
		require.NoDirExists(t, filepath.Join(root, "s"), "round %d", i)
	}
}

func TestRegistryOverManySpacesOpensNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	root := t.TempDir()
	for i := range 1000 {
		gen := filepath.Join(root, fmt.Sprintf("space%04d", i), "inc", "index", firstGeneration)
		require.NoError(t, os.MkdirAll(gen, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(gen, "..", currentFile), []byte(firstGeneration), 0o600))
		require.NoError(t, os.MkdirAll(filepath.Join(root, fmt.Sprintf("space%04d", i), "inc", "store"), 0o700))
	}
	start := time.Now()
	reg := NewRegistry(root)
	ctx := context.Background()
	for i := range 1000 {
		id := fmt.Sprintf("space%04d", i)
		_, err := reg.Handle(id).Query(ctx, Query{})
		require.ErrorIs(t, err, ErrSpaceNotLoaded)
		require.Equal(t, StateClosed, reg.State(id))
	}
	require.Empty(t, reg.Loaded())
	require.Zero(t, reg.opened.Load(), "databases opened")
	require.Less(t, time.Since(start), 500*time.Millisecond)
	require.NoError(t, reg.CloseAll())
	require.NoError(t, reg.CloseAll(), "idempotent")
	_, err := reg.Open(ctx, "space0001", "inc", Config{})
	require.ErrorIs(t, err, ErrRegistryClosed)
	require.Zero(t, reg.opened.Load())
}

// Close waits for in-flight calls, refuses new ones at once, and holds no
// lock that would stop other spaces meanwhile.
func TestCloseWaitsForInFlightWithoutBlockingOthers(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	reg := NewRegistry(t.TempDir(), WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	a, err := reg.Open(ctx, "a", "1", Config{})
	require.NoError(t, err)
	b, err := reg.Open(ctx, "b", "1", Config{})
	require.NoError(t, err)
	require.NoError(t, a.Put(ctx, fixture()...))
	require.NoError(t, b.Put(ctx, fixture()...))

	inside := make(chan struct{})
	release := make(chan struct{})
	scanDone := make(chan error, 1)
	go func() {
		first := true
		scanDone <- a.ForEachHead(ctx, func(string, []byte) error {
			if first {
				first = false
				close(inside)
				<-release
			}
			return nil
		})
	}()
	<-inside
	closed := make(chan error, 1)
	go func() { closed <- reg.Delete(ctx, "a") }()

	// Meanwhile: a is refused at once, b and a new space work normally.
	require.Eventually(t, func() bool { return a.State() == StateRemoved }, time.Second, time.Millisecond)
	_, err = a.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceRemoved)
	res, err := b.Query(ctx, Query{Filter: FullText("hello")})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total)
	_, err = reg.Open(ctx, "c", "1", Config{})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"b", "c"}, reg.Loaded())
	select {
	case err := <-closed:
		t.Fatalf("Delete returned (%v) while a call was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-scanDone)
	require.NoError(t, <-closed)
	require.NoDirExists(t, reg.IndexDir("a", "1"))
}
