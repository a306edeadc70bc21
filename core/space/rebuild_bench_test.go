package space

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/procstat"
)

// BenchmarkRebuildFullScan: a full-scan rebuild of a space of 20,000
// objects (each a root change plus one change with details, as CreateObject
// writes them): every change's signature is verified and its ops decrypted
// and replayed. Reports objects/s (budget, DESIGN §12: ≥ 30k objects/s).
func BenchmarkRebuildFullScan(b *testing.B) {
	const objects = 20_000
	e := newEnv(b)
	c, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // setup alone can take 30 s on a busy machine
	defer cancel()
	id, err := e.svc.Create(c, "Bench")
	require.NoError(b, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(b, err)
	var wg sync.WaitGroup
	const writers = 32
	for w := range writers {
		wg.Add(1)
		go func() { // concurrent writers share the actor's group commits
			defer wg.Done()
			for i := w; i < objects; i += writers {
				_, err := sp.CreateObject(c, "note", Details{"name": str(fmt.Sprint("note ", i)), "n": num(float64(i))})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var took, build, cpu time.Duration
	var indexed int64
	b.ResetTimer()
	for range b.N {
		began, cpu0 := time.Now(), procstat.CPUTime()
		st, err := e.svc.RebuildIndex(c, id, SourceFullScan, nil)
		took += time.Since(began)
		cpu += procstat.CPUTime() - cpu0
		require.NoError(b, err)
		indexed = st.Indexed
		build += st.Duration
	}
	b.StopTimer()
	require.Equal(b, int64(objects), indexed)
	// objects/s: the whole call, checkpoint included (the budget);
	// build-objects/s: the rebuild up to the switch; cpu-s/op: the process's
	// CPU per rebuild (steadier than wall time on a shared machine).
	b.ReportMetric(float64(objects)*float64(b.N)/took.Seconds(), "objects/s@index-rebuild-full-scan")
	b.ReportMetric(30_000, "min:objects/s@index-rebuild-full-scan")
	b.ReportMetric(float64(objects)*float64(b.N)/build.Seconds(), "build-objects/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}
