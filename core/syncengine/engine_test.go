package syncengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
)

// fakeLocal is a space with an ACL at seq and the objects of set; it counts
// what the engine asks of it.
type fakeLocal struct {
	mu        sync.Mutex
	seq       uint64
	set       *diff.Set
	summaries atomic.Int32
	verified  map[*space.Verified][]space.RemoteObject // verified, not applied yet: by the first of VerifyRemote's answer
}

func (f *fakeLocal) ID() crypto.SpaceID { return "space" }
func (f *fakeLocal) PendingRegistration(context.Context) (space.Registration, bool, error) {
	return space.Registration{}, false, nil
}
func (f *fakeLocal) AcceptRegistration(context.Context, []byte) error { return nil }
func (f *fakeLocal) AclSeq(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq, nil
}
func (f *fakeLocal) ApplyAcl(_ context.Context, records [][]byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq += uint64(len(records))
	return len(records), nil
}
func (f *fakeLocal) SyncBlocked() error                                        { return nil }
func (f *fakeLocal) PendingObjects(context.Context) ([]crypto.ObjectID, error) { return nil, nil }
func (f *fakeLocal) Outgoing(context.Context, crypto.ObjectID) ([]*syncpb.HeadUpdate, error) {
	return nil, nil
}
func (f *fakeLocal) Acknowledged(context.Context, crypto.ObjectID, []string) (bool, error) {
	return false, nil
}
func (f *fakeLocal) Rejected(context.Context, crypto.ObjectID, string) error { return nil }
func (f *fakeLocal) ApplyRemote(_ context.Context, id crypto.ObjectID, _ [][]byte, heads []string) ([]crypto.ChangeID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set.Put(diff.Element{ID: string(id), HeadsHash: headsOf(heads)})
	return nil, nil
}

// VerifyRemote keeps the objects (space.Verified cannot be made outside
// the space) under the address of its answer's first element, which
// ApplyVerified is given back: downloads verify on several goroutines.
func (f *fakeLocal) VerifyRemote(objs []space.RemoteObject) ([]space.Verified, error) {
	out := make([]space.Verified, len(objs))
	if len(objs) == 0 {
		return out, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.verified == nil {
		f.verified = map[*space.Verified][]space.RemoteObject{}
	}
	f.verified[&out[0]] = slices.Clone(objs)
	return out, nil
}
func (f *fakeLocal) ApplyVerified(ctx context.Context, vs []space.Verified) ([][]crypto.ChangeID, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	objs, ok := f.verified[&vs[0]]
	delete(f.verified, &vs[0])
	f.mu.Unlock()
	if !ok || len(objs) != len(vs) {
		return nil, errors.New("fakeLocal: ApplyVerified of objects VerifyRemote did not answer")
	}
	missing := make([][]crypto.ChangeID, len(objs))
	for i, o := range objs {
		var err error
		if missing[i], err = f.ApplyRemote(ctx, o.ID, o.Raws, o.NodeHeads); err != nil {
			return missing, err
		}
	}
	return missing, nil
}
func (f *fakeLocal) Digest(context.Context) (diff.Digest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set.Digest(), nil
}
func (f *fakeLocal) Summary(context.Context) (*diff.Set, error) {
	f.summaries.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var els []diff.Element
	for _, r := range mustRanges(f.set) {
		els = append(els, r.Elements...)
	}
	return diff.NewSet(els), nil
}
func (f *fakeLocal) Heads(context.Context, crypto.ObjectID) ([]string, error) { return nil, nil }

func mustRanges(s *diff.Set) []diff.RangeResult {
	res, err := s.Ranges([]diff.Range{diff.Full(1 << 20)})
	if err != nil {
		panic(err)
	}
	return res
}

func headsOf(heads []string) string {
	if len(heads) == 0 {
		return ""
	}
	return heads[0]
}

// fakeNode is a node holding an ACL at seq and the objects of set; it counts
// calls and can fail AclLog.
type fakeNode struct {
	mu       sync.Mutex
	seq      uint64
	set      *diff.Set
	aclFails bool
	aclLogs  atomic.Int32
	syncs    atomic.Int32
	fetches  atomic.Int32
}

func (n *fakeNode) SpacePush(context.Context, *syncpb.SpacePush) (*syncpb.AclAddResponse, error) {
	return nil, errors.New("unused")
}
func (n *fakeNode) AclLog(_ context.Context, req *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error) {
	n.aclLogs.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.aclFails {
		return nil, errors.New("the node is having a bad day")
	}
	resp := &syncpb.AclLogResponse{Status: &syncpb.SpaceStatus{SpaceId: req.SpaceId, AclSeq: n.seq}}
	for s := req.AfterSeq; s < n.seq; s++ {
		resp.Records = append(resp.Records, []byte("record"))
	}
	return resp, nil
}
func (n *fakeNode) HeadUpdate(context.Context, *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	return nil, errors.New("unused")
}
func (n *fakeNode) Fetch(_ context.Context, req *syncpb.FetchRequest) (*syncpb.FetchResponse, error) {
	n.fetches.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	e, _ := n.set.Get(req.ObjectId)
	return &syncpb.FetchResponse{Heads: []string{e.HeadsHash}}, nil
}
func (n *fakeNode) FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	for _, o := range req.Objects {
		resp, err := n.Fetch(ctx, &syncpb.FetchRequest{SpaceId: req.SpaceId, ObjectId: o.ObjectId, HaveHeads: o.HaveHeads})
		if err != nil {
			return err
		}
		resp.ObjectId = o.ObjectId
		if err := fn(resp); err != nil {
			return err
		}
	}
	return nil
}
func (n *fakeNode) HeadSync(_ context.Context, req *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	n.syncs.Add(1)
	ranges, err := diff.RangesFromPB(req)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	res, err := n.set.Ranges(ranges)
	if err != nil {
		return nil, err
	}
	return diff.ResponseToPB(res), nil
}

