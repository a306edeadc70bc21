package diff

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// A digest kept up to date change by change equals the digest of the set
// built from scratch, and matches the whole-range answer of that set: the
// one-round-trip head sync of two idle peers rests on this.
func TestDigestFollowsChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z0-9]{1,8}`), 1, 40, rapid.ID[string]).Draw(t, "ids")
		live := map[string]Element{}
		var d Digest
		for i, n := 0, rapid.IntRange(0, 200).Draw(t, "ops"); i < n; i++ {
			id := rapid.SampledFrom(ids).Draw(t, "id")
			old, had := live[id]
			if rapid.Bool().Draw(t, "remove") {
				if had {
					d.Remove(old)
					delete(live, id)
				}
				continue
			}
			e := Element{ID: id, HeadsHash: fmt.Sprint(rapid.IntRange(0, 5).Draw(t, "heads"))}
			if had {
				d.Remove(old)
			}
			d.Add(e)
			live[id] = e
		}
		els := make([]Element, 0, len(live))
		for _, e := range live {
			els = append(els, e)
		}
		set := NewSet(els)
		if got := set.Digest(); got != d {
			t.Fatalf("incremental digest %+v, set's %+v", d, got)
		}
		res, err := set.Ranges([]Range{Full(DefaultElementLimit)})
		if err != nil {
			t.Fatal(err)
		}
		if !d.Matches(res[0]) {
			t.Fatalf("digest %+v does not match the whole-range answer %+v", d, res[0])
		}
	})
}

// NewSet keeps the last of duplicate ids, like a sequence of Puts.
func TestNewSetLastWins(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		els := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Element {
			return Element{ID: rapid.StringMatching(`[a-c]`).Draw(t, "id"), HeadsHash: rapid.StringMatching(`[0-9]`).Draw(t, "h")}
		}), 0, 30).Draw(t, "els")
		put := &Set{}
		for _, e := range els {
			put.Put(e)
		}
		built := NewSet(els)
		if put.Len() != built.Len() || put.Digest() != built.Digest() {
			t.Fatalf("NewSet %v differs from Puts %v", built.entries, put.entries)
		}
	})
}

// A digest that does not match says so, and a partial range never matches.
func TestDigestMismatch(t *testing.T) {
	a := NewSet([]Element{{ID: "x", HeadsHash: "1"}})
	b := NewSet([]Element{{ID: "x", HeadsHash: "2"}})
	res, _ := b.Ranges([]Range{Full(0)})
	if a.Digest().Matches(res[0]) {
		t.Fatal("different heads matched")
	}
	res, _ = a.Ranges([]Range{{From: 0, To: 1 << 63}})
	if a.Digest().Matches(res[0]) {
		t.Fatal("a partial range matched the whole-set digest")
	}
}

// A set changed by Puts and Removes, read at random points in between,
// answers every range like a set built from scratch from what it holds.
func TestIncrementalSetEqualsRebuilt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := NewSet(nil)
		live := map[string]Element{}
		for i, n := 0, rapid.IntRange(0, 150).Draw(t, "ops"); i < n; i++ {
			id := rapid.StringMatching(`[a-f]{1,2}`).Draw(t, "id")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				e := Element{ID: id, HeadsHash: rapid.StringMatching(`[0-9]`).Draw(t, "h")}
				s.Put(e)
				live[id] = e
			case 1:
				s.Remove(id)
				delete(live, id)
			default:
				got, ok := s.Get(id)
				want, had := live[id]
				if ok != had || got != want {
					t.Fatalf("Get(%q) = %v %v, want %v %v", id, got, ok, want, had)
				}
				_ = s.Len() // a read in between merges what is pending
			}
		}
		var els []Element
		for _, e := range live {
			els = append(els, e)
		}
		want := NewSet(els)
		if s.Len() != want.Len() || s.Digest() != want.Digest() {
			t.Fatalf("incremental set: %d elements, digest %x; rebuilt: %d, %x", s.Len(), s.Digest().Hash, want.Len(), want.Digest().Hash)
		}
		req := split(Full(4), 8)
		a, err1 := s.Ranges(req)
		b, err2 := want.Ranges(req)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for i := range a {
			if a[i].Count != b[i].Count || a[i].Hash != b[i].Hash || len(a[i].Elements) != len(b[i].Elements) {
				t.Fatalf("range %d differs: %+v vs %+v", i, a[i], b[i])
			}
		}
	})
}
