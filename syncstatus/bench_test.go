package syncstatus

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// benchAccount is an account's status service under a steady load.
type benchAccount struct {
	svc    *Service
	loaded []crypto.SpaceID
	events int
	rounds int
}

// newBenchAccount loads 5 spaces; with unloaded > 0 it first loads and
// unloads that many others (offloaded spaces the account still knows, and
// that the tracker once held), so any leftover cost would show.
func newBenchAccount(unloaded int) *benchAccount {
	a := &benchAccount{}
	a.svc = New(Config{Sink: func(Status) { a.events++ }})
	for i := range unloaded {
		id := crypto.SpaceID(fmt.Sprintf("unloaded-%04d", i))
		a.svc.Loaded(id)
		a.svc.Pending(id, 1)
		a.svc.Unloaded(id)
	}
	for i := range 5 {
		id := crypto.SpaceID(fmt.Sprintf("loaded-%d", i))
		a.loaded = append(a.loaded, id)
		a.svc.Loaded(id)
		a.svc.Pending(id, 0)
	}
	a.svc.Connected(true)
	return a
}

// round is one tick of status work: every loaded space gets a local write,
// its acknowledgement and a finished cycle; every 16th round the connection
// flaps and a session starts and ends.
func (a *benchAccount) round() {
	a.rounds++
	now := time.Unix(int64(a.rounds), 0)
	for _, id := range a.loaded {
		a.svc.Pending(id, 1)
		a.svc.Pending(id, 0)
		a.svc.CycleDone(id, now)
	}
	if a.rounds%16 == 0 {
		a.svc.Connected(false)
		a.svc.Connected(true)
		for _, id := range a.loaded {
			a.svc.CycleDone(id, now)
		}
		a.svc.SessionStart(func(Status) {}).Close()
	}
}

// work is every unit of work the service did; it has no timers and starts
// no goroutines (checked separately), so nothing else can cost.
func work(st Stats) uint64 {
	return st.Observations + st.Ignored + st.SpacesTouched + st.Events + st.SnapshotStatuses
}

// BenchmarkStatusTick1000Unloaded compares the status work of an account
// with 1,000 unloaded spaces and 5 loaded against 5 loaded alone (DESIGN
// §12: ≤ 1.05), as counted work and as CPU time, in the same run: blocks of
// rounds alternate between the two accounts.
func BenchmarkStatusTick1000Unloaded(b *testing.B) {
	goroutines := runtime.NumGoroutine()
	alone, with := newBenchAccount(0), newBenchAccount(1000)
	defer alone.svc.Close()
	defer with.svc.Close()
	w0Alone, w0With := work(alone.svc.Stats()), work(with.svc.Stats())
	alone.events, with.events = 0, 0 // count from here
	var cpuAlone, cpuWith time.Duration
	const block = 512
	b.ReportAllocs()
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; k++ {
		n := min(block, b.N-done)
		first, second := alone, with
		cpuFirst, cpuSecond := &cpuAlone, &cpuWith
		if k%2 == 1 {
			first, second, cpuFirst, cpuSecond = with, alone, &cpuWith, &cpuAlone
		}
		c0 := cpuNow()
		for range n {
			first.round()
		}
		c1 := cpuNow()
		for range n {
			second.round()
		}
		c2 := cpuNow()
		*cpuFirst += c1 - c0
		*cpuSecond += c2 - c1
		done += n
	}
	b.StopTimer()
	wAlone := work(alone.svc.Stats()) - w0Alone
	wWith := work(with.svc.Stats()) - w0With
	ratio := float64(wWith) / float64(wAlone)
	b.ReportMetric(ratio, "work-ratio")
	b.ReportMetric(float64(wWith)/float64(b.N), "work/round")
	if cpuAlone > 0 {
		b.ReportMetric(float64(cpuWith)/float64(cpuAlone), "cpu-ratio")
		b.ReportMetric(float64(cpuAlone.Nanoseconds())/float64(b.N), "cpu-ns/round-alone")
		b.ReportMetric(float64(cpuWith.Nanoseconds())/float64(b.N), "cpu-ns/round-with")
	}
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines), "goroutines")
	if ratio > 1.05 {
		b.Errorf("work with 1,000 unloaded spaces is %.3f× the work without (budget 1.05)", ratio)
	}
	if alone.events != with.events {
		b.Errorf("events: %d with 1,000 unloaded spaces, %d without", with.events, alone.events)
	}
}
