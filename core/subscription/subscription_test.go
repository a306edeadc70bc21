package subscription

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/spaceindex"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a registry of real indexes plus a subscription service wired to
// it the way core wires them: loads and unloads are pushed in.
type world struct {
	t     tb
	reg   *spaceindex.Registry
	svc   *Service
	cfg   spaceindex.Config
	open  map[string]*spaceindex.Handle
	mu    sync.Mutex // guards views, errs
	views map[string]*View
	errs  []error
}

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	require.TestingT
	Helper()
}

func newWorld(t tb, dir string) *world {
	w := &world{t: t, reg: spaceindex.NewRegistry(dir, spaceindex.WithValueLogGC(0)), open: map[string]*spaceindex.Handle{}, views: map[string]*View{}}
	w.svc = New(Config{Index: w.cfg})
	return w
}

func (w *world) close() {
	w.svc.Close()
	require.NoError(w.t, w.reg.CloseAll())
}

func (w *world) load(space string) {
	h, err := w.reg.Open(context.Background(), space, "i1", w.cfg)
	require.NoError(w.t, err)
	w.open[space] = h
	w.svc.SpaceLoaded(space, h)
}

func (w *world) unload(space string) {
	w.svc.SpaceUnloading(space)
	require.NoError(w.t, w.reg.Close(context.Background(), space))
	delete(w.open, space)
}

// sink applies batches to the subscription's view as a client would. The
// view is created by subscribe; batches that reach the sink before the
// snapshot is returned wait in pending.
func (w *world) sink(pending map[string][]func(*View) error) Sink {
	return func(id string, seq uint64, msgs []Message) {
		w.mu.Lock()
		defer w.mu.Unlock()
		msgs = slices.Clone(msgs)
		apply := func(v *View) error { return v.Apply(seq, msgs) }
		if v := w.views[id]; v != nil {
			if err := apply(v); err != nil {
				w.errs = append(w.errs, err)
			}
			return
		}
		pending[id] = append(pending[id], apply)
	}
}

func (w *world) subscribe(req Request) string {
	pending := map[string][]func(*View) error{}
	snap, err := w.svc.Subscribe(context.Background(), req, w.sink(pending))
	require.NoError(w.t, err)
	w.mu.Lock()
	defer w.mu.Unlock()
	v := NewView(snap)
	for _, fn := range pending[snap.ID] {
		require.NoError(w.t, fn(v))
	}
	w.views[snap.ID] = v
	return snap.ID
}

// expected computes the subscription's window from fresh queries of every
// loaded space it covers.
func (w *world) expected(req Request) (ids []string, details map[string]spaceindex.Details, total int) {
	c, err := spaceindex.Compile(req.Query, w.cfg)
	require.NoError(w.t, err)
	type rs struct {
		space string
		rec   spaceindex.Record
	}
	var all []rs
	for space, h := range w.open {
		if len(req.Spaces) > 0 && !slices.Contains(req.Spaces, space) {
			continue
		}
		q := req.Query
		q.Limit, q.Offset, q.Keys = 0, 0, nil
		res, err := h.Query(context.Background(), q)
		require.NoError(w.t, err)
		for _, r := range res.Records {
			all = append(all, rs{space, r})
		}
	}
	slices.SortFunc(all, func(a, b rs) int {
		if r := c.Compare(&a.rec, &b.rec); r != 0 {
			return r
		}
		return strings.Compare(a.space, b.space)
	})
	lo := min(req.Query.Offset, len(all))
	hi := len(all)
	if req.Query.Limit > 0 {
		hi = min(hi, lo+req.Query.Limit)
	}
	details = map[string]spaceindex.Details{}
	for _, r := range all[lo:hi] {
		ids = append(ids, r.rec.ID)
		details[r.rec.ID] = Project(req.Query.Keys, &r.rec)
	}
	return ids, details, len(all)
}