func newFakes(objects ...string) (*fakeLocal, *fakeNode) {
	var els []diff.Element
	for _, o := range objects {
		els = append(els, diff.Element{ID: o, HeadsHash: "h-" + o})
	}
	return &fakeLocal{seq: 1, set: diff.NewSet(nil)}, &fakeNode{seq: 1, set: diff.NewSet(els)}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}

// A status whose ACL head is ours fetches nothing (the loop of round 1: each
// fetch's status asked for the next fetch); one ahead of ours fetches once.
func TestStatusAtOurACLHeadFetchesNothing(t *testing.T) {
	local, node := newFakes()
	var statuses atomic.Int32
	var e *Engine
	e = NewEngine(local, Config{HeadSyncEvery: time.Hour, Events: Events{
		// The lifecycle's answer to a status, as core wires it.
		Status: func(st *syncpb.SpaceStatus) { statuses.Add(1); e.AclHeadAt(st.AclSeq) },
	}})
	defer e.Close()
	e.SetRemote(node)
	eventually(t, "the first cycle head-synced", func() bool { return node.syncs.Load() == 1 })
	eventually(t, "a space that just loaded follows its ACL once", func() bool { return statuses.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 1, node.aclLogs.Load(), "answering the status with a fetch would loop")

	for range 100 {
		e.AclHeadAt(1) // pushed statuses at our head
	}
	e.SetRemote(node) // and a reconnect: what is missing is found by comparing
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 1, node.aclLogs.Load())

	node.mu.Lock()
	node.seq = 2
	node.mu.Unlock()
	e.AclHeadAt(2)
	eventually(t, "a status ahead of ours fetches", func() bool { return node.aclLogs.Load() == 2 })
	eventually(t, "and reports the status it came with", func() bool { return statuses.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 2, node.aclLogs.Load(), "once")
	local.mu.Lock()
	assert.EqualValues(t, 2, local.seq)
	local.mu.Unlock()
}

// While a failing cycle backs off, nudges only record their need: a storm of
// pushes costs one retry per backoff step, not one call each.
func TestBackoffHoldsNudges(t *testing.T) {
	local, node := newFakes()
	node.aclFails = true
	var failed, synced atomic.Int32
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour, Events: Events{
		Failed: func(crypto.SpaceID, error) { failed.Add(1) },
		Synced: func(crypto.SpaceID) { synced.Add(1) },
	}})
	defer e.Close()
	e.SetRemote(node)
	e.AclChanged() // an ACL update push: the fetch fails
	eventually(t, "the first cycle failed", func() bool { return failed.Load() >= 1 })
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		e.AclChanged()
		e.LocalChanged()
		time.Sleep(time.Millisecond)
	}
	// Backoff starts at 125-250 ms and doubles: within 300 ms at most three
	// attempts in all, however many nudges.
	assert.LessOrEqual(t, node.aclLogs.Load(), int32(3), "nudges broke through the backoff")

	node.mu.Lock()
	node.aclFails = false
	node.mu.Unlock()
	e.SetRemote(node) // a new connection ends the backoff at once
	eventually(t, "the reconnect synced", func() bool { return synced.Load() >= 1 })
}

