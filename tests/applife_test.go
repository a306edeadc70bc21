package tests

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/syncstatus"
)

// The phone lifecycle (core/applife.go, mobile.Background & co), counted:
// what stops in the background and under memory pressure, and what comes
// back. Everything runs in this process so that it can be counted: the
// node's RPCs by method (node.Node.Calls), the device's goroutines by what
// created them (stack dumps), its sockets (gRPC client transports), and
// timers by their effect: a timer that fires wakes a goroutine, and the
// runtime counts wakeups (/sched/latencies samples one scheduling in 8 per
// goroutine). The node keeps its state in memory (no database of its own
// whose tickers would wake this process) and its janitor is idle.

// lifeHeadSync is the test's head-sync period: short, so that a head-sync
// timer left running would show as many RPCs and wakeups in a few seconds.
const lifeHeadSync = 20 * time.Millisecond

// quietWindow is how long the test watches a state for calls and wakeups:
// 100 head-sync periods.
const quietWindow = 2 * time.Second

// maxQuietWakeups bounds the sampled wakeups of an idle process over
// quietWindow (measured: 0–2; the test's own sleep is one). One timer of
// lifeHeadSync left running would add about 100/8 = 12.
const maxQuietWakeups = 6

func startMemoryNode(t *testing.T) *node.Node {
	t.Helper()
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	n, err := node.Start(node.Config{Key: key, Store: store.NewMemory(), Listen: "127.0.0.1:0", Logger: quiet, JanitorInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// wakeups is the runtime's count of sampled goroutine wakeups so far.
func wakeups() uint64 {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

var createdBy = regexp.MustCompile(`(?m)^created by (\S+)`)

// goroutines counts this process's goroutines by the function that created
// them, without the node's (server side) and the test runner's.
func goroutines() map[string]int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "hearth-sync/hearth/node.") || strings.Contains(g, "http2Server") || strings.Contains(g, "NewServerTransport") ||
			strings.Contains(g, "grpc.(*Server)") || strings.Contains(g, "testing.") || strings.Contains(g, "runtime.Stack") {
			continue
		}
		by := "main"
		if m := createdBy.FindStringSubmatch(g); m != nil {
			by = m[1]
		}
		out[by]++
	}
	return out
}

func total(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// matching sums the counts whose creator contains substr.
func matching(m map[string]int, substr string) (n int) {
	for k, v := range m {
		if strings.Contains(k, substr) {
			n += v
		}
	}
	return n
}

// diff describes what changed from before to after, creator by creator.
func diff(before, after map[string]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(before, after))) {
		if before[k] != after[k] {
			out = append(out, fmt.Sprintf("%s %d→%d", k, before[k], after[k]))
		}
	}
	return strings.Join(out, "; ")
}

func mergeKeys(a, b map[string]int) map[string]int {
	m := maps.Clone(a)
	for k := range b {
		m[k] = 0
	}
	return m
}

// clientTransports counts the gRPC client connections' goroutines: none
// means no socket to the node.
func clientTransports() int { return matching(goroutines(), "transport.NewHTTP2Client") }

// badgerGoroutines counts the goroutines of open badger databases.
func badgerGoroutines() int { return matching(goroutines(), "dgraph-io/badger") }

// quiet watches quietWindow and returns the node's calls and the sampled
// wakeups meanwhile.
func watchQuiet(n *node.Node) (map[string]uint64, uint64) {
	calls0, w0 := n.Calls(), wakeups()
	time.Sleep(quietWindow)
	return callsSince(n.Calls(), calls0), wakeups() - w0
}

