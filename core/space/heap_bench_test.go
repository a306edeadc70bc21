package space_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/procstat"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// BenchmarkLoadedSpaceHeap measures what one loaded space costs at steady
// state (DESIGN §12; issue 17): a space's store, its index and a sync
// engine without a node, after 100k object writes of 12 details each
// (3-word names, 20-word descriptions, tags, numbers, flags), made by 32
// concurrent writers as an app or a sync would. It reports the Go heap in
// use (after GC, once badger's compactions and its allocator pool have
// settled) and the goroutines, both counted from before the space loaded,
// and the RSS growth (which includes mmapped pages the OS can drop).
// Budgets: ≤ 32 MiB and ≤ 40 goroutines.
func BenchmarkLoadedSpaceHeap(b *testing.B) {
	const objects, writers = 100_000, 32
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		b.StopTimer()
		svc, closeSvc := benchService(b, quiet)
		ctx := context.Background()
		// The account space is loaded once per account, not per space.
		if _, err := svc.EnsureAccountSpace(ctx); err != nil {
			b.Fatal(err)
		}

		// The baseline is an idle account: its databases asleep (Dormant).
		m0, g0, rss0 := settledHeap(badgerdb.DefaultIdleClose+5*time.Second), runtime.NumGoroutine(), procstat.RSS()
		b.StartTimer()
		id, err := svc.Create(ctx, "Bench")
		if err != nil {
			b.Fatal(err)
		}
		sp, err := svc.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		eng := syncengine.NewEngine(sp, syncengine.Config{Log: quiet}) // offline: no node
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := w; i < objects; i += writers {
					if _, err := sp.CreateObject(ctx, "task", heapDetails(rng, i)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		// In use: the app keeps reading (a query every 5 s keeps the
		// databases open; they sleep after DefaultIdleClose without use)
		// while badger's compactions of the writes settle, for 45 s.
		for range 9 {
			if _, err := sp.Query(ctx, spaceindex.Query{Limit: 50}); err != nil {
				b.Fatal(err)
			}
			time.Sleep(5 * time.Second)
		}
		m1, g1, rss1 := settledHeap(0), runtime.NumGoroutine(), procstat.RSS()
		// Idle: once they sleep, what the loaded space still holds.
		m2, g2 := settledHeap(badgerdb.DefaultIdleClose), runtime.NumGoroutine()
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		b.ReportMetric(mib(int64(m1.HeapInuse)-int64(m0.HeapInuse)), "MiB@loaded-space-heap")
		b.ReportMetric(32, "max:MiB@loaded-space-heap")
		b.ReportMetric(float64(g1-g0), "goroutines@loaded-space-goroutines")
		b.ReportMetric(40, "max:goroutines@loaded-space-goroutines")
		b.ReportMetric(mib(int64(m2.HeapInuse)-int64(m0.HeapInuse)), "idle-heap-MiB")
		b.ReportMetric(float64(g2-g0), "idle-goroutines")
		b.ReportMetric(mib(rss1-rss0), "rss-MiB")
		b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "writes/s")
		eng.Close()
		closeSvc()
	}
}

// settledHeap waits, then collects garbage twice and reads the heap.
func settledHeap(wait time.Duration) runtime.MemStats {
	time.Sleep(wait)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

var heapWords = func() []string {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]string, 4000)
	for i := range out {
		var sb strings.Builder
		for range 2 + rng.IntN(4) {
			sb.WriteByte("bcdfghjklmnprstvwz"[rng.IntN(18)])
			sb.WriteByte("aeiou"[rng.IntN(5)])
		}
		out[i] = sb.String()
	}
	return out
}()

// heapDetails are nine details (type, created and modified make twelve).
func heapDetails(rng *rand.Rand, i int) space.Details {
	words := func(n int) string {
		ws := make([]string, n)
		for j := range ws {
			ws[j] = heapWords[rng.IntN(len(heapWords))]
		}
		return strings.Join(ws, " ")
	}
	return space.Details{
		"name":        objtree.String(words(3)),
		"description": objtree.String(words(20)),
		"tags":        objtree.List(objtree.String(words(1)), objtree.String(words(1))),
		"done":        objtree.Bool(rng.IntN(2) == 0),
		"priority":    objtree.Number(float64(rng.IntN(5))),
		"status":      objtree.String([]string{"open", "closed", "blocked"}[rng.IntN(3)]),
		"author":      objtree.String(fmt.Sprint("user", rng.IntN(50))),
		"size":        objtree.Number(float64(rng.IntN(100_000))),
		"due":         objtree.Number(float64(1_700_000_000 + i)),
	}
}