// An idle head sync is one round trip that reads no summary; a space behind
// the node reads it, fetches what differs and reports progress;
// WaitCaughtUp returns once a head sync that started after it completed.
func TestHeadSyncDigestAndWaitCaughtUp(t *testing.T) {
	local, node := newFakes()
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour})
	defer e.Close()
	e.SetRemote(node)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.WaitCaughtUp(ctx, nil))
	syncs := node.syncs.Load()
	require.NoError(t, e.WaitCaughtUp(ctx, nil))
	assert.Equal(t, syncs+1, node.syncs.Load(), "an idle head sync is one round trip")
	assert.Zero(t, local.summaries.Load(), "and reads no summary")

	node.mu.Lock()
	for _, o := range []string{"a", "b", "c"} {
		node.set.Put(diff.Element{ID: o, HeadsHash: "h-" + o})
	}
	node.mu.Unlock()
	var last [2]int
	var pmu sync.Mutex
	require.NoError(t, e.WaitCaughtUp(ctx, func(done, total int) {
		pmu.Lock()
		last = [2]int{done, total}
		pmu.Unlock()
	}))
	assert.EqualValues(t, 3, node.fetches.Load())
	assert.EqualValues(t, 1, local.summaries.Load())
	pmu.Lock()
	assert.Equal(t, [2]int{3, 3}, last, "progress reaches the total")
	pmu.Unlock()
	d, _ := local.Digest(ctx)
	node.mu.Lock()
	assert.Equal(t, node.set.Digest(), d, "the space holds what the node had")
	node.mu.Unlock()

	e.Close()
	assert.Error(t, e.WaitCaughtUp(ctx, nil), "a stopped engine cannot catch up")
}

// stallingNode answers FetchObjects with one object, then nothing until the
// call is cancelled.
type stallingNode struct{ *fakeNode }

func (n stallingNode) FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	if err := fn(&syncpb.FetchResponse{ObjectId: req.Objects[0].ObjectId, Heads: []string{"h"}}); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// failingLocal refuses to apply anything.
type failingLocal struct{ *fakeLocal }

var errApply = errors.New("the disk said no")

func (f failingLocal) ApplyVerified(context.Context, []space.Verified) ([][]crypto.ChangeID, error) {
	return nil, errApply
}

// TestFetchManyErrors: a stream that stops answering is cut after CallTimeout
// and said to have stalled; a batch the space cannot apply ends the download
// with that error, not with a stall, and the applier's goroutine is gone.
func TestFetchManyErrors(t *testing.T) {
	ids := []string{"a", "b", "c"}
	ctx := context.Background()

	local, node := newFakes()
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour, CallTimeout: 50 * time.Millisecond})
	defer e.Close()
	began := time.Now()
	err := e.fetchMany(ctx, stallingNode{node}, ids, func(int) {})
	require.ErrorContains(t, err, "stalled")
	assert.Less(t, time.Since(began), 5*time.Second)
	d, _ := local.Digest(ctx)
	assert.NotEqual(t, diff.NewSet(nil).Digest(), d, "what arrived before the stall is applied")

	local2, node2 := newFakes()
	e2 := NewEngine(failingLocal{local2}, Config{HeadSyncEvery: time.Hour, CallTimeout: time.Minute})
	defer e2.Close()
	node2.mu.Lock()
	for _, id := range ids {
		node2.set.Put(diff.Element{ID: id, HeadsHash: "h-" + id})
	}
	node2.mu.Unlock()
	err = e2.fetchMany(ctx, node2, ids, func(int) {})
	require.ErrorIs(t, err, errApply)
	assert.NotContains(t, err.Error(), "stalled")
}

// overlapNode answers FetchObjects like fakeNode, but holds its first stream
// open, once answered, until a second stream has begun: a download that asks
// for one batch at a time never gets there and fails.
type overlapNode struct {
	*fakeNode
	streams atomic.Int32
	second  chan struct{} // closed when the second stream begins
}

