package space

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
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
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// badger v4.9.6 leaks two goroutines when Open fails after starting them
// (DB.cleanup never stops the cache monitor or the allocator pool): the
// corruption tests make Open fail on purpose.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one account's data on disk, reopenable.
type env struct {
	t       testing.TB
	dir     string
	account crypto.PrivKey
	device  crypto.PrivKey
	nodeKey NodeKey // nil: local-only
	db      *badger.DB
	svc     *Service
}

func newEnv(t testing.TB) *env {
	acc, err := crypto.GenerateKey()
	require.NoError(t, err)
	dev, err := crypto.GenerateKey()
	require.NoError(t, err)
	e := &env{t: t, dir: t.TempDir(), account: acc, device: dev}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	db, err := badgerdb.Open(filepath.Join(e.dir, "account"), true, quiet)
	require.NoError(e.t, err)
	e.db = db
	e.svc = New(Config{Account: e.account, Device: e.device, DB: db, SpacesDir: filepath.Join(e.dir, "spaces"), NodeKey: e.nodeKey, Log: quiet})
}

func (e *env) close() {
	if e.svc == nil {
		return
	}
	require.NoError(e.t, e.svc.Close())
	require.NoError(e.t, e.db.Close())
	e.svc, e.db = nil, nil
}

func (e *env) reopen() { e.close(); e.open() }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// newLoadedSpace is a new account's env with one space, loaded.
func newLoadedSpace(t testing.TB) (*env, crypto.SpaceID, *Space) {
	e := newEnv(t)
	id, err := e.svc.Create(ctx(t), "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(ctx(t), id)
	require.NoError(t, err)
	return e, id, sp
}

func str(s string) *syncpb.Value  { return objtree.String(s) }
func num(f float64) *syncpb.Value { return objtree.Number(f) }

func TestObjectsPersistAcrossRestart(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)

	obj, err := sp.CreateObject(c, "task", Details{"name": str("Buy milk"), "n": num(1)})
	require.NoError(t, err)
	require.NoError(t, sp.UpdateObject(c, obj, Details{"n": num(2), "tags": objtree.List(str("a"), str("b"))}, nil))
	require.NoError(t, sp.UpdateObject(c, obj, nil, []string{"tags"}))
	gone, err := sp.CreateObject(c, "task", Details{"name": str("Old")})
	require.NoError(t, err)
	require.NoError(t, sp.DeleteObject(c, gone))

	want := Details{"name": str("Buy milk"), "n": num(2)}
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, "task", got.Type)
	assert.Equal(t, want, got.Details)

	e.reopen()
	entries, err := e.svc.List()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, ModeUnloaded, entries[0].Mode, "spaces load lazily")
	assert.Equal(t, "Home", entries[0].Name)
	assert.Empty(t, e.svc.Registry().Loaded(), "listing opens no index")

	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	got, err = sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, want, got.Details)
	_, err = sp.Get(c, gone)
	assert.True(t, errkind.Is(err, errkind.NotFound), "%v", err)

	res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq("type", spaceindex.String("task"))})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total, "the deleted object left the index")
	assert.Equal(t, string(obj), res.Records[0].ID)
	assert.Equal(t, spaceindex.SyncQueued, res.Records[0].SyncStatus.State, "nothing acknowledged by a node: queued, never synced")
}

// TestIndexHealsAfterLosingWrites: the index is derived; if it misses
// changes (a crash between store and index, or a lost index directory), the
// next load re-indexes from the store.
func TestIndexHealsAfterLosingWrites(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	var ids []crypto.ObjectID
	for i := range 5 {
		o, err := sp.CreateObject(c, "note", Details{"name": str(fmt.Sprintf("note %d", i))})
		require.NoError(t, err)
		ids = append(ids, o)
	}
	in, err := e.svc.Info(id)
	require.NoError(t, err)
	e.close()
	require.NoError(t, os.RemoveAll(filepath.Join(e.dir, "spaces", string(id), in.Incarnation, "index")))
	e.open()
	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	res, err := sp.Query(c, spaceindex.Query{Sorts: []spaceindex.Sort{{Key: "name"}}})
	require.NoError(t, err)
	require.Equal(t, 5, res.Total)
	for i, r := range res.Records {
		assert.Equal(t, spaceindex.String(fmt.Sprintf("note %d", i)), r.Details["name"])
	}
}

