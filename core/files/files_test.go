package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newService(t testing.TB) (*Service, *badger.DB) {
	dir := t.TempDir()
	db, err := badgerdb.Open(filepath.Join(dir, "account"), true, quiet)
	require.NoError(t, err)
	s := New(Config{Dir: filepath.Join(dir, "blobs"), DB: db, Log: quiet})
	t.Cleanup(func() { s.Close(); db.Close() })
	return s, db
}

func randomFile(t testing.TB, size int) (string, []byte) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), "f.bin")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p, data
}

func key(t testing.TB) crypto.SymKey {
	k, err := crypto.NewSymKey()
	require.NoError(t, err)
	return k
}

func TestBlobsVerifyContent(t *testing.T) {
	b := NewBlobs(t.TempDir())
	id, err := b.Put([]byte("hello"))
	require.NoError(t, err)
	got, err := b.Get(id)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	assert.True(t, errkind.Is(b.PutVerified(id, []byte("other")), errkind.Corrupt))
	_, err = b.Get(BlobID([]byte("absent")))
	assert.True(t, errkind.Is(err, errkind.NotFound))
	_, err = b.Get("../etc/passwd")
	assert.True(t, errkind.Is(err, errkind.Invalid))
	require.NoError(t, os.WriteFile(b.path(id), []byte("tampered"), 0o600))
	_, err = b.Get(id)
	assert.True(t, errkind.Is(err, errkind.Corrupt))
	n, err := b.Remove(id)
	require.NoError(t, err)
	assert.Equal(t, int64(8), n)
	n, err = b.Remove(id)
	require.NoError(t, err, "already gone is done")
	assert.Zero(t, n)
}

func TestImportSealExportRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize, ChunkSize + 7, 3*ChunkSize - 1} {
		s, _ := newService(t)
		p, data := randomFile(t, size)
		k := key(t)
		im, err := s.Import(ctx(t), p, k, nil)
		require.NoError(t, err)
		im.Release()
		assert.Equal(t, int64(size), im.Size)
		assert.Equal(t, k.ID(), im.KeyID)
		assert.Len(t, im.Manifest.Chunks, (size+ChunkSize-1)/ChunkSize)

		// The same file again: same ids (stored once, sealed the same).
		im2, err := s.Import(ctx(t), p, k, nil)
		require.NoError(t, err)
		im2.Release()
		assert.Equal(t, im.FileID, im2.FileID)
		assert.Equal(t, im.RemoteID, im2.RemoteID)
		// Another key: another remote copy, same local file.
		im3, err := s.Import(ctx(t), p, key(t), nil)
		require.NoError(t, err)
		im3.Release()
		assert.Equal(t, im.FileID, im3.FileID)
		assert.NotEqual(t, im.RemoteID, im3.RemoteID)

		out := filepath.Join(t.TempDir(), "out.bin")
		n, err := s.Export(ctx(t), im.FileID, out, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(size), n)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got))
	}
}

func TestSealerRefusesTampering(t *testing.T) {
	k := key(t)
	s, err := NewSealer(k)
	require.NoError(t, err)
	f := BlobID([]byte("file"))
	sealed := s.Seal(f, []byte("chunk"))
	assert.Equal(t, sealed, s.Seal(f, []byte("chunk")), "deterministic")
	assert.NotEqual(t, sealed, s.Seal(BlobID([]byte("other file")), []byte("chunk")), "bound to the file")
	plain, err := s.Open(f, sealed)
	require.NoError(t, err)
	assert.Equal(t, "chunk", string(plain))
	_, err = s.Open(BlobID([]byte("other file")), sealed)
	assert.True(t, errkind.Is(err, errkind.Corrupt))
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	_, err = s.Open(f, bad)
	assert.True(t, errkind.Is(err, errkind.Corrupt))
	other, _ := NewSealer(key(t))
	_, err = other.Open(f, sealed)
	assert.True(t, errkind.Is(err, errkind.Corrupt))
}