func (n *overlapNode) FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	k := n.streams.Add(1)
	if k == 2 {
		close(n.second)
	}
	if err := n.fakeNode.FetchObjects(ctx, req, fn); err != nil || k != 1 {
		return err
	}
	select {
	case <-n.second:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("no second stream began while the first was open")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestFetchManyOverlapsStreams: a download of several batches asks for the
// next while one is still streaming, applies every object, and reports
// progress that only grows, up to every object.
func TestFetchManyOverlapsStreams(t *testing.T) {
	n := 3*fetchBatch + 7
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("o%04d", i)
	}
	local, node := newFakes(ids...)
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour, CallTimeout: time.Minute})
	defer e.Close()
	var progress []int
	on := &overlapNode{fakeNode: node, second: make(chan struct{})}
	require.NoError(t, e.fetchMany(context.Background(), on, ids, func(done int) { progress = append(progress, done) }))
	assert.Equal(t, int32(4), on.streams.Load(), "one stream a batch")
	assert.True(t, slices.IsSorted(progress), "progress only grows: %v", progress)
	assert.Len(t, progress, 4, "once a batch")
	assert.Equal(t, n, progress[len(progress)-1], "every object done at the end")
	d, _ := local.Digest(context.Background())
	assert.Equal(t, node.set.Digest(), d, "the space holds every object the node had")
}

// pendingLocal has objects waiting for the node, one update each, and
// records which the node acknowledged.
type pendingLocal struct {
	*fakeLocal
	ids   []crypto.ObjectID
	amu   sync.Mutex
	acked map[crypto.ObjectID]bool
}

