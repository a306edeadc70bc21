package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/internal/pgtest"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/node/store/storetest"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func openT(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(ctx, url, nil)
	require.NoError(t, err)
	return s
}

// TestConformance: the PostgreSQL store passes the one suite every store passes, each
// case on a fresh database.
func TestConformance(t *testing.T) {
	c := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, c.NewDB(t)) })
}

func sid(s string) crypto.SpaceID { return crypto.SpaceID(crypto.Sum([]byte("space:" + s))) }

// TestMigrations: a database is created from empty, and one left at each earlier version
// (with data in it) is brought forward by Open with the data intact; a newer one is
// refused.
func TestMigrations(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDB(t)
	s := openT(t, url)
	v, err := s.schemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, SchemaVersion, v, "from empty")
	require.NoError(t, s.Close())

	for from := 1; from < SchemaVersion; from++ {
		url := c.NewDB(t)
		old, err := open(ctx, url, nil, from)
		require.NoError(t, err)
		// Data written by the older schema's tables.
		_, err = old.pool.Exec(ctx, `INSERT INTO spaces (space_id, header, code) VALUES ($1, 'h', 0)`, string(sid("a")))
		require.NoError(t, err)
		_, err = old.pool.Exec(ctx, `INSERT INTO acl (space_id, seq, record) VALUES ($1, 1, 'root')`, string(sid("a")))
		require.NoError(t, err)
		_, err = old.pool.Exec(ctx, `INSERT INTO changes (space_id, object_id, n, change_id, raw) VALUES ($1, 'o', 1, 'c1', '0123456789')`, string(sid("a")))
		require.NoError(t, err)
		require.NoError(t, old.Close())

		s := openT(t, url)
		v, err := s.schemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, SchemaVersion, v, "from %d", from)
		h, err := s.Header(ctx, sid("a"))
		require.NoError(t, err)
		require.Equal(t, []byte("h"), h)
		require.NoError(t, s.AppendACL(ctx, sid("a"), 2, []byte("r2"), nil), "from %d", from)
		require.NoError(t, s.PutBlob(ctx, sid("a"), "x", []byte("xx"), store.Limits{SpaceBlobBytes: 10}), "the blob columns exist")
		used, err := s.BlobUsage(ctx, sid("a"))
		require.NoError(t, err)
		require.EqualValues(t, 2, used)
		// Quotas (schema 5): the old space's changes were counted; it is charged to its
		// owner once the node names it.
		u, err := s.Usage(ctx, owner)
		require.NoError(t, err)
		require.Equal(t, store.Usage{}, u)
		require.NoError(t, s.SetOwner(ctx, sid("a"), owner))
		require.NoError(t, s.SetOwner(ctx, sid("a"), owner), "once")
		u, err = s.Usage(ctx, owner)
		require.NoError(t, err)
		require.Equal(t, store.Usage{Spaces: 1, ChangeBytes: 10, BlobBytes: 2}, u, "from %d", from)
		require.NoError(t, s.Close())
	}

	_, err = s2(t, url).pool.Exec(ctx, `UPDATE hearth_schema SET version = version + 1`)
	require.NoError(t, err)
	_, err = Open(ctx, url, nil)
	require.True(t, errkind.Is(err, errkind.Corrupt), "a newer schema is refused: %v", err)
	require.ErrorContains(t, err, "use a matching hearth version")
}

// s2 opens a store closed at cleanup.
func s2(t *testing.T, url string) *Store {
	s := openT(t, url)
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	return version(ctx, conn)
}