func TestConcurrentWritersOneObject(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	obj, err := sp.CreateObject(c, "counter", nil)
	require.NoError(t, err)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				assert.NoError(t, sp.UpdateObject(c, obj, Details{fmt.Sprintf("k%d_%d", w, i): num(float64(i))}, nil))
			}
		}()
	}
	wg.Wait()
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Len(t, got.Details, writers*each, "no write lost")
}

// TestGroupCommitAnswersIndexedWrites: writers that share the actor's
// group commit (and its one index write) are answered only once their
// writes are in the index, so a write is queryable the moment it returns.
func TestGroupCommitAnswersIndexedWrites(t *testing.T) {
	_, _, sp := newLoadedSpace(t)
	c := ctx(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, err := sp.CreateObject(c, "note", Details{"n": num(0)})
			if !assert.NoError(t, err) {
				return
			}
			for i := 1; i <= each; i++ {
				if !assert.NoError(t, sp.UpdateObject(c, obj, Details{"n": num(float64(i))}, nil)) {
					return
				}
				rec, err := sp.Index().Get(c, string(obj))
				if !assert.NoError(t, err) || !assert.Equal(t, spaceindex.Number(float64(i)), rec.Details["n"], "an answered write is in the index") {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestIndexFailureFailsTheGroup: when the group's index write fails, every
// write of the group fails with it, and none is lost: the store has them
// and the index catches up on the next load.
func TestIndexFailureFailsTheGroup(t *testing.T) {
	e, id, sp := newLoadedSpace(t)
	c := ctx(t)
	objs := make([]crypto.ObjectID, 4)
	for i := range objs {
		var err error
		objs[i], err = sp.CreateObject(c, "note", Details{"n": num(0)})
		require.NoError(t, err)
	}
	require.NoError(t, e.svc.Registry().Close(c, string(id))) // the index goes; the space stays loaded
	var wg sync.WaitGroup
	for _, obj := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.Error(t, sp.UpdateObject(c, obj, Details{"n": num(1)}, nil), "a write whose index write failed is not acknowledged")
		}()
	}
	wg.Wait()
	e.reopen()
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq("n", spaceindex.Number(1)), ExactTotal: true})
	require.NoError(t, err)
	assert.Equal(t, len(objs), res.Total, "the store kept every write and the index caught up")
}

func TestBadInputIsRefused(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	for name, d := range map[string]Details{
		"reserved key": {"$deleted": objtree.Bool(false)},
		"derived key":  {"modified": num(1)},
		"empty key":    {"": num(1)},
		"NaN":          {"n": num(math.NaN())},
	} {
		_, err := sp.CreateObject(c, "x", d)
		assert.True(t, errkind.Is(err, errkind.Invalid), "%s: %v", name, err)
	}
	_, err = sp.Get(c, crypto.ObjectID("aaaa"))
	assert.True(t, errkind.Is(err, errkind.NotFound), "%v", err)
	_, err = e.svc.Get(c, crypto.SpaceID("nosuchspace"))
	assert.True(t, errkind.Is(err, errkind.NotFound), "%v", err)
}

func TestGetAfterCloseFails(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	svc := e.svc
	e.close()
	_, err = sp.CreateObject(c, "x", nil)
	assert.Error(t, err, "a late caller of an unloaded space gets an error")
	_, err = svc.Get(c, id)
	assert.Error(t, err)
	e.open()
}

func FuzzDecodeInfo(f *testing.F) {
	good, _ := encodeInfo(Info{Name: "n", Incarnation: "iabc", AccountStatus: AccountRemoved, LocalStatus: LocalMissing})
	f.Add(good)
	f.Add([]byte(`{"accountStatus":9,"incarnation":"i"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodeInfo("s", b)
		if err == nil && (in.Incarnation == "" || in.AccountStatus > AccountRemoved) {
			t.Fatalf("accepted %+v", in)
		}
	})
}
