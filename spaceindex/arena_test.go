package spaceindex

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// stringsOf lists the data of every string and heads hash recs hold.
func stringsOf(recs []Record) [][]byte {
	var out [][]byte
	var add func(v Value)
	add = func(v Value) {
		switch v.kind {
		case KindString:
			out = append(out, strBytes(v.s))
		case KindList:
			for _, e := range v.list() {
				add(e)
			}
		}
	}
	for _, r := range recs {
		out = append(out, strBytes(r.ID), r.HeadsHash)
		for _, v := range r.Details {
			add(v)
		}
	}
	return out
}

// span is the distance from the lowest to the end of the highest of bs.
func span(bs [][]byte) uintptr {
	var lo, hi uintptr
	for _, b := range bs {
		if len(b) == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if lo == 0 || p < lo {
			lo = p
		}
		hi = max(hi, p+uintptr(len(b)))
	}
	return hi - lo
}

// rehome leaves every value as it was and every byte in one buffer of the
// records' own size.
func TestRehomeKeepsValuesInOneBuffer(t *testing.T) {
	recs := []Record{
		{ID: "a1", HeadsHash: []byte("h1"), Details: Details{"name": String("first"), "tags": Strings("x", "yy"), "n": Number(1)}},
		{ID: "b22", Details: Details{"name": String("second"), "l": List(List(String("deep")), Bool(true))}},
		{ID: "c", Details: Details{"empty": String(""), "none": Null()}},
	}
	want := fmt.Sprint(recs)
	size := 0
	for _, b := range stringsOf(recs) {
		size += len(b)
	}
	rehome(recs)
	require.Equal(t, want, fmt.Sprint(recs))
	require.LessOrEqual(t, span(stringsOf(recs)), uintptr(size), "every byte in one buffer")
	recs[0].HeadsHash = append(recs[0].HeadsHash, 'z') // capped: a copy, not a write into the buffer
	require.Equal(t, "a1", recs[0].ID)
}

// A top-k query that fetches its candidates (full text sorted by a detail)
// reads every one into its arena; the page it returns is rehomed, so it
// does not pin the arena's blocks, and it is still right.
func TestTopKResultDoesNotPinTheArena(t *testing.T) {
	ctx := context.Background()
	_, h := openTestIndex(t, Config{})
	var recs []Record
	for i := range 5000 {
		recs = append(recs, Record{ID: fmt.Sprintf("obj%05d", i), HeadsHash: []byte("heads"),
			Details: Details{KeyType: String("task"), KeyName: String(fmt.Sprintf("task name %05d", i)), "rank": Number(float64((i * 7919) % 5000))}})
	}
	require.NoError(t, h.Put(ctx, recs...))
	res, err := h.Query(ctx, Query{Filter: FullText("task"), Sorts: []Sort{{Key: "rank", Desc: true}}, Limit: 20})
	require.NoError(t, err)
	require.Len(t, res.Records, 20)
	var got []float64
	for _, r := range res.Records {
		got = append(got, r.Details["rank"].AsNumber())
	}
	want := []float64{4999, 4998, 4997, 4996, 4995, 4994, 4993, 4992, 4991, 4990, 4989, 4988, 4987, 4986, 4985, 4984, 4983, 4982, 4981, 4980}
	require.Equal(t, want, got)
	require.True(t, slices.IsSortedFunc(got, func(a, b float64) int { return int(b - a) }))
	size := 0
	for _, b := range stringsOf(res.Records) {
		size += len(b)
	}
	require.LessOrEqual(t, span(stringsOf(res.Records)), uintptr(size), "the page's bytes lie in one buffer of their size")
}