func (w *world) check(id string, req Request) {
	w.t.Helper()
	w.settle(id)
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Empty(w.t, w.errs)
	v := w.views[id]
	ids, details, total := w.expected(req)
	require.Equal(w.t, fmt.Sprint(ids), fmt.Sprint(v.Order), "window order")
	require.Equal(w.t, total, v.Total, "total")
	for _, id := range ids {
		require.Equal(w.t, fmt.Sprint(details[id]), fmt.Sprint(v.Details[id]), "details of %s", id)
	}
	require.Len(w.t, v.Details, len(ids), "details held only for the window")
}

func record(id string, typ string, n int, name string, hasN bool) spaceindex.Record {
	d := spaceindex.Details{spaceindex.KeyType: spaceindex.String(typ), spaceindex.KeyName: spaceindex.String(name)}
	if hasN {
		d["n"] = spaceindex.Number(float64(n))
	}
	return spaceindex.Record{ID: id, Details: d, HeadsHash: []byte("h")}
}

// TestPropertyViewEqualsFreshQuery: after any sequence of writes, deletes,
// status changes, unloads and loads, every subscription's view equals a
// fresh query with the same parameters.
func TestPropertyViewEqualsFreshQuery(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(rt, t.TempDir())
		defer w.close()
		// A small margin makes windows cut their held matches and re-read.
		w.svc.margin = rapid.IntRange(0, 3).Draw(rt, "margin")
		spaces := []string{"s1", "s2"}
		for _, s := range spaces {
			w.load(s)
		}
		var reqs []Request
		var ids []string
		for i := range rapid.IntRange(1, 3).Draw(rt, "subs") {
			q := spaceindex.Query{}
			switch rapid.IntRange(0, 3).Draw(rt, fmt.Sprint("filter", i)) {
			case 1:
				q.Filter = spaceindex.Gte("n", spaceindex.Number(float64(rapid.IntRange(0, 9).Draw(rt, "gte"))))
			case 2:
				q.Filter = spaceindex.Eq(spaceindex.KeyType, spaceindex.String("a"))
			case 3:
				q.Filter = spaceindex.Eq(spaceindex.KeySyncStatus, spaceindex.Number(float64(spaceindex.SyncSynced)))
			}
			if rapid.Bool().Draw(rt, "sorted") {
				q.Sorts = []spaceindex.Sort{{Key: "n", Desc: rapid.Bool().Draw(rt, "desc")}}
			}
			q.Limit = rapid.IntRange(0, 6).Draw(rt, "limit")
			q.Offset = rapid.IntRange(0, 3).Draw(rt, "offset")
			if rapid.Bool().Draw(rt, "keys") {
				q.Keys = []string{"n", KeySyncStatus}
			}
			req := Request{Query: q}
			if rapid.Bool().Draw(rt, "one space") {
				req.Spaces = []string{"s1"}
			}
			reqs = append(reqs, req)
			ids = append(ids, w.subscribe(req))
		}
		ctx := context.Background()
		for range rapid.IntRange(1, 60).Draw(rt, "steps") {
			space := rapid.SampledFrom(spaces).Draw(rt, "space")
			// Object ids are unique across spaces (a root change names its space).
			id := fmt.Sprintf("%s-o%d", space, rapid.IntRange(0, 11).Draw(rt, "id"))
			h := w.open[space]
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3:
				rec := record(id, rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "type"),
					rapid.IntRange(0, 9).Draw(rt, "n"), rapid.StringMatching(`[a-c]{0,2}`).Draw(rt, "name"), rapid.IntRange(0, 4).Draw(rt, "hasN") > 0)
				if h != nil {
					require.NoError(rt, h.Put(ctx, rec))
				}
			case 4:
				// A batch of several records in one write.
				if h != nil {
					recs := []spaceindex.Record{record(id, "a", 1, "x", true), record(space+"-o9", "b", rapid.IntRange(0, 9).Draw(rt, "n9"), "y", true)}
					require.NoError(rt, h.Put(ctx, recs...))
				}
			case 5, 6:
				if h != nil {
					require.NoError(rt, h.Delete(ctx, id))
				}
			case 7:
				if h != nil {
					st := spaceindex.SyncStatus{State: rapid.SampledFrom([]spaceindex.SyncState{spaceindex.SyncSynced, spaceindex.SyncSyncing, spaceindex.SyncQueued}).Draw(rt, "st")}
					_ = h.SetSyncStatus(ctx, id, st) // ErrNotFound for an absent record is fine
				}
			case 8:
				if h != nil {
					w.unload(space)
				}
			case 9:
				if h == nil {
					w.load(space)
				}
			}
			for i, id := range ids {
				w.check(id, reqs[i])
				w.checkHeld(id)
			}
		}
	})
}