// TestConcurrentOpen: nodes starting together migrate once.
func TestConcurrentOpen(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, url, nil)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestAppendRaceAcrossStores: two stores (two nodes) racing for each sequence number:
// exactly one wins every time.
func TestAppendRaceAcrossStores(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDB(t)
	a, b := s2(t, url), s2(t, url)
	require.NoError(t, a.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, owner, store.Limits{}))
	for seq := uint64(2); seq < 40; seq++ {
		var wg sync.WaitGroup
		res := make([]error, 2)
		for i, s := range []*Store{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = s.AppendACL(ctx, sid("a"), seq, []byte{byte(i)}, nil) }()
		}
		wg.Wait()
		wins := 0
		for _, err := range res {
			if err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, store.ErrStale)
			}
		}
		require.Equal(t, 1, wins, "seq %d", seq)
	}
	last, err := a.LastACL(ctx, sid("a"))
	require.NoError(t, err)
	require.EqualValues(t, 39, last)
	_, err = a.LastACL(ctx, sid("none"))
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestWatch: writes through one store reach another's Watch (not its own), with the
// numbers a receiver needs; after the listen connection is killed, Watch reconnects and
// says so with an EventReset.
func TestWatch(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDB(t)
	a, b := s2(t, url), s2(t, url)
	events := make(chan store.Event, 64)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Watch(wctx, func(e store.Event) { events <- e }) }()
	defer func() { cancel(); require.ErrorIs(t, <-done, context.Canceled) }()
	next := func() store.Event {
		select {
		case e := <-events:
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
		return store.Event{}
	}
	require.Equal(t, store.EventReset, next().Kind, "the first event says Watch listens")

	require.NoError(t, b.CreateSpace(ctx, sid("own"), []byte("h"), []byte("r"), nil, owner, store.Limits{}), "b's own write is not told to b")
	require.NoError(t, a.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, owner, store.Limits{}))
	e := next()
	require.Equal(t, store.Event{Kind: store.EventACL, Origin: a.origin, Space: sid("a"), Seq: 1}, e)
	require.NoError(t, a.AppendACL(ctx, sid("a"), 2, []byte("r2"), nil))
	require.Equal(t, uint64(2), next().Seq)
	obj := crypto.ObjectID(sid("obj"))
	c1 := store.Change{ID: crypto.ChangeID(sid("c1")), Raw: []byte("1")}
	c2 := store.Change{ID: crypto.ChangeID(sid("c2")), Raw: []byte("2")}
	require.NoError(t, a.PutChanges(ctx, sid("a"), obj, nil, []crypto.ChangeID{c1.ID}, []store.Change{c1}, store.Limits{}))
	e = next()
	require.Equal(t, store.Event{Kind: store.EventChanges, Origin: a.origin, Space: sid("a"), Object: obj, Seq: 1, Prev: 0}, e)
	require.NoError(t, a.PutChanges(ctx, sid("a"), obj, []crypto.ChangeID{c1.ID}, []crypto.ChangeID{c2.ID}, []store.Change{c1, c2}, store.Limits{}))
	e = next()
	require.Equal(t, uint64(2), e.Seq)
	require.Equal(t, uint64(1), e.Prev)
	var got []string
	require.NoError(t, b.ChangesAfter(ctx, sid("a"), obj, e.Prev, func(c store.Change) bool { got = append(got, string(c.Raw)); return true }))
	require.Equal(t, []string{"2"}, got, "the receiver reads what the write added")
	ok := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}
	pending := store.Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, DeletionAt: 5}
	require.NoError(t, a.SwapStatus(ctx, sid("a"), ok, pending))
	require.Equal(t, store.Event{Kind: store.EventStatus, Origin: a.origin, Space: sid("a")}, next())

	// Kill the listen connection from the server side.
	admin, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
	require.NoError(t, err)
	require.Equal(t, store.EventReset, next().Kind, "a reconnect is told")
	require.NoError(t, a.AppendACL(ctx, sid("a"), 3, []byte("r3"), nil))
	require.Equal(t, uint64(3), next().Seq, "and events flow again")
}

