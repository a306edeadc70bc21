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
// writes them): every change is decoded (its signature was checked when it
// arrived: objtree.DecodeStored), its ops decrypted and replayed, and the
// object indexed. Reports objects/s until the rebuilt index is live (budget,
// DESIGN §12: ≥ 30k objects/s) and, apart, the checkpoint written after it
// in the background (checkpointSoon), which each iteration waits for with
// the timer stopped so that it never overlaps the next rebuild.
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
	var took, ckpt, cpu, ckptCPU time.Duration
	var indexed int64
	b.ResetTimer()
	for range b.N {
		began, cpu0 := time.Now(), procstat.CPUTime()
		st, err := e.svc.RebuildIndex(c, id, SourceFullScan, nil)
		took += time.Since(began)
		cpu1 := procstat.CPUTime()
		cpu += cpu1 - cpu0
		require.NoError(b, err)
		indexed = st.Indexed
		b.StopTimer()
		began = time.Now()
		require.NoError(b, sp.awaitCheckpoint(c))
		ckpt += time.Since(began)
		ckptCPU += procstat.CPUTime() - cpu1
		b.StartTimer()
	}
	b.StopTimer()
	require.Equal(b, int64(objects), indexed)
	wm, err := sp.index.CheckpointWatermark()
	require.NoError(b, err, "the rebuild left a checkpoint")
	require.NotZero(b, wm)
	// objects/s: the call, until the rebuilt index is live (the budget);
	// cpu-s/op: the process's CPU for it (steadier than wall time on a
	// shared machine); checkpoint-ms and checkpoint-cpu-s: what the
	// background checkpoint took after it, at most (it may have begun
	// before the call returned).
	b.ReportMetric(float64(objects)*float64(b.N)/took.Seconds(), "objects/s@index-rebuild-full-scan")
	b.ReportMetric(30_000, "min:objects/s@index-rebuild-full-scan")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(ckpt.Milliseconds())/float64(b.N), "checkpoint-ms")
	b.ReportMetric(ckptCPU.Seconds()/float64(b.N), "checkpoint-cpu-s")
}