func TestMarkersRewriteAndRelease(t *testing.T) {
	s, _ := newService(t)
	m := s.Markers()
	f1, f2 := BlobID([]byte("1")), BlobID([]byte("2"))
	require.NoError(t, m.Mark("spaceA", f1))
	require.NoError(t, m.Mark("spaceA", f1), "idempotent")
	require.NoError(t, m.Mark("spaceB", f1))
	require.NoError(t, m.Mark("spaceB", f2))
	all, err := m.All()
	require.NoError(t, err)
	assert.ElementsMatch(t, []crypto.SpaceID{"spaceA", "spaceB"}, all[f1])
	require.NoError(t, m.Release("spaceB"))
	require.NoError(t, m.Release("spaceB"), "idempotent")
	ok, err := m.Marked(f2)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, _ = m.Marked(f1)
	assert.True(t, ok, "the other space's marker stays")
	require.NoError(t, m.Rewrite("spaceA", []string{f2}))
	got, _ := m.OfSpace("spaceA")
	assert.Equal(t, []string{f2}, got)
}

func TestGCKeepsWhatMarkersReach(t *testing.T) {
	s, _ := newService(t)
	k := key(t)
	kept, _ := randomFile(t, ChunkSize+10)
	dropped, _ := randomFile(t, 100)
	imK, err := s.Import(ctx(t), kept, k, nil)
	require.NoError(t, err)
	imK.Release()
	imD, err := s.Import(ctx(t), dropped, k, nil)
	require.NoError(t, err)
	imD.Release()
	require.NoError(t, s.Markers().Mark("space", imK.FileID))

	// Within the grace period nothing goes.
	res, err := s.GC(ctx(t), time.Hour, nil)
	require.NoError(t, err)
	assert.Zero(t, res.BlobsRemoved)

	res, err = s.GC(ctx(t), 0, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, res.BlobsRemoved, "the unmarked file's manifest and chunk")
	assert.Equal(t, int64(100)+int64(len(encodeManifest(Manifest{Chunks: imD.Manifest.Chunks}))), res.BytesFreed)
	assert.True(t, s.Complete(imK.FileID), "the marked file keeps its manifest and chunks")
	assert.False(t, s.blobs.Has(imD.FileID))

	// A pinned blob (an add in progress) is never collected.
	im, err := s.Import(ctx(t), dropped, k, nil)
	require.NoError(t, err)
	res, err = s.GC(ctx(t), 0, nil)
	require.NoError(t, err)
	assert.Zero(t, res.BlobsRemoved)
	im.Release()

	// A marked manifest that does not decode: keep everything.
	bad := []byte("not a manifest")
	badID, err := s.blobs.Put(bad)
	require.NoError(t, err)
	require.NoError(t, s.Markers().Mark("space", badID))
	_, err = s.GC(ctx(t), 0, nil)
	require.Error(t, err)
	assert.True(t, s.blobs.Has(im.FileID))
}

// TestGCGraceBounded: a grace past MaxGrace is refused (issue 16.7: one that had
// overflowed on its way here would have deleted new blobs), and nothing is deleted.
func TestGCGraceBounded(t *testing.T) {
	s, _ := newService(t)
	f, _ := randomFile(t, 100)
	im, err := s.Import(ctx(t), f, key(t), nil)
	require.NoError(t, err)
	im.Release()
	res, err := s.GC(ctx(t), MaxGrace+time.Nanosecond, nil)
	require.True(t, errkind.Is(err, errkind.Invalid), "%v", err)
	assert.Zero(t, res.BlobsRemoved)
	assert.True(t, s.blobs.Has(im.FileID))
	res, err = s.GC(ctx(t), MaxGrace, nil)
	require.NoError(t, err)
	assert.Zero(t, res.BlobsRemoved)
}

func TestGCRechecksMarkersBeforeEachDelete(t *testing.T) {
	s, _ := newService(t)
	p, _ := randomFile(t, 10)
	im, err := s.Import(ctx(t), p, key(t), nil)
	require.NoError(t, err)
	im.Release()
	// The walk sees the blobs unmarked; a marker written after the walk, as
	// by an add, must still save them: collect re-reads the markers.
	live := &liveSet{s: s, chunks: map[string]bool{}, decoded: map[string]bool{}}
	require.NoError(t, live.refresh())
	assert.False(t, live.reaches(im.FileID))
	require.NoError(t, s.Markers().Mark("space", im.FileID))
	for _, id := range []string{im.FileID, im.Manifest.Chunks[0].ID} {
		_, removed, err := s.collect(live, BlobInfo{ID: id, Path: s.blobs.path(id)}, 0)
		require.NoError(t, err)
		assert.False(t, removed, id)
	}
	assert.True(t, s.Complete(im.FileID))
}

