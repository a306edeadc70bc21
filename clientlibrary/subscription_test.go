package clientlibrary

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
)

type wire interface {
	Unmarshal([]byte) error
	GetError() *pb.Rpc_Error
}

// run runs a command in-process and requires success.
func run(t testing.TB, lib *Library, method string, req interface{ Marshal() ([]byte, error) }, resp wire) {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	require.NoError(t, resp.Unmarshal(lib.Command(method, b)))
	require.Nil(t, resp.GetError(), "%s: %v", method, resp.GetError())
}

func accountAndSpace(t testing.TB, lib *Library) string {
	run(t, lib, "AccountCreate", &pb.Rpc_Account_Create_Request{Name: "Ada"}, &pb.Rpc_Account_Create_Response{})
	var sp pb.Rpc_Space_Create_Response
	run(t, lib, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: "notes"}, &sp)
	return sp.SpaceId
}

func strValue(s string) *pb.Model_Value {
	return &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: s}}
}
func numValue(f float64) *pb.Model_Value {
	return &pb.Model_Value{Kind: &pb.Model_Value_Number{Number: f}}
}

// events collects the events the in-process handler receives.
type events struct {
	mu  sync.Mutex
	got []*pb.Event
}

func (e *events) handle(b []byte) {
	var ev pb.Event
	if ev.Unmarshal(b) != nil {
		return
	}
	e.mu.Lock()
	e.got = append(e.got, &ev)
	e.mu.Unlock()
}

func (e *events) waitFor(t *testing.T, what string, pred func(*pb.Event_Message) bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, ev := range e.got {
			if slices.ContainsFunc(ev.Messages, pred) {
				return true
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, what)
}

// TestSubscribeInProcess: subscriptions need a session (the in-process
// handler's); a write reaches the handler as an add with its details; the
// subscription ends with its session.
func TestSubscribeInProcess(t *testing.T) {
	lib := newLibrary(t)
	sp := accountAndSpace(t, lib)

	b, _ := (&pb.Rpc_Object_Subscribe_Request{SpaceIds: []string{sp}}).Marshal()
	var refused pb.Rpc_Object_Subscribe_Response
	require.NoError(t, refused.Unmarshal(lib.Command("ObjectSubscribe", b)))
	require.Equal(t, pb.Rpc_Error_FAILED_PRECONDITION, refused.Error.GetCode(), "no session without an event handler")

	var evs events
	lib.SetEventHandler(evs.handle)
	var sub pb.Rpc_Object_Subscribe_Response
	run(t, lib, "ObjectSubscribe", &pb.Rpc_Object_Subscribe_Request{SpaceIds: []string{sp},
		Sorts: []*pb.Model_Sort{{Key: "n"}}, Keys: []string{"name", "n"}}, &sub)
	require.Empty(t, sub.Objects)
	require.Equal(t, []string{sp}, sub.SpaceIds)

	var created pb.Rpc_Object_Create_Response
	run(t, lib, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: sp, Type: "note",
		Details: map[string]*pb.Model_Value{"name": strValue("hello"), "n": numValue(2), "other": strValue("not requested")}}, &created)
	evs.waitFor(t, "details of the new object", func(m *pb.Event_Message) bool {
		d := m.GetObjectDetailsSet()
		return d != nil && d.Id == created.ObjectId && d.SubId == sub.SubId &&
			d.Details["name"].GetString_() == "hello" && d.Details["other"] == nil
	})
	evs.waitFor(t, "the add", func(m *pb.Event_Message) bool {
		a := m.GetSubscriptionAdd()
		return a != nil && a.Id == created.ObjectId && a.AfterId == ""
	})

	// Ending the in-process session (the library closing) ends it; a gRPC
	// session's subscriptions end with the session.
	s := lib.NewSession("test")
	ctx := WithCaller(context.Background(), Caller{Session: s})
	resp, err := lib.Invoke(ctx, "ObjectSubscribe", &pb.Rpc_Object_Subscribe_Request{})
	require.NoError(t, err)
	id := resp.(*pb.Rpc_Object_Subscribe_Response).SubId
	require.NotEmpty(t, id)
	require.True(t, lib.hub.Close(s.Token()))
	require.False(t, lib.app.Unsubscribe(id), "the session's subscription ended with it")
}

