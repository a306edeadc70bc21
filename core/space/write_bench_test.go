package space_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// BenchmarkLocalBurst is the local half of the 10k-change burst
// (tests.BenchmarkSyncBurst10k) without a node: 4 writers update 100
// objects 99 times each, every write acknowledged only once durable and
// indexed. It reports durable writes per second: what bounds the burst
// (DESIGN §12: 10k changes in 3 s) before any byte reaches the node.
func BenchmarkLocalBurst(b *testing.B) {
	const objects, perObject, writers = 100, 100, 4
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		b.StopTimer()
		svc, closeSvc := benchService(b, quiet)
		ctx := context.Background()
		id, err := svc.Create(ctx, "Burst")
		if err != nil {
			b.Fatal(err)
		}
		sp, err := svc.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]crypto.ObjectID, objects)
		for i := range ids {
			if ids[i], err = sp.CreateObject(ctx, "burst", space.Details{"name": objtree.String(fmt.Sprintf("o%d", i))}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < objects; i += writers {
					for j := 1; j < perObject; j++ {
						if err := sp.UpdateObject(ctx, ids[i], space.Details{fmt.Sprintf("k%d", j): objtree.Number(float64(j))}, nil); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		closeSvc()
	}
	b.ReportMetric(float64(objects*(perObject-1)*b.N)/b.Elapsed().Seconds(), "writes/s@local-burst")
	b.ReportMetric(3_333, "min:writes/s@local-burst") // what 10k changes in 3 s need before any reaches the node
}

// benchService is a space service of a new account in a temporary
// directory, with the function that closes it.
func benchService(b *testing.B, log *slog.Logger) (*space.Service, func()) {
	dir := b.TempDir()
	acc, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	dev, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	db, err := badgerdb.Open(filepath.Join(dir, "account"), true, log)
	if err != nil {
		b.Fatal(err)
	}
	svc := space.New(space.Config{Account: acc, Device: dev, DB: db, SpacesDir: filepath.Join(dir, "spaces"), Log: log})
	return svc, func() {
		if err := svc.Close(); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
