package node_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// bigChange is a change of o whose value is size bytes.
func (o *object) bigChange(author device, size int) []byte {
	o.s.t.Helper()
	raw, err := objtree.Builder{Space: o.s.id, Author: author.account}.Change(o.id, o.heads, o.s.state.Head(), o.s.readKey,
		[]*syncpb.Op{objtree.Set("body", objtree.String(strings.Repeat("x", size)))}, o.s.now())
	require.NoError(o.s.t, err)
	c, err := objtree.Verify(raw)
	require.NoError(o.s.t, err)
	o.heads = []crypto.ChangeID{c.ID}
	return raw
}

// bigObject pushes an object of about mib MiB (a root and changes of ~900 KB)
// and returns it with its changes in order.
func bigObject(t testing.TB, s *tspace, c *syncclient.Client, a device, mib int) (*object, [][]byte) {
	o, root := s.newObject(a)
	all := [][]byte{root}
	_, err := c.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	for range mib * 10 / 9 {
		raw := o.bigChange(a, 900<<10)
		all = append(all, raw)
		_, err := c.HeadUpdate(bg, o.update(raw))
		require.NoError(t, err)
	}
	return o, all
}

func changeID(t testing.TB, raw []byte) string {
	c, err := objtree.Verify(raw)
	require.NoError(t, err)
	return string(c.ID)
}

// Fetch answers a big object in pages under the message size, each taking up
// where the device's heads are; FetchObjects streams several objects in
// request order, a big one over several pages, and answers an unknown object
// with nothing (issue 16.3).
func TestFetchPagesAndStreams(t *testing.T) {
	e := memNode(t)
	a := newAccount(t)
	ac := e.dial(a)
	s := createSpace(t, ac, a)
	big, bigChanges := bigObject(t, s, ac, a, 10)
	small, smallRoot := s.newObject(a)
	_, err := ac.HeadUpdate(bg, small.update(smallRoot))
	require.NoError(t, err)
	second := small.change(a, "k")
	_, err = ac.HeadUpdate(bg, small.update(second))
	require.NoError(t, err)

	// Unary pages: fetch again from the last change got until not truncated.
	var got [][]byte
	var have []string
	pages := 0
	for {
		resp, err := ac.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(big.id), HaveHeads: have})
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, resp.Size(), protocol.MaxMessageSize)
		require.NotEmpty(t, resp.Changes, "every page carries something")
		got = append(got, resp.Changes...)
		have = []string{changeID(t, got[len(got)-1])}
		if !resp.Truncated {
			require.Equal(t, headStrings(big.heads), resp.Heads)
			break
		}
	}
	require.Equal(t, bigChanges, got, "every change once, in order")
	require.GreaterOrEqual(t, pages, 3, "10 MiB takes three pages of 4 MiB")

	// Want: the wanted change and its ancestors only.
	resp, err := ac.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(big.id), Want: []string{changeID(t, bigChanges[2])}})
	require.NoError(t, err)
	require.Equal(t, bigChanges[:3], resp.Changes)

	// A stream of four objects.
	unknown := crypto.ObjectID(crypto.Sum([]byte("nobody made me")))
	req := &syncpb.FetchObjectsRequest{SpaceId: string(s.id), Objects: []*syncpb.FetchObject{
		{ObjectId: string(small.id)},
		{ObjectId: string(big.id), HaveHeads: []string{changeID(t, bigChanges[0])}},
		{ObjectId: string(unknown)},
		{ObjectId: string(small.id), HaveHeads: headStrings(small.heads)},
	}}
	var answers []*syncpb.FetchResponse
	require.NoError(t, ac.FetchObjects(bg, req, func(r *syncpb.FetchResponse) error {
		answers = append(answers, r)
		return nil
	}))
	require.Equal(t, string(small.id), answers[0].ObjectId)
	require.Equal(t, [][]byte{smallRoot, second}, answers[0].Changes)
	require.False(t, answers[0].Truncated)
	var streamed [][]byte
	i := 1
	for ; answers[i].ObjectId == string(big.id); i++ {
		streamed = append(streamed, answers[i].Changes...)
		if !answers[i].Truncated {
			i++
			break
		}
	}
	require.Greater(t, i, 3, "the big object came over several pages")
	require.Equal(t, bigChanges[1:], streamed, "what the device lacked, in order")
	require.Equal(t, string(unknown), answers[i].ObjectId)
	require.Empty(t, answers[i].Heads)
	require.Empty(t, answers[i].Changes)
	require.Equal(t, string(small.id), answers[i+1].ObjectId)
	require.Empty(t, answers[i+1].Changes, "the device has it all")
	require.Equal(t, headStrings(small.heads), answers[i+1].Heads)
	require.Len(t, answers, i+2)

	// Bad requests are refused, not served in part.
	tooMany := &syncpb.FetchObjectsRequest{SpaceId: string(s.id)}
	for range protocol.MaxFetchObjects + 1 {
		tooMany.Objects = append(tooMany.Objects, &syncpb.FetchObject{ObjectId: string(small.id)})
	}
	require.Error(t, ac.FetchObjects(bg, tooMany, func(*syncpb.FetchResponse) error { return nil }))
	require.Error(t, ac.FetchObjects(bg, &syncpb.FetchObjectsRequest{SpaceId: string(s.id), Objects: []*syncpb.FetchObject{{ObjectId: "not an id"}}},
		func(*syncpb.FetchResponse) error { return nil }))
}