// BenchmarkSubscriptionFanout: 1,000 changes/s into one space followed by
// 50 live subscriptions (half a top-20 by a number, half the 50 latest
// modified — every change moves an object in those); reports the latency
// from the start of a write to its event reaching the in-process event
// handler (decoded), as percentiles over every subscription's event.
func BenchmarkSubscriptionFanout(b *testing.B) {
	lib, err := New(Config{Core: coreConfig(b.TempDir())})
	require.NoError(b, err)
	defer lib.Close()
	sp := accountAndSpace(b, lib)

	const objects = 200
	ids := make([]string, objects)
	for i := range ids {
		var c pb.Rpc_Object_Create_Response
		run(b, lib, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: sp, Type: "note",
			Details: map[string]*pb.Model_Value{"name": strValue(fmt.Sprint("note ", i)), "n": numValue(float64(i)), "t": numValue(0)}}, &c)
		ids[i] = c.ObjectId
	}

	var mu sync.Mutex
	var lat []time.Duration
	events := 0
	lib.SetEventHandler(func(raw []byte) {
		now := time.Now()
		var ev pb.Event
		if ev.Unmarshal(raw) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Messages {
			events++
			if d := m.GetObjectDetailsAmend(); d != nil {
				if t := d.Details["t"].GetNumber(); t > 0 {
					lat = append(lat, now.Sub(time.Unix(0, int64(t*1e3))))
				}
			}
		}
	})
	for i := range 50 {
		req := &pb.Rpc_Object_Subscribe_Request{SpaceIds: []string{sp}, Sorts: []*pb.Model_Sort{{Key: "n"}}, Limit: 20}
		if i%2 == 1 {
			req = &pb.Rpc_Object_Subscribe_Request{SpaceIds: []string{sp},
				Filters: []*pb.Model_Filter{{Key: "type", Condition: pb.Model_Filter_EQ, Value: strValue("note")}},
				Sorts:   []*pb.Model_Sort{{Key: "modified", Desc: true}}, Limit: 50}
		}
		run(b, lib, "ObjectSubscribe", req, &pb.Rpc_Object_Subscribe_Response{})
	}

	b.ResetTimer()
	start := time.Now()
	// Four writers at 250 changes/s each (an app's UI, imports and sync
	// write concurrently; the space commits their changes in groups).
	const writers = 4
	var changes atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(writers * time.Millisecond)
			defer tick.Stop()
			for i := range b.N * 1000 / writers { // one second of changes per b.N
				<-tick.C
				// Microseconds: exact in a float64 detail value.
				t := float64(time.Now().UnixNano() / 1e3)
				run(b, lib, "ObjectSet", &pb.Rpc_Object_Set_Request{SpaceId: sp, ObjectId: ids[(i*writers+w)%objects],
					Details: map[string]*pb.Model_Value{"t": numValue(t)}}, &pb.Rpc_Object_Set_Response{})
				changes.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.Eventually(b, func() bool { // the last events drain
		mu.Lock()
		defer mu.Unlock()
		return len(lat) > 0 && time.Since(start) > elapsed+200*time.Millisecond
	}, 30*time.Second, 50*time.Millisecond)
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1e3, "max-ms")
	b.ReportMetric(float64(changes.Load())/elapsed.Seconds(), "changes/s")
	b.ReportMetric(float64(events)/elapsed.Seconds(), "messages/s")
}

func coreConfig(dir string) core.Config { return core.Config{DataDir: dir} }

// TestInProcessLagEndsTheSessionAndANewHandlerResumes: an in-process
// handler that falls MaxQueuedEvents behind loses its session (and with it
// its subscriptions); SetEventHandler then starts a new one.
func TestInProcessLagEndsTheSessionAndANewHandlerResumes(t *testing.T) {
	lib := newLibrary(t)
	release := make(chan struct{})
	var first sync.Once
	lib.SetEventHandler(func([]byte) { first.Do(func() { <-release }) })
	for range MaxQueuedEvents + 2 {
		lib.hub.Send(&pb.Event{ContextId: "flood"})
	}
	close(release)
	require.Eventually(t, func() bool {
		lib.evMu.Lock()
		defer lib.evMu.Unlock()
		return lib.evSession == nil
	}, 30*time.Second, 5*time.Millisecond, "the lagged session ends")

	got := make(chan string, 1)
	lib.SetEventHandler(func(b []byte) {
		var ev pb.Event
		if ev.Unmarshal(b) == nil && ev.ContextId == "after" {
			got <- ev.ContextId
		}
	})
	lib.hub.Send(&pb.Event{ContextId: "after"})
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the new handler got nothing")
	}
}