func (l *pendingLocal) PendingObjects(context.Context) ([]crypto.ObjectID, error) {
	l.amu.Lock()
	defer l.amu.Unlock()
	var out []crypto.ObjectID
	for _, id := range l.ids {
		if !l.acked[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (l *pendingLocal) Outgoing(_ context.Context, id crypto.ObjectID) ([]*syncpb.HeadUpdate, error) {
	return []*syncpb.HeadUpdate{{SpaceId: "space", ObjectId: string(id), Heads: []string{"h-" + string(id)}}}, nil
}

func (l *pendingLocal) Acknowledged(_ context.Context, id crypto.ObjectID, heads []string) (bool, error) {
	l.amu.Lock()
	defer l.amu.Unlock()
	l.acked[id] = slices.Equal(heads, []string{"h-" + string(id)})
	return false, nil
}

func (l *pendingLocal) ackedCount() int {
	l.amu.Lock()
	defer l.amu.Unlock()
	n := 0
	for _, ok := range l.acked {
		if ok {
			n++
		}
	}
	return n
}

// pushNode stores each HeadUpdate after a short wait, counting the calls and
// how many were in flight at once; it fails the object named fail.
type pushNode struct {
	*fakeNode
	fail                  string
	calls                 atomic.Int32
	inFlight, maxInFlight atomic.Int32
}

var errRefused = errors.New("the node fell over")

func (n *pushNode) HeadUpdate(ctx context.Context, hu *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	n.calls.Add(1)
	cur := n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	for m := n.maxInFlight.Load(); cur > m && !n.maxInFlight.CompareAndSwap(m, cur); m = n.maxInFlight.Load() {
	}
	if hu.ObjectId == n.fail {
		return nil, errRefused
	}
	select {
	case <-time.After(2 * time.Millisecond): // the node's durable write
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &syncpb.Ack{SpaceId: hu.SpaceId, ObjectId: hu.ObjectId, Heads: hu.Heads}, nil
}

// A backlog of pending objects is pushed several at a time, never more than
// pushWorkers; a failed push stops the rest and is the answer, and what it
// did not push stays pending for the next cycle. A short list goes one at a
// time.
func TestPushPendingInParallel(t *testing.T) {
	ctx := context.Background()
	pending := func(n int) (*pendingLocal, *pushNode) {
		fl, fn := newFakes()
		local := &pendingLocal{fakeLocal: fl, acked: map[crypto.ObjectID]bool{}}
		for i := range n {
			local.ids = append(local.ids, crypto.ObjectID(fmt.Sprintf("o-%04d", i)))
		}
		return local, &pushNode{fakeNode: fn}
	}
	const n = pushWorkers * pushPerWorker
	local, node := pending(n)
	node.fail = "o-0050"
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour, CallTimeout: time.Minute})
	defer e.Close()
	require.ErrorIs(t, e.pushPending(ctx, node), errRefused)
	assert.Less(t, local.ackedCount(), n)
	assert.LessOrEqual(t, int(node.calls.Load()), 51+pushWorkers, "a failure stops the pushes not started")
	assert.False(t, local.acked["o-0050"])

	node.fail = ""
	node.calls.Store(0)
	require.NoError(t, e.pushPending(ctx, node))
	assert.Equal(t, n, local.ackedCount(), "every object was acknowledged")
	assert.Less(t, int(node.calls.Load()), n, "the next cycle pushes only what is still pending")
	assert.Greater(t, node.maxInFlight.Load(), int32(1), "pushes overlap")
	assert.LessOrEqual(t, node.maxInFlight.Load(), int32(pushWorkers))

	local, node = pending(pushPerWorker)
	e2 := NewEngine(local, Config{HeadSyncEvery: time.Hour, CallTimeout: time.Minute})
	defer e2.Close()
	require.NoError(t, e2.pushPending(ctx, node))
	assert.Equal(t, pushPerWorker, local.ackedCount())
	assert.EqualValues(t, 1, node.maxInFlight.Load(), "a short list goes one at a time")
}

// earlyFetchNode answers like fakeNode, but from its third HeadSync call on
// it answers only once a FetchObjects stream has begun: a head sync that
// fetches nothing before its rounds are done fails here.
type earlyFetchNode struct {
	*fakeNode
	fetching chan struct{}
	once     sync.Once
}

func (n *earlyFetchNode) FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	n.once.Do(func() { close(n.fetching) })
	return n.fakeNode.FetchObjects(ctx, req, fn)
}

func (n *earlyFetchNode) HeadSync(ctx context.Context, req *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	if n.syncs.Load() >= 2 {
		select {
		case <-n.fetching:
		case <-time.After(10 * time.Second):
			return nil, errors.New("no fetch began while the head sync went on")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return n.fakeNode.HeadSync(ctx, req)
}

// TestHeadSyncFetchesWhileItCompares: a new device downloads what the first
// rounds found while later rounds go on; it ends with every object, and its
// progress counts what is done against a total that grows as rounds find
// more, both only growing.
func TestHeadSyncFetchesWhileItCompares(t *testing.T) {
	const n = 20_000 // five rounds for an empty device: the whole space, then bulk ranges 2, 4, 8 and 6 at a time
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("o%05d", i)
	}
	local, node := newFakes(ids...)
	en := &earlyFetchNode{fakeNode: node, fetching: make(chan struct{})}
	e := NewEngine(local, Config{HeadSyncEvery: time.Hour, CallTimeout: time.Minute})
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var pmu sync.Mutex
	var seen [][2]int
	// The waiter is in place before the engine goes online, so the round it
	// follows is the one that finds and fetches everything.
	waited := make(chan error, 1)
	go func() {
		waited <- e.WaitCaughtUp(ctx, func(done, total int) {
			pmu.Lock()
			seen = append(seen, [2]int{done, total})
			pmu.Unlock()
		})
	}()
	eventually(t, "the waiter is registered", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.waiters) == 1
	})
	e.SetRemote(en)
	require.NoError(t, <-waited)
	assert.GreaterOrEqual(t, node.syncs.Load(), int32(3), "the head sync took several rounds")
	d, _ := local.Digest(ctx)
	assert.Equal(t, node.set.Digest(), d, "the space holds every object the node had")
	pmu.Lock()
	defer pmu.Unlock()
	require.NotEmpty(t, seen)
	assert.Equal(t, [2]int{n, n}, seen[len(seen)-1], "progress reaches the total")
	for i := 1; i < len(seen); i++ {
		assert.True(t, seen[i][0] >= seen[i-1][0] && seen[i][1] >= seen[i-1][1], "progress only grows: %v then %v", seen[i-1], seen[i])
		assert.LessOrEqual(t, seen[i][0], seen[i][1], "never more done than found")
	}
	assert.Less(t, seen[0][1], n, "the first total is what the first rounds found, not all")
}
