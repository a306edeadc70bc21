package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// BenchOpener returns a fresh, empty store for a benchmark; the benchmark closes it.
type BenchOpener func(b *testing.B) store.Store

// BenchPutChanges measures the write a HeadUpdate makes (one 300-byte change appended to
// an object, a compare-and-swap on its heads) with the owner's quota counted: one writer,
// and 8 writers on objects of two spaces of one owner (they share its counter).
func BenchPutChanges(b *testing.B, open BenchOpener) {
	lim := store.Limits{Spaces: 10, ChangeBytes: 1 << 40}
	run := func(b *testing.B, writers int) {
		s := open(b)
		defer s.Close()
		for _, sp := range []string{"a", "b"} {
			require.NoError(b, s.CreateSpace(ctx, sid(sp), []byte("h"), []byte("r"), nil, key("owner"), lim))
		}
		var n atomic.Int64
		b.SetParallelism(writers)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := n.Add(1)
			sp, obj := sid([]string{"a", "b"}[w%2]), oid(fmt.Sprint(w))
			var heads []crypto.ChangeID
			for i := 0; pb.Next(); i++ {
				ch := store.Change{ID: chid(fmt.Sprint(w, "-", i)), Raw: make([]byte, 300)}
				next := []crypto.ChangeID{ch.ID}
				if err := s.PutChanges(ctx, sp, obj, heads, next, []store.Change{ch}, lim); err != nil {
					b.Error(err)
					return
				}
				heads = next
			}
		})
		b.StopTimer()
		u, err := s.Usage(ctx, key("owner"))
		require.NoError(b, err)
		require.EqualValues(b, 300*int64(b.N), u.ChangeBytes, "every write counted")
	}
	b.Run("writers=1", func(b *testing.B) { run(b, 1) })
	// SetParallelism multiplies GOMAXPROCS: 8 writers on this 2-core machine.
	b.Run("writers=8", func(b *testing.B) { run(b, 4) })
}