// A stranger's FetchObjects gets nothing of the space.
func TestFetchObjectsForMembersOnly(t *testing.T) {
	e := memNode(t)
	a, b, stranger := newAccount(t), newAccount(t), newAccount(t)
	ac, bc, sc := e.dial(a), e.dial(b), e.dial(stranger)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleReader)
	o, root := s.newObject(a)
	_, err := ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	req := &syncpb.FetchObjectsRequest{SpaceId: string(s.id), Objects: []*syncpb.FetchObject{{ObjectId: string(o.id)}}}
	n := 0
	require.NoError(t, bc.FetchObjects(bg, req, func(*syncpb.FetchResponse) error { n++; return nil }), "a reader may fetch")
	require.Equal(t, 1, n)
	err = sc.FetchObjects(bg, req, func(*syncpb.FetchResponse) error {
		t.Error("a stranger got an answer")
		return nil
	})
	require.Error(t, err)
}

// heapInUse is the Go heap's bytes in use.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkFetchHeap8x36MB: eight devices fetch a 36 MB object at once, each
// page by page, as in issue 16.3 (where the node grew from 42 MB to 914 MB).
// Reports the peak growth of the heap over the start (the node and the eight
// clients share this process: the clients hold one page each), and the
// fetch's wall time.
func BenchmarkFetchHeap8x36MB(b *testing.B) {
	e := memNode(b)
	a := newAccount(b)
	ac := e.dial(a)
	s := createSpace(b, ac, a)
	big, _ := bigObject(b, s, ac, a, 36)
	clients := make([]*syncclient.Client, 8)
	for i := range clients {
		clients[i] = e.dial(a)
	}
	for range b.N {
		runtime.GC()
		base := heapInUse()
		var peak uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					peak = max(peak, heapInUse())
				}
			}
		}()
		began := time.Now()
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() {
				n := 0
				err := c.FetchObjects(context.Background(), &syncpb.FetchObjectsRequest{SpaceId: string(s.id),
					Objects: []*syncpb.FetchObject{{ObjectId: string(big.id)}}}, func(r *syncpb.FetchResponse) error {
					n += len(r.Changes)
					return nil
				})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		took := time.Since(began)
		close(stop)
		<-sampled
		b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-growth-MiB")
		b.ReportMetric(took.Seconds(), "s/8-fetches")
	}
}
