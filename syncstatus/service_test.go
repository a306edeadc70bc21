package syncstatus

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Offloaded and never-loaded spaces emit nothing: not at session start, not
// on network changes, not on late observations; and an observation about
// one allocates nothing.
func TestUnloadedSpacesEmitNothing(t *testing.T) {
	var rec recorder
	s := New(Config{Sink: rec.sink})
	defer s.Close()
	for _, cmd := range []string{"load a", "load off", "conn on", "done off 5", "unload off", "remove a"} {
		apply(t, s, cmd)
	}
	apply(t, s, "load live")
	rec.take()

	var sess recorder
	ss := s.SessionStart(sess.sink)
	defer ss.Close()
	assert.Equal(t, []string{"live unknown objs=0 files=0 online"}, sess.take(), "the session greets loaded spaces only")

	for _, cmd := range []string{
		"pending off 1", "done off 9", "files never 2", "fail never rejected", "node never pendingDeletion",
		"pending a 1", "unload never", "remove off", "node off deleted", "node never notFound",
		"conn off", "conn on",
	} {
		apply(t, s, cmd)
	}
	want := []string{"live offline objs=0 files=0 offline", "live syncing objs=0 files=0 online"}
	assert.Equal(t, want, rec.take())
	assert.Equal(t, want, sess.take())
	for _, id := range []crypto.SpaceID{"a", "off", "never"} {
		_, ok := s.Get(id)
		assert.False(t, ok, id)
	}

	before := s.Stats()
	allocs := testing.AllocsPerRun(100, func() {
		s.Pending("off", 3)
		s.CycleDone("never", at(1))
		s.FilesPending("never", 1)
		s.CycleFailed("off", ReasonRejected, "")
		s.NodeStatus("never", NodePendingDeletion)
		s.Unloaded("never")
	})
	after := s.Stats()
	assert.Zero(t, allocs, "an observation about a space not loaded allocates nothing")
	assert.Equal(t, before.SpacesTouched, after.SpacesTouched, "and touches no space")
	assert.Equal(t, before.Events, after.Events, "and emits nothing")
	assert.Greater(t, after.Ignored, before.Ignored)
	assert.Empty(t, rec.take())
}

// Many unloads leave no cost behind: a network change touches the loaded
// spaces only.
func TestNetworkChangeTouchesLoadedOnly(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for i := range 1000 {
		id := crypto.SpaceID(fmt.Sprint("gone", i))
		s.Loaded(id)
		s.Unloaded(id)
	}
	s.Loaded("a")
	s.Loaded("b")
	before := s.Stats()
	s.Connected(true)
	s.Connected(false)
	after := s.Stats()
	assert.Equal(t, uint64(4), after.SpacesTouched-before.SpacesTouched)
	assert.Equal(t, uint64(4), after.Events-before.Events)
}

// A new session receives the status of every loaded space exactly once,
// then exactly the later changes, while updates race with session starts.
// Checked against the sink, which sees every change in the one order.
func TestSessionSnapshotExactlyOnceUnderRace(t *testing.T) {
	const (
		nSpaces   = 8
		nWriters  = 6
		nSessions = 40
		nWrites   = 300
	)
	var (
		gmu    sync.Mutex
		global = map[crypto.SpaceID][]Status{}
	)
	s := New(Config{Sink: func(st Status) {
		gmu.Lock()
		global[st.Space] = append(global[st.Space], st)
		gmu.Unlock()
	}})
	defer s.Close()
	ids := make([]crypto.SpaceID, nSpaces)
	for i := range ids {
		ids[i] = crypto.SpaceID(fmt.Sprint("s", i))
		s.Loaded(ids[i])
	}
	s.Connected(true)

	type sessionLog struct {
		mu  sync.Mutex
		got map[crypto.SpaceID][]Status
	}
	var (
		counter atomic.Int64 // unique counts: every status differs from every other
		wg      sync.WaitGroup
		logs    = make([]*sessionLog, nSessions)
		started = make(chan struct{})
	)
	for w := range nWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-started
			for i := range nWrites {
				id := ids[(w+i)%nSpaces]
				switch i % 5 {
				case 0, 1, 2:
					s.Pending(id, int(counter.Add(1)))
				case 3:
					s.FilesPending(id, int(counter.Add(1)))
				default:
					s.Pending(id, 0)
					s.FilesPending(id, 0)
					s.CycleDone(id, time.Unix(counter.Add(1), 0))
				}
			}
		}()
	}
	sessions := make([]*Session, nSessions)
	for i := range nSessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-started
			l := &sessionLog{got: map[crypto.SpaceID][]Status{}}
			logs[i] = l
			sessions[i] = s.SessionStart(func(st Status) {
				l.mu.Lock()
				l.got[st.Space] = append(l.got[st.Space], st)
				l.mu.Unlock()
			})
		}()
	}
	close(started)
	wg.Wait()
	s.Connected(false) // one last change after every session started: all must see it
	defer func() {
		for _, ss := range sessions {
			ss.Close()
		}
	}()

	gmu.Lock()
	defer gmu.Unlock()
	for i, l := range logs {
		l.mu.Lock()
		for _, id := range ids {
			got, all := l.got[id], global[id]
			require.NotEmpty(t, got, "session %d: no status of %s", i, id)
			// got[0] is the snapshot: the status as of some point p in the
			// global sequence; the rest must be exactly global[p:].
			p := -1
			for j := range all {
				if sameVisible(all[j], got[0]) && slices.EqualFunc(got[1:], all[j+1:], sameVisible) {
					p = j
					break
				}
			}
			require.NotEqual(t, -1, p, "session %d, space %s: %d statuses are not a snapshot followed by every later change (%d changes in all)", i, id, len(got), len(all))
			st, _ := s.Get(id)
			assert.True(t, sameVisible(st, got[len(got)-1]), "session %d, space %s: last status is not the current one", i, id)
		}
		l.mu.Unlock()
	}
}

// Sinks may call back into the service; deliveries stay in order.
func TestSinkMayCallBack(t *testing.T) {
	var s *Service
	var rec recorder
	s = New(Config{Sink: func(st Status) {
		rec.sink(st)
		if st.State == Syncing && st.SyncingObjects == 1 {
			s.Pending(st.Space, 0) // re-entrant: queued, delivered after this one
		}
		_, _ = s.Get(st.Space)
	}})
	defer s.Close()
	apply(t, s, "load a")
	apply(t, s, "conn on")
	apply(t, s, "pending a 1")
	assert.Equal(t, []string{
		"a unknown objs=0 files=0 offline",
		"a syncing objs=0 files=0 online",
		"a syncing objs=1 files=0 online",
		"a syncing objs=0 files=0 online",
	}, rec.take())
}

func TestCloseStopsEverything(t *testing.T) {
	var rec recorder
	s := New(Config{Sink: rec.sink})
	apply(t, s, "load a")
	var sess recorder
	ss := s.SessionStart(sess.sink)
	ss.Close()
	ss.Close()
	apply(t, s, "conn on")
	assert.Len(t, sess.take(), 1, "a closed session receives nothing more")
	s.Close()
	s.Close()
	apply(t, s, "pending a 1")
	apply(t, s, "load b")
	_, ok := s.Get("a")
	assert.False(t, ok)
	assert.Nil(t, s.Snapshot())
	late := s.SessionStart(sess.sink)
	late.Close()
	assert.Empty(t, sess.take())
	assert.Equal(t, []string{"a unknown objs=0 files=0 offline", "a syncing objs=0 files=0 online"}, rec.take())
}
