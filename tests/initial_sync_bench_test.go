package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// largeSpaceObjects is how many objects BenchmarkInitialSync100k writes;
// HEARTH_BENCH_OBJECTS lowers it for a quick run.
func largeSpaceObjects(b *testing.B) int {
	if s := os.Getenv("HEARTH_BENCH_OBJECTS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		return n
	}
	return 100_000
}

// firstScreen is how many objects an app's first screen shows.
const firstScreen = 50

// dumpObject is one object as a JSON dump holds it (the SQLite baseline loads these).
type dumpObject struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Details map[string]any `json:"details"`
}

var benchWords = strings.Fields(`garden kitchen invoice meeting travel budget review draft
	launch design river window harbor pencil summer winter market letter planet orbit
	signal thread bridge circle copper forest engine matter silver marble canvas ladder`)

func words(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = benchWords[r.IntN(len(benchWords))]
	}
	return strings.Join(w, " ")
}

// taskDetails are one object's 12 keys with the sizes of a task manager's rows: a title,
// a paragraph of description, a status, dates, numbers, flags, tags and people.
func taskDetails(r *rand.Rand, i int) (space.Details, map[string]any) {
	statuses := []string{"todo", "doing", "review", "done"}
	title := fmt.Sprintf("%s %d", words(r, 4), i)
	desc := words(r, 40)
	status := statuses[r.IntN(len(statuses))]
	created := float64(1_700_000_000_000 + int64(i)*60_000)
	due := created + float64(r.IntN(30*24))*3_600_000
	priority := float64(r.IntN(5))
	estimate := float64(r.IntN(40)) / 2
	done := status == "done"
	starred := r.IntN(10) == 0
	project := "project " + words(r, 2)
	assignee := words(r, 1) + "@example.com"
	tag1, tag2 := words(r, 1), words(r, 1)
	d := space.Details{
		"name": objtree.String(title), "description": objtree.String(desc), "status": objtree.String(status),
		"opened": objtree.Number(created), "due": objtree.Number(due), "priority": objtree.Number(priority),
		"estimate": objtree.Number(estimate), "done": objtree.Bool(done), "starred": objtree.Bool(starred),
		"project": objtree.String(project), "assignee": objtree.String(assignee),
		"tags": objtree.List(objtree.String(tag1), objtree.String(tag2)),
	}
	j := map[string]any{
		"name": title, "description": desc, "status": status, "opened": created, "due": due,
		"priority": priority, "estimate": estimate, "done": done, "starred": starred,
		"project": project, "assignee": assignee, "tags": []string{tag1, tag2},
	}
	return d, j
}

// writeLargeSpace creates n task objects on sp with a few writers and returns them as a
// dump.
func writeLargeSpace(b *testing.B, sp *space.Space, n int) []dumpObject {
	ctx := context.Background()
	out := make([]dumpObject, n)
	const writers = 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 17))
			for i := w; i < n; i += writers {
				d, j := taskDetails(r, i)
				id, err := sp.CreateObject(ctx, "task", d)
				if err != nil {
					b.Error(err)
					return
				}
				out[i] = dumpObject{ID: string(id), Type: "task", Details: j}
			}
		}()
	}
	wg.Wait()
	require.False(b, b.Failed())
	return out
}

// sqliteInitialLoad, when the sqlitebench tag is set, loads a JSON dump into SQLite with
// the indexes an app would keep and returns the objects per second.
var sqliteInitialLoad func(b *testing.B, dump string) float64