// settle waits until the subscription has no re-read in flight: a write
// returns once its batch was applied, but a batch that left too few
// matches held for the window is followed by a re-read of the space on
// the service's goroutine (and its messages).
func (w *world) settle(id string) {
	w.svc.mu.Lock()
	sb := w.svc.subs[id]
	w.svc.mu.Unlock()
	if sb == nil {
		return
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for sb.reading > 0 {
		sb.settled.Wait()
	}
}

// checkHeld fails when a subscription with a limit holds more of a space's
// matches than its window needs plus twice its margin, or fewer than the
// window needs while more exist.
func (w *world) checkHeld(id string) {
	w.settle(id)
	w.svc.mu.Lock()
	sb := w.svc.subs[id]
	w.svc.mu.Unlock()
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.q.Limit <= 0 {
		return
	}
	for space, cv := range sb.spaces {
		require.LessOrEqual(w.t, len(cv.order), sb.held()+sb.margin, "matches held of %s", space)
		require.GreaterOrEqual(w.t, len(cv.order), min(cv.total, sb.q.Offset+sb.q.Limit), "matches held of %s", space)
	}
}

// TestWindowedSubscriptionHoldsWindowPlusMargin: a subscription with a
// limit over a large space holds its window plus the margin, not every
// match, and stays equal to a fresh query while writes push records in
// and out of the window and removals use up what it held (it re-reads).
func TestWindowedSubscriptionHoldsWindowPlusMargin(t *testing.T) {
	w := newWorld(t, t.TempDir())
	defer w.close()
	w.load("s1")
	ctx := context.Background()
	h := w.open["s1"]
	var recs []spaceindex.Record
	for i := range 600 {
		recs = append(recs, record(fmt.Sprintf("o%03d", i), "a", i, "x", true))
	}
	require.NoError(t, h.Put(ctx, recs...))
	req := Request{Query: spaceindex.Query{Sorts: []spaceindex.Sort{{Key: "n"}}, Limit: 10, Offset: 5}}
	id := w.subscribe(req)
	w.check(id, req)
	held := func() int {
		w.svc.mu.Lock()
		sb := w.svc.subs[id]
		w.svc.mu.Unlock()
		sb.mu.Lock()
		defer sb.mu.Unlock()
		return len(sb.entries)
	}
	require.Equal(t, 5+10+defaultMargin, held(), "the window and the margin, not 600 matches")
	// New records at the front push held ones out; the held prefix is cut.
	for i := range 80 {
		require.NoError(t, h.Put(ctx, record(fmt.Sprintf("new%03d", i), "a", -1-i, "x", true)))
	}
	w.check(id, req)
	require.LessOrEqual(t, held(), 5+10+2*defaultMargin)
	// Removing the front, one write at a time, uses up the held matches
	// and makes the subscription read the space again.
	for i := range 80 {
		require.NoError(t, h.Delete(ctx, fmt.Sprintf("new%03d", i)))
	}
	for i := range 100 {
		require.NoError(t, h.Delete(ctx, fmt.Sprintf("o%03d", i)))
		if i%10 == 0 {
			w.check(id, req)
		}
	}
	w.check(id, req)
	require.LessOrEqual(t, held(), 5+10+2*defaultMargin)
	require.GreaterOrEqual(t, held(), 5+10)
}

// TestChangesRacingTheSnapshotAreNotLost: writers keep writing while
// subscriptions start; once they stop, every view equals a fresh query.
func TestChangesRacingTheSnapshotAreNotLost(t *testing.T) {
	w := newWorld(t, t.TempDir())
	defer w.close()
	w.load("s1")
	w.load("s2")
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g, space := range []string{"s1", "s2", "s1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := w.open[space]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("g%d-%d", g, i%50)
				if i%7 == 3 {
					_ = h.Delete(ctx, id)
					continue
				}
				_ = h.Put(ctx, record(id, "a", i%10, "x", true))
			}
		}()
	}
	req := Request{Query: spaceindex.Query{Sorts: []spaceindex.Sort{{Key: "n"}}, Limit: 20, Offset: 3}}
	var subs []string
	for range 20 {
		subs = append(subs, w.subscribe(req))
	}
	close(stop)
	wg.Wait()
	for _, id := range subs {
		w.check(id, req)
	}
}

