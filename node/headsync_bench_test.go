package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// benchObjects is how many objects the 100k benchmarks hold; HEARTH_BENCH_OBJECTS
// lowers it for a quick run.
func benchObjects(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("HEARTH_BENCH_OBJECTS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	return n
}

// BenchmarkHeadSync100k: one device's head sync against a space of 100k objects on a
// node over loopback, from the first range request until the device knows every object
// that differs. "equal" is the idle case (one round trip, the digest matches); the
// others change that many objects on the device's side, so the ranges narrow down over
// several rounds. Reports µs per head sync and its round trips. The objects are written
// into the node's store directly (the round measures the node's answer from its cached
// set, not how the objects got there).
func BenchmarkHeadSync100k(b *testing.B) {
	n := benchObjects(b)
	e := memNode(b)
	owner := newAccount(b)
	c := e.dial(owner)
	s := createSpace(b, c, owner)
	ctx := context.Background()

	ids := make([]crypto.ObjectID, n)
	els := make([]diff.Element, n)
	for i := range ids {
		sum := sha256.Sum256([]byte(fmt.Sprint("object ", i)))
		ids[i] = crypto.ObjectID(hex.EncodeToString(sum[:]))
		ch := crypto.ChangeID(hex.EncodeToString(sum[:16]))
		heads := []crypto.ChangeID{ch}
		require.NoError(b, e.store.PutChanges(ctx, s.id, ids[i], nil, heads, []store.Change{{ID: ch, Raw: sum[:]}}, store.Limits{}))
		els[i] = diff.Element{ID: string(ids[i]), HeadsHash: objtree.HeadsHash(heads)}
	}

	for _, differ := range []int{0, 10, 1000} {
		name := "equal"
		if differ > 0 {
			name = fmt.Sprintf("%d-differ", differ)
		}
		b.Run(name, func(b *testing.B) {
			local := make([]diff.Element, len(els))
			copy(local, els)
			for i := range differ { // spread over the position space
				k := i * (len(local) / differ)
				local[k].HeadsHash = objtree.HeadsHash([]crypto.ChangeID{crypto.ChangeID(fmt.Sprint("local ", k))})
			}
			set := diff.NewSet(local)
			digest := set.Digest()
			rounds, found := 0, 0
			b.ResetTimer()
			for range b.N {
				d := diff.NewDriver(set, diff.DefaultFanout, diff.DefaultElementLimit)
				for ranges := d.Next(); ranges != nil; ranges = d.Next() {
					resp, err := c.HeadSync(ctx, diff.RequestToPB(string(s.id), ranges))
					require.NoError(b, err)
					results, err := diff.ResultsFromPB(resp)
					require.NoError(b, err)
					if len(ranges) == 1 && len(results) == 1 && digest.Matches(results[0]) {
						break // what the engine does: an equal digest ends the sync
					}
					require.NoError(b, d.Feed(results))
				}
				rounds = max(d.Rounds(), 1)
				found = len(d.Result().Changed)
			}
			b.StopTimer()
			require.Equal(b, differ, found, "every changed object is found")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/headsync")
			b.ReportMetric(float64(rounds), "rounds")
		})
	}
}