// BenchmarkInitialSync100k: device A holds a space of 100k task objects (12 keys each),
// all on the node. Device B, the real `hearth serve` daemon on an empty data dir,
// recovers the account from its mnemonic, and the benchmark reports (from the recover
// command) the time until a query on B answers a first screen of 50 objects, the objects
// per second until B's index answers every object, B's peak resident memory (VmHWM: the
// whole process, so an upper bound on its heap) and the bytes the node sent B. The same
// objects, dumped as JSON, are loaded into SQLite in the same run (with -tags
// sqlitebench): the ratio compares receiving the space with loading it from a file.
// Budgets (issue 17): ≥ 30k objects/s, first screen < 2 s.
func BenchmarkInitialSync100k(b *testing.B) {
	n := largeSpaceObjects(b)
	ctx := context.Background()
	tn := newTestNode(b)
	a := newDevice(b, tn.n.Addr())
	_, mnemonic, err := a.app.Accounts().Create("Ada")
	require.NoError(b, err)
	id, err := a.spaces(b).Create(ctx, "large")
	require.NoError(b, err)
	spA, err := a.spaces(b).Get(ctx, id)
	require.NoError(b, err)
	began := time.Now()
	objects := writeLargeSpace(b, spA, n)
	b.Logf("A wrote %d objects in %v", n, time.Since(began).Round(time.Millisecond))
	waitFor(b, 60*time.Minute, "the node has every object of A", func() bool {
		res, err := spA.Query(ctx, spaceindex.Query{Filter: spaceindex.Ne(spaceindex.KeySyncStatus, spaceindex.Number(float64(spaceindex.SyncSynced))), Limit: 1})
		return err == nil && res.Total == 0
	})
	b.Logf("A synced %d objects to the node %v after it began writing", n, time.Since(began).Round(time.Millisecond))

	dump := filepath.Join(b.TempDir(), "dump.json")
	raw, err := json.Marshal(objects)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(dump, raw, 0o600))
	objects = nil

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		px := newProxy(b, tn.n.Addr())
		data := b.TempDir()
		d := startServe(b, data, "--node", px.addr())
		b.StartTimer()
		start := time.Now()
		cliJSON(b, data, "account", "recover", "--mnemonic", mnemonic)
		var first, all time.Duration
		waitFor(b, 30*time.Minute, "B answers every object", func() bool {
			out, _, code := cli(b, data, "--json", "object", "query", string(id), "--limit", strconv.Itoa(firstScreen))
			if code != 0 {
				return false
			}
			var res struct {
				Objects []json.RawMessage `json:"objects"`
				Total   int               `json:"total"`
			}
			if json.Unmarshal([]byte(out), &res) != nil {
				return false
			}
			if first == 0 && len(res.Objects) >= min(firstScreen, n) {
				first = time.Since(start)
			}
			if res.Total == n {
				all = time.Since(start)
			}
			return all > 0
		})
		b.StopTimer()
		rss := peakRSS(b, d.cmd.Process.Pid)
		sent := px.fromTarget.Load()
		rate := float64(n) / all.Seconds()
		b.ReportMetric(rate, "objects/s@initial-sync-100k")
		b.ReportMetric(30_000, "min:objects/s@initial-sync-100k")
		b.ReportMetric(first.Seconds(), "s@initial-sync-first-screen")
		b.ReportMetric(2, "max:s@initial-sync-first-screen")
		b.ReportMetric(float64(rss)/(1<<20), "b-peak-rss-MiB")
		b.ReportMetric(float64(sent)/(1<<20), "node-sent-MiB")
		b.Logf("B: first %d objects queryable after %v, all %d after %v (%.0f objects/s), peak RSS %.1f MiB, node sent %.1f MiB (%.0f B/object)",
			firstScreen, first.Round(time.Millisecond), n, all.Round(time.Millisecond), rate, float64(rss)/(1<<20), float64(sent)/(1<<20), float64(sent)/float64(n))
		b.StartTimer()
	}
	b.StopTimer()
	if sqliteInitialLoad == nil {
		b.Log("SQLite baseline not compiled in (make bench sets -tags sqlitebench)")
		return
	}
	rate := sqliteInitialLoad(b, dump)
	b.ReportMetric(rate, "sqlite:objects/s@initial-sync-100k")
	b.Logf("SQLite loads the JSON dump at %.0f objects/s", rate)
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