// upload puts a file's sealed remote copy on r, as a worker would.
func upload(t *testing.T, s *Service, r *MemRemote, sp crypto.SpaceID, im *Imported, k crypto.SymKey) {
	sealer, err := NewSealer(k)
	require.NoError(t, err)
	layout, sealed, err := sealer.RemoteLayout(im.FileID, im.Manifest, s.blobs.Get)
	require.NoError(t, err)
	require.NoError(t, r.PutBlob(ctx(t), sp, BlobID(sealed), sealed))
	for _, c := range layout.Chunks {
		data, err := s.blobs.Get(c.ID)
		require.NoError(t, err)
		require.NoError(t, r.PutBlob(ctx(t), sp, c.Remote, sealer.Seal(im.FileID, data)))
	}
}

func TestFiftyConcurrentOpensDownloadOnce(t *testing.T) {
	src, _ := newService(t)
	dst, _ := newService(t)
	r := NewMemRemote()
	k := key(t)
	p, data := randomFile(t, 2*ChunkSize+5)
	im, err := src.Import(ctx(t), p, k, nil)
	require.NoError(t, err)
	im.Release()
	upload(t, src, r, "sp", im, k)
	before := r.Calls().Get

	// Hold the download until every caller waits on it.
	gate := make(chan struct{})
	r.OnGet(func(ctx context.Context) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	loc := Locator{Space: "sp", FileID: im.FileID, Ref: RefValue{KeyID: k.ID(), RemoteID: im.RemoteID}, Key: k}
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { firstErr <- dst.Fetch(firstCtx, loc, r) }()
	var wg sync.WaitGroup
	errs := make([]error, 49)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = dst.Fetch(ctx(t), loc, r) }()
	}
	time.Sleep(50 * time.Millisecond) // let the callers join (the assertion below does not depend on it)
	cancelFirst()
	assert.ErrorIs(t, <-firstErr, context.Canceled, "the first caller gives up")
	close(gate)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "the others still get the file")
	}
	gets := r.Calls().Get - before
	assert.Equal(t, 1+len(im.Manifest.Chunks), gets, "one download: the manifest and each chunk once")
	out := filepath.Join(t.TempDir(), "out")
	_, err = dst.Export(ctx(t), im.FileID, out, nil)
	require.NoError(t, err)
	got, _ := os.ReadFile(out)
	assert.True(t, bytes.Equal(data, got))
}

func TestFetchRefusesWrongContent(t *testing.T) {
	dst, _ := newService(t)
	r := NewMemRemote()
	k := key(t)
	sealer, _ := NewSealer(k)
	fileID := BlobID(encodeManifest(Manifest{Chunks: []Chunk{{ID: BlobID([]byte("x")), Size: 1}}}))
	// A remote manifest that lists other chunks than fileId names.
	lie := sealer.Seal(fileID, encodeRemote(fileID, Manifest{Chunks: []Chunk{{ID: BlobID([]byte("y")), Size: 1, Remote: BlobID([]byte("z"))}}}))
	require.NoError(t, r.PutBlob(ctx(t), "sp", BlobID(lie), lie))
	err := dst.Fetch(ctx(t), Locator{Space: "sp", FileID: fileID, Ref: RefValue{KeyID: k.ID(), RemoteID: BlobID(lie)}, Key: k}, r)
	assert.True(t, errkind.Is(err, errkind.Corrupt), "%v", err)
	assert.False(t, dst.blobs.Has(fileID))
	err = dst.Fetch(ctx(t), Locator{Space: "sp", FileID: fileID, Ref: RefValue{KeyID: k.ID(), RemoteID: BlobID([]byte("absent"))}, Key: k}, r)
	assert.True(t, errkind.Is(err, errkind.NotFound), "%v", err)
}

// TestImportStopsWhenCancelled: a cancelled add stops in either pass (a daemon's shutdown
// cuts a large add: the seal pass did not look at its context, and held the stop up).
func TestImportStopsWhenCancelled(t *testing.T) {
	s, _ := newService(t)
	f, _ := randomFile(t, 4*ChunkSize)
	for _, pass := range []string{"store", "seal"} {
		c, cancel := context.WithCancel(ctx(t))
		_, err := s.Import(c, f, key(t), func(done, total int64) {
			if pass == "store" || done > total/2 {
				cancel()
			}
		})
		cancel()
		require.ErrorIs(t, err, context.Canceled, pass)
	}
}