// TestLease: one holder at a time; the lease passes on once expired.
func TestLease(t *testing.T) {
	c := pgtest.Start(t)
	s := s2(t, c.NewDB(t))
	got, err := s.Lease(ctx, "janitor", "n1", time.Second)
	require.NoError(t, err)
	require.True(t, got)
	got, err = s.Lease(ctx, "janitor", "n2", time.Second)
	require.NoError(t, err)
	require.False(t, got, "held by n1")
	got, err = s.Lease(ctx, "janitor", "n1", 200*time.Millisecond)
	require.NoError(t, err)
	require.True(t, got, "the holder renews")
	got, err = s.Lease(ctx, "other", "n2", time.Second)
	require.NoError(t, err)
	require.True(t, got, "leases are per name")
	time.Sleep(300 * time.Millisecond)
	got, err = s.Lease(ctx, "janitor", "n2", time.Second)
	require.NoError(t, err)
	require.True(t, got, "expired: n2 takes it")
}

// TestClaimNodeKey: the first node's key is the cluster's; another key is refused.
func TestClaimNodeKey(t *testing.T) {
	c := pgtest.Start(t)
	s := s2(t, c.NewDB(t))
	k1, _ := crypto.GenerateKey()
	k2, _ := crypto.GenerateKey()
	require.NoError(t, s.ClaimNodeKey(ctx, k1.Public()))
	require.NoError(t, s.ClaimNodeKey(ctx, k1.Public()), "again")
	err := s.ClaimNodeKey(ctx, k2.Public())
	require.True(t, errkind.Is(err, errkind.Precondition), "%v", err)
	require.ErrorContains(t, err, string(k1.Public().Identity()))
}

// TestBadURL: a URL that does not parse is refused without echoing it (it may hold a
// password).
func TestBadURL(t *testing.T) {
	_, err := Open(ctx, "postgres://u:secret@host:notaport/db", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}

// TestPurgeLarge: a space with more rows than one purge statement deletes is purged whole.
func TestPurgeLarge(t *testing.T) {
	c := pgtest.Start(t)
	s := s2(t, c.NewDB(t))
	require.NoError(t, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, owner, store.Limits{}))
	require.NoError(t, s.CreateSpace(ctx, sid("b"), []byte("h"), []byte("r"), nil, owner, store.Limits{}))
	_, err := s.pool.Exec(ctx, `INSERT INTO changes (space_id, object_id, n, change_id, raw)
		SELECT $1, 'o', g, 'c' || g, 'x' FROM generate_series(1, $2) g`, string(sid("a")), 2*purgeBatch+7)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `INSERT INTO changes (space_id, object_id, n, change_id, raw) VALUES ($1, 'o', 1, 'c', 'x')`, string(sid("b")))
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx, sid("a")))
	var left, other int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM changes WHERE space_id = $1`, string(sid("a"))).Scan(&left))
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM changes WHERE space_id = $1`, string(sid("b"))).Scan(&other))
	require.Zero(t, left)
	require.Equal(t, 1, other, "another space is untouched")
}

// BenchmarkPutChanges: one change appended to an object (the CAS a HeadUpdate makes), on
// a durable server.
func BenchmarkPutChanges(b *testing.B) {
	c := pgtest.Start(b, pgtest.Options{Durable: true})
	s := openT(b, c.NewDB(b))
	defer s.Close()
	require.NoError(b, s.CreateSpace(ctx, sid("a"), []byte("h"), []byte("r"), nil, owner, store.Limits{}))
	obj := crypto.ObjectID(sid("o"))
	var heads []crypto.ChangeID
	b.ResetTimer()
	for i := range b.N {
		ch := store.Change{ID: crypto.ChangeID(sid(fmt.Sprint("c", i))), Raw: make([]byte, 300)}
		next := []crypto.ChangeID{ch.ID}
		require.NoError(b, s.PutChanges(ctx, sid("a"), obj, heads, next, []store.Change{ch}, store.Limits{}))
		heads = next
	}
}

// BenchmarkPutChangesQuota: the shared benchmark, one writer and 8 on one owner's spaces.
func BenchmarkPutChangesQuota(b *testing.B) {
	c := pgtest.Start(b, pgtest.Options{Durable: true})
	storetest.BenchPutChanges(b, func(b *testing.B) store.Store { return openT(b, c.NewDB(b)) })
}

// owner is the owner of the spaces these tests make (quotas need one; limits are off).
var owner = crypto.PubKey{1}