// TestUnloadRemovesRecordsWithExplicitEvent: an unloading space's records
// leave a cross-space subscription after a SpaceRemoved message; loading it
// again brings them back.
func TestUnloadRemovesRecordsWithExplicitEvent(t *testing.T) {
	w := newWorld(t, t.TempDir())
	defer w.close()
	w.load("s1")
	w.load("s2")
	ctx := context.Background()
	require.NoError(t, w.open["s1"].Put(ctx, record("a1", "a", 1, "x", true), record("a2", "a", 2, "x", true)))
	require.NoError(t, w.open["s2"].Put(ctx, record("b1", "a", 3, "x", true)))

	var got []Message
	var mu sync.Mutex
	snap, err := w.svc.Subscribe(ctx, Request{Query: spaceindex.Query{Sorts: []spaceindex.Sort{{Key: "n"}}}},
		func(_ string, _ uint64, msgs []Message) {
			mu.Lock()
			got = append(got, msgs...)
			mu.Unlock()
		})
	require.NoError(t, err)
	require.Len(t, snap.Items, 3)
	require.Equal(t, []string{"s1", "s2"}, snap.Spaces)

	w.unload("s1")
	mu.Lock()
	require.Equal(t, SpaceRemoved, got[0].Kind)
	require.Equal(t, "s1", got[0].Space)
	var removed []string
	for _, m := range got[1:] {
		if m.Kind == Remove {
			removed = append(removed, m.ID)
		}
	}
	require.ElementsMatch(t, []string{"a1", "a2"}, removed)
	require.Equal(t, Counters, got[len(got)-1].Kind)
	require.Equal(t, 1, got[len(got)-1].Total)
	got = nil
	mu.Unlock()

	// Writes to the unloaded space's index cannot happen (it is closed);
	// loading it again adds its records back.
	w.load("s1")
	mu.Lock()
	var added []string
	for _, m := range got {
		if m.Kind == Add {
			added = append(added, m.ID)
		}
	}
	mu.Unlock()
	require.ElementsMatch(t, []string{"a1", "a2"}, added)
}

func TestSubscribeErrors(t *testing.T) {
	w := newWorld(t, t.TempDir())
	defer w.close()
	w.load("s1")
	ctx := context.Background()
	nop := func(string, uint64, []Message) {}
	_, err := w.svc.Subscribe(ctx, Request{Spaces: []string{"nope"}}, nop)
	require.ErrorContains(t, err, "is loaded")
	_, err = w.svc.Subscribe(ctx, Request{Query: spaceindex.Query{Limit: -1}}, nop)
	require.Error(t, err)
	_, err = w.svc.Subscribe(ctx, Request{ID: "x"}, nop)
	require.NoError(t, err)
	_, err = w.svc.Subscribe(ctx, Request{ID: "x"}, nop)
	require.ErrorContains(t, err, "exists")
	require.True(t, w.svc.Unsubscribe("x"))
	require.False(t, w.svc.Unsubscribe("x"))
	require.Equal(t, 0, w.svc.Count())
}

func TestLisMembers(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want int
	}{
		{nil, 0}, {[]int{0}, 1}, {[]int{0, 1, 2}, 3}, {[]int{2, 1, 0}, 1}, {[]int{3, 0, 1, 4, 2}, 3},
	} {
		in := lisMembers(tc.in)
		n, last := 0, -1
		for i, ok := range in {
			if ok {
				require.Greater(t, tc.in[i], last)
				last = tc.in[i]
				n++
			}
		}
		require.Equal(t, tc.want, n, "%v", tc.in)
	}
}
