package node

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
)

// The cached head-sync set answers like a set built from the store, whatever
// the order in which accepted changes are told (racing writers), whether a
// change is told at all (another node's write, followed by Invalidate), and
// however loads interleave with writes.
func TestHeadSetsMatchTheStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		st := store.NewMemory()
		sp := crypto.SpaceID("s")
		if err := st.CreateSpace(ctx, sp, []byte("h"), []byte("r"), nil, owner, store.Limits{}); err != nil {
			t.Fatal(err)
		}
		var h headSets
		h.init(st, rapid.IntRange(1, 20).Draw(t, "budget"))
		var untold []change // accepted, not told yet
		n := 0
		for i, ops := 0, rapid.IntRange(1, 60).Draw(t, "ops"); i < ops; i++ {
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1: // a write: the store accepts it, the cache is told later
				obj := crypto.ObjectID(fmt.Sprint("o", rapid.IntRange(0, 6).Draw(t, "obj")))
				old, err := st.Heads(ctx, sp, obj)
				if err != nil {
					t.Fatal(err)
				}
				n++
				c := crypto.ChangeID(fmt.Sprint("c", n))
				if err := st.PutChanges(ctx, sp, obj, old, []crypto.ChangeID{c}, []store.Change{{ID: c, Raw: []byte{byte(n)}}}, store.Limits{}); err != nil {
					t.Fatal(err)
				}
				untold = append(untold, change{obj: obj, old: old, heads: []crypto.ChangeID{c}})
			case 2: // tell one of the untold changes, in any order
				if len(untold) > 0 {
					k := rapid.IntRange(0, len(untold)-1).Draw(t, "which")
					c := untold[k]
					untold = slices.Delete(untold, k, k+1)
					h.accepted(sp, c.obj, c.old, c.heads)
				}
			case 3: // a change made elsewhere: never told, the space is invalidated
				if len(untold) > 0 {
					untold = untold[:len(untold)-1]
					h.Invalidate(sp)
				}
			default: // a head sync, once everything was told
				for _, c := range untold {
					h.accepted(sp, c.obj, c.old, c.heads)
				}
				untold = nil
				got, err := h.ranges(ctx, sp, []diff.Range{diff.Full(100)})
				if err != nil {
					t.Fatal(err)
				}
				want := fresh(t, st, sp)
				if got[0].Count != want[0].Count || got[0].Hash != want[0].Hash {
					t.Fatalf("cached answer %d/%x, store %d/%x", got[0].Count, got[0].Hash, want[0].Count, want[0].Hash)
				}
			}
		}
		if h.total < 0 || (len(h.entries) == 0 && h.total != 0) {
			t.Fatalf("element count %d with %d entries", h.total, len(h.entries))
		}
	})
}

func fresh(t *rapid.T, st store.Store, sp crypto.SpaceID) []diff.RangeResult {
	var els []diff.Element
	if err := st.Objects(context.Background(), sp, func(o crypto.ObjectID, heads []crypto.ChangeID) bool {
		els = append(els, element(o, heads))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	res, err := diff.NewSet(els).Ranges([]diff.Range{diff.Full(100)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Writers and head syncs race; once the writers are done, the cache agrees
// with the store (and the race detector sees no data race).
func TestHeadSetsUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	sp := crypto.SpaceID("s")
	if err := st.CreateSpace(ctx, sp, []byte("h"), []byte("r"), nil, owner, store.Limits{}); err != nil {
		t.Fatal(err)
	}
	var h headSets
	h.init(st, 0)
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				obj := crypto.ObjectID(fmt.Sprint("o", i%17))
				for {
					old, _ := st.Heads(ctx, sp, obj)
					c := crypto.ChangeID(fmt.Sprint("w", w, "-", i))
					err := st.PutChanges(ctx, sp, obj, old, []crypto.ChangeID{c}, []store.Change{{ID: c, Raw: []byte{1}}}, store.Limits{})
					if err == nil {
						h.accepted(sp, obj, old, []crypto.ChangeID{c})
						break
					}
				}
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for range 200 {
			if _, err := h.ranges(ctx, sp, []diff.Range{diff.Full(10)}); err != nil {
				t.Error(err)
			}
		}
	}()
	for range 5 {
		<-done
	}
	got, err := h.ranges(ctx, sp, []diff.Range{diff.Full(100)})
	if err != nil {
		t.Fatal(err)
	}
	var els []diff.Element
	_ = st.Objects(ctx, sp, func(o crypto.ObjectID, heads []crypto.ChangeID) bool {
		els = append(els, element(o, heads))
		return true
	})
	want, _ := diff.NewSet(els).Ranges([]diff.Range{diff.Full(100)})
	if got[0].Count != want[0].Count || got[0].Hash != want[0].Hash {
		t.Fatalf("cached %d/%x, store %d/%x", got[0].Count, got[0].Hash, want[0].Count, want[0].Hash)
	}
}

// owner is the owner of the spaces these tests make (quotas need one; limits are off).
var owner = crypto.PubKey{1}