func TestBackgroundForegroundMemoryPressureCounted(t *testing.T) {
	n := startMemoryNode(t)
	app, err := core.Open(core.Config{DataDir: t.TempDir(), Node: n.Addr(), Logger: quiet, HeadSyncEvery: lifeHeadSync})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	_, _, err = app.Accounts().Create("phone")
	require.NoError(t, err)
	spaces, err := app.Spaces()
	require.NoError(t, err)
	ctx := context.Background()
	var ids []crypto.SpaceID
	for i := range 2 {
		id, err := spaces.Create(ctx, fmt.Sprint("space ", i))
		require.NoError(t, err)
		sp, err := spaces.Get(ctx, id)
		require.NoError(t, err)
		_, err = sp.CreateObject(ctx, "note", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	status := func(id crypto.SpaceID) syncstatus.Status {
		st, _, err := app.SyncStatus(id)
		require.NoError(t, err)
		return st
	}
	for _, id := range ids {
		waitFor(t, 60*time.Second, "space synced", func() bool { return status(id).State == syncstatus.Synced })
	}

	// Foreground: a socket, and the digest comparison (one call for every
	// space: the head-sync timer) on its timer.
	hs := n.Calls()["HeadDigests"]
	waitFor(t, 60*time.Second, "digest checks run on their timer", func() bool { return n.Calls()["HeadDigests"] >= hs+20 })
	require.Positive(t, clientTransports(), "connected: a gRPC client transport: %v", goroutines())
	fg := goroutines()
	calls, woke := watchQuiet(n)
	t.Logf("foreground, %v: %d sampled wakeups, calls %v, %d goroutines", quietWindow, woke, calls, total(fg))
	require.Greater(t, calls["HeadDigests"], uint64(20), "the head-sync timer runs in the foreground")

	// Background: no socket, no call, no timer. MemoryPressure then puts
	// every database to sleep, so nothing at all is left that wakes up.
	app.Background()
	waitFor(t, 60*time.Second, "the connection closes", func() bool { return clientTransports() == 0 })
	for _, id := range ids {
		waitFor(t, 60*time.Second, "the space is offline", func() bool { return status(id).Network == syncstatus.NetworkOffline })
	}
	bg := goroutines()
	t.Logf("background stopped: %s", diff(fg, bg))
	assert.Less(t, total(bg), total(fg), "goroutines stop in the background")
	calls, woke = watchQuiet(n)
	t.Logf("background, databases open, %v: %d sampled wakeups (badger's own tickers), calls %v", quietWindow, woke, calls)
	assert.Empty(t, calls, "no call to the node in the background")
	app.NetworkChanged()
	calls, _ = watchQuiet(n)
	assert.Empty(t, calls, "a network change does not dial in the background")
	assert.Zero(t, clientTransports())

	require.Positive(t, badgerGoroutines(), "the databases are open before the memory pressure")
	require.NoError(t, app.MemoryPressure())
	waitFor(t, 60*time.Second, "every database sleeps", func() bool { return badgerGoroutines() == 0 })
	trimmed := goroutines()
	t.Logf("memory pressure stopped: %s", diff(bg, trimmed))
	// The databases closed after MemoryPressure returned: the memory they
	// freed keeps the runtime's background scavenger waking (thousands of
	// samples on a loaded machine) until it is back with the system. Hand it
	// back now, so the window counts this process's timers, not the runtime's.
	debug.FreeOSMemory()
	calls, woke = watchQuiet(n)
	t.Logf("background and trimmed, %v: %d sampled wakeups, calls %v, %d goroutines", quietWindow, woke, calls, total(trimmed))
	assert.Empty(t, calls)
	assert.LessOrEqual(t, woke, uint64(maxQuietWakeups), "nothing wakes up in the background: no timer runs")
	assert.Zero(t, badgerGoroutines(), "no database reopened by itself")

	// Local work goes on (the databases reopen on use) and waits to sync.
	before := n.Calls()
	sp, err := spaces.Get(ctx, ids[0])
	require.NoError(t, err)
	_, err = sp.CreateObject(ctx, "note", nil)
	require.NoError(t, err)
	assert.Positive(t, badgerGoroutines(), "a write reopens the space's databases")
	assert.Equal(t, 1, sp.PendingCount(), "the write waits to sync")
	assert.Empty(t, callsSince(n.Calls(), before), "a write in the background calls nobody")

	// Foreground: everything comes back, and the write syncs.
	before = n.Calls()
	app.Foreground()
	waitFor(t, 60*time.Second, "the connection is back", func() bool { return clientTransports() > 0 })
	waitFor(t, 60*time.Second, "the background write syncs", func() bool {
		return sp.PendingCount() == 0 && status(ids[0]).State == syncstatus.Synced
	})
	waitFor(t, 60*time.Second, "digest checks are back on their timer", func() bool { return callsSince(n.Calls(), before)["HeadDigests"] >= 20 })
	back := callsSince(n.Calls(), before)
	assert.Equal(t, uint64(1), back["Auth"], "one new connection: %v", back)
	waitFor(t, 60*time.Second, "what the background stopped comes back", func() bool {
		now := goroutines()
		for k, v := range fg {
			if bg[k] < v && now[k] < v {
				return false
			}
		}
		return true
	})
	t.Logf("foreground again: calls %v; goroutines vs the first foreground: %s", back, diff(fg, goroutines()))

	// A network change in the foreground replaces the connection at once:
	// one new handshake, and the old socket's goroutines do not linger.
	before = n.Calls()
	app.NetworkChanged()
	waitFor(t, 60*time.Second, "a network change redials", func() bool { return callsSince(n.Calls(), before)["Auth"] == 1 })
	conns := clientTransports()
	waitFor(t, 60*time.Second, "one connection's goroutines", func() bool { return clientTransports() <= max(conns, 2) })
	for _, id := range ids {
		waitFor(t, 60*time.Second, "synced after the network change", func() bool { return status(id).State == syncstatus.Synced })
	}
}
