package diff

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

// parseSet reads a compact fixture: "a:1 b:2 c:3" (id:headsHash).
func parseSet(s string) *Set {
	var els []Element
	for _, f := range strings.Fields(s) {
		id, h, _ := strings.Cut(f, ":")
		els = append(els, Element{ID: id, HeadsHash: h})
	}
	return NewSet(els)
}

func TestTable(t *testing.T) {
	tests := []struct {
		local, remote                  string
		changed, remoteOnly, localOnly string
	}{
		{"", "", "", "", ""},
		{"a:1 b:2", "a:1 b:2", "", "", ""},
		{"a:1 b:2", "a:1 b:3", "b", "", ""},
		{"a:1", "a:1 b:2 c:3", "", "b c", ""},
		{"a:1 b:2 c:3", "", "", "", "a b c"},
		{"a:1 b:2 d:4", "a:9 c:3 d:4", "a", "c", "b"},
	}
	for _, tt := range tests {
		res, _, err := Sync(parseSet(tt.local), parseSet(tt.remote))
		require.NoError(t, err)
		require.Equal(t, strings.Fields(tt.changed), nilIfEmpty(res.Changed), tt)
		require.Equal(t, strings.Fields(tt.remoteOnly), nilIfEmpty(res.RemoteOnly), tt)
		require.Equal(t, strings.Fields(tt.localOnly), nilIfEmpty(res.LocalOnly), tt)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return []string{}
	}
	return s
}

func TestSplit(t *testing.T) {
	rs := split(Full(0), 16)
	require.Len(t, rs, 16)
	require.Equal(t, uint64(0), rs[0].From)
	require.Equal(t, uint64(math.MaxUint64), rs[15].To)
	for i := 1; i < len(rs); i++ {
		require.Equal(t, rs[i-1].To+1, rs[i].From)
	}
	require.Len(t, split(Range{From: 5, To: 7}, 16), 3)
	require.Len(t, split(Range{From: 5, To: 5}, 16), 1)
}

func TestPutRemove(t *testing.T) {
	a := parseSet("a:1 b:2 c:3")
	b := parseSet("a:1 b:2")
	b.Put(Element{ID: "c", HeadsHash: "3"})
	ra, _ := a.Ranges([]Range{Full(0)})
	rb, _ := b.Ranges([]Range{Full(0)})
	require.Equal(t, ra[0].Hash, rb[0].Hash)
	b.Remove("c")
	b.Remove("zz")
	rb, _ = b.Ranges([]Range{Full(0)})
	require.NotEqual(t, ra[0].Hash, rb[0].Hash)
	require.Equal(t, 2, b.Len())
}

// TestHundredThousand: exactly the differing ids among 100k objects, in a logarithmic
// number of round trips, through the wire messages.
func TestHundredThousand(t *testing.T) {
	const n = 100_000
	local, remote, want := bigSets(n)
	d := NewDriver(local, 0, 0)
	ranges := 0
	for req := d.Next(); req != nil; req = d.Next() {
		ranges += len(req)
		wireReq, err := RangesFromPB(roundTrip(t, RequestToPB("space", req)))
		require.NoError(t, err)
		resp, err := remote.Ranges(wireReq)
		require.NoError(t, err)
		results, err := ResultsFromPB(roundTripResp(t, ResponseToPB(resp)))
		require.NoError(t, err)
		require.NoError(t, d.Feed(results))
	}
	got := d.Result()
	require.Equal(t, want, got)
	// ceil(log16(n / limit)) levels of splitting plus the first and the element round.
	bound := int(math.Ceil(math.Log(float64(n)/DefaultElementLimit)/math.Log(DefaultFanout))) + 2
	if d.Rounds() > bound {
		t.Fatalf("%d round trips, bound %d", d.Rounds(), bound)
	}
	differing := len(want.Changed) + len(want.RemoteOnly) + len(want.LocalOnly)
	if ranges > 1+differing*DefaultFanout*bound {
		t.Fatalf("%d ranges asked, more than %d", ranges, 1+differing*DefaultFanout*bound)
	}
	t.Logf("100k objects, %d differ: %d round trips, %d ranges", differing, d.Rounds(), ranges)
}

// TestManyDifferencesStayWithinTheRequestLimit: an empty device against 100k objects,
// or thousands of scattered changes, make more ranges differ than one request may
// carry; the driver asks at most protocol.MaxHeadSyncRanges at a time, never for more
// elements than a peer may send (a peer refuses either), and still finds every
// difference. The empty device asks for the peer's elements in bulk: a round trip
// brings about 12k of them, not a level of splitting.
func TestManyDifferencesStayWithinTheRequestLimit(t *testing.T) {
	const n = 100_000
	els := make([]Element, n)
	for i := range els {
		els[i] = Element{ID: fmt.Sprintf("obj-%06d", i), HeadsHash: fmt.Sprintf("h%d", i)}
	}
	remote := NewSet(els)
	changed := NewSet(els)
	var want []string
	for i := 0; i < n; i += 20 { // 5,000 scattered changes
		changed.Put(Element{ID: els[i].ID, HeadsHash: "mine"})
		want = append(want, els[i].ID)
	}
	slices.Sort(want)
	perRound := protocol.MaxHeadSyncElements / bulkLimit * bulkChunk
	for _, tc := range []struct {
		name      string
		local     *Set
		maxRounds int  // 0: no bound here (TestHundredThousand bounds a few differences)
		fullReqs  bool // the largest request is near MaxHeadSyncRanges
		check     func(Result)
	}{
		{"empty device", NewSet(nil), n/perRound + 3, false, func(r Result) { require.Equal(t, n, len(r.RemoteOnly)) }},
		{"5000 changed", changed, 0, true, func(r Result) { require.Equal(t, want, r.Changed) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDriver(tc.local, 0, 0)
			biggest := 0
			for req := d.Next(); req != nil; req = d.Next() {
				biggest = max(biggest, len(req))
				limits := 0
				for _, r := range req {
					limits += int(r.ElementLimit)
				}
				if len(req) > protocol.MaxHeadSyncRanges || limits > protocol.MaxHeadSyncElements {
					t.Fatalf("a request of %d ranges asks for up to %d elements; limits %d and %d", len(req), limits, protocol.MaxHeadSyncRanges, protocol.MaxHeadSyncElements)
				}
				wireReq, err := RangesFromPB(roundTrip(t, RequestToPB("space", req)))
				require.NoError(t, err)
				resp, err := remote.Ranges(wireReq)
				require.NoError(t, err)
				results, err := ResultsFromPB(roundTripResp(t, ResponseToPB(resp)))
				require.NoError(t, err)
				require.NoError(t, d.Feed(results))
			}
			if tc.fullReqs && biggest <= protocol.MaxHeadSyncRanges/2 {
				t.Fatalf("largest request %d ranges; want it near the limit %d", biggest, protocol.MaxHeadSyncRanges)
			}
			if tc.maxRounds > 0 && d.Rounds() > tc.maxRounds {
				t.Fatalf("%d round trips, want at most %d", d.Rounds(), tc.maxRounds)
			}
			t.Logf("%s: %d round trips, largest request %d ranges", tc.name, d.Rounds(), biggest)
			tc.check(d.Result())
		})
	}
}

// TestBulkSplitIsBoundedByItsPartsNotThePeersCount: a peer that claims
// billions of elements in a range we hold nothing of makes the driver ask
// maxBulkParts ranges next, not millions (and a count near the uint32 limit
// does not wrap into zero parts: that divided by zero).
func TestBulkSplitIsBoundedByItsPartsNotThePeersCount(t *testing.T) {
	d := NewDriver(NewSet(nil), 0, 0)
	req := d.Next()
	require.Equal(t, 1, len(req))
	require.NoError(t, d.Feed([]RangeResult{{From: req[0].From, To: req[0].To, Count: math.MaxUint32, Hash: [32]byte{1}}}))
	pending := 0
	for _, r := range d.pending {
		require.Equal(t, uint32(bulkLimit), r.ElementLimit)
		pending++
	}
	require.Equal(t, maxBulkParts, pending)
	require.Equal(t, firstBulkElements/bulkLimit, len(d.Next()), "the first bulk request is small")
}

// TestBulkRequestsStartSmallAndDouble: an empty device's first bulk request
// asks for firstBulkElements elements, so that its download can begin after
// a small answer; each next request asks for twice as many, up to what a
// peer may send.
func TestBulkRequestsStartSmallAndDouble(t *testing.T) {
	remote, _ := manyElements(100_000)
	d := NewDriver(NewSet(nil), 0, 0)
	var asked []int
	for req := d.Next(); req != nil; req = d.Next() {
		elements := 0
		for _, r := range req {
			elements += int(r.ElementLimit)
		}
		asked = append(asked, elements)
		resp, err := remote.Ranges(req)
		require.NoError(t, err)
		require.NoError(t, d.Feed(resp))
	}
	require.Equal(t, 100_000, len(d.Result().RemoteOnly))
	require.True(t, len(asked) >= 5, "rounds", asked)
	require.Equal(t, firstBulkElements, asked[1], "the first bulk request", asked)
	require.Equal(t, 2*firstBulkElements, asked[2], "the second", asked)
	full := protocol.MaxHeadSyncElements / bulkLimit * bulkLimit // whole ranges within the limit
	require.Equal(t, full, asked[4], "then what a peer may send", asked)
	t.Logf("elements asked per round: %v", asked)
}

// TestPartlyEmptyRangesMixBulkAndSplit: a device holding only some of the peer's
// objects, all in one part of the position space (a space filled in order, say), gets
// the rest in bulk and the differences among what it holds by splitting, in one sync.
func TestPartlyEmptyRangesMixBulkAndSplit(t *testing.T) {
	const n = 50_000
	els := make([]Element, n)
	for i := range els {
		els[i] = Element{ID: fmt.Sprintf("obj-%06d", i), HeadsHash: "h"}
	}
	remote := NewSet(els)
	var mine []Element
	var wantChanged, wantRemote []string
	for _, e := range els {
		switch {
		case Pos(e.ID) >= math.MaxUint64/4: // the device lacks three quarters of the positions
			wantRemote = append(wantRemote, e.ID)
		case len(mine)%1000 == 0:
			mine = append(mine, Element{ID: e.ID, HeadsHash: "old"})
			wantChanged = append(wantChanged, e.ID)
		default:
			mine = append(mine, e)
		}
	}
	slices.Sort(wantChanged)
	slices.Sort(wantRemote)
	res, rounds, err := Sync(NewSet(mine), remote)
	require.NoError(t, err)
	require.Equal(t, wantChanged, res.Changed)
	require.Equal(t, wantRemote, res.RemoteOnly)
	require.Equal(t, 0, len(res.LocalOnly))
	t.Logf("%d changed, %d only remote: %d round trips", len(wantChanged), len(wantRemote), rounds)
}

func roundTrip(t *testing.T, m *syncpb.HeadSyncRequest) *syncpb.HeadSyncRequest {
	b, err := m.Marshal()
	require.NoError(t, err)
	var out syncpb.HeadSyncRequest
	require.NoError(t, out.Unmarshal(b))
	return &out
}

func roundTripResp(t *testing.T, m *syncpb.HeadSyncResponse) *syncpb.HeadSyncResponse {
	b, err := m.Marshal()
	require.NoError(t, err)
	var out syncpb.HeadSyncResponse
	require.NoError(t, out.Unmarshal(b))
	return &out
}

// bigSets returns two sets of ~n objects that differ in 10 ids: 5 changed, 3 only remote,
// 2 only local.
func bigSets(n int) (*Set, *Set, Result) {
	els := make([]Element, n)
	for i := range els {
		els[i] = Element{ID: fmt.Sprintf("obj-%06d", i), HeadsHash: fmt.Sprintf("h%d", i)}
	}
	local := NewSet(els)
	remote := NewSet(els)
	var want Result
	for _, i := range []int{7, 1234, 50000, 77777, 99999} {
		remote.Put(Element{ID: els[i].ID, HeadsHash: "changed"})
		want.Changed = append(want.Changed, els[i].ID)
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("remote-%d", i)
		remote.Put(Element{ID: id, HeadsHash: "r"})
		want.RemoteOnly = append(want.RemoteOnly, id)
	}
	for _, i := range []int{42, 60000} {
		remote.Remove(els[i].ID)
		want.LocalOnly = append(want.LocalOnly, els[i].ID)
	}
	slices.Sort(want.Changed)
	slices.Sort(want.RemoteOnly)
	slices.Sort(want.LocalOnly)
	return local, remote, want
}

func TestMessagesRejectBadInput(t *testing.T) {
	_, err := RangesFromPB(&syncpb.HeadSyncRequest{Ranges: []*syncpb.HeadSyncRange{{From: 2, To: 1}}})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = ResultsFromPB(&syncpb.HeadSyncResponse{Results: []*syncpb.HeadSyncRangeResult{{Hash: []byte{1}}}})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = ResultsFromPB(&syncpb.HeadSyncResponse{Results: []*syncpb.HeadSyncRangeResult{{Hash: make([]byte, 32), Count: 2, Elements: []*syncpb.HeadSyncElement{{Id: "a"}}}}})
	require.ErrorIs(t, err, ErrInvalid)
	d := NewDriver(parseSet("a:1"), 0, 0)
	require.ErrorIs(t, d.Feed(nil), ErrInvalid)
	_, err = parseSet("").Ranges([]Range{{From: 3, To: 1}})
	require.ErrorIs(t, err, ErrInvalid)
}

func FuzzMessages(f *testing.F) {
	local := parseSet("a:1 b:2 c:3")
	res, _ := local.Ranges([]Range{Full(1), {From: 0, To: 10, ElementLimit: 5}})
	b, _ := ResponseToPB(res).Marshal()
	f.Add(b)
	b, _ = RequestToPB("s", split(Full(4), 4)).Marshal()
	f.Add(b)
	b, _ = ResponseToPB([]RangeResult{{From: 0, To: math.MaxUint64, Count: math.MaxUint32, Hash: [32]byte{1}}}).Marshal()
	f.Add(b) // a count that wrapped the bulk split's arithmetic
	f.Fuzz(func(t *testing.T, b []byte) {
		var req syncpb.HeadSyncRequest
		if req.Unmarshal(b) == nil {
			if rs, err := RangesFromPB(&req); err == nil {
				_, _ = local.Ranges(rs)
			}
		}
		var resp syncpb.HeadSyncResponse
		if resp.Unmarshal(b) == nil {
			if rs, err := ResultsFromPB(&resp); err == nil {
				// A device holding something, and a new one (whose differing
				// ranges are split by the peer's count).
				for _, mine := range []*Set{local, NewSet(nil)} {
					d := NewDriver(mine, 0, 0)
					_ = d.Feed(rs)
					_ = d.Next()
				}
			}
		}
	})
}

func BenchmarkDiff100kTenDiffer(b *testing.B) {
	local, remote, want := bigSets(100_000)
	b.ResetTimer()
	for b.Loop() {
		res, _, err := Sync(local, remote)
		if err != nil || len(res.Changed) != len(want.Changed) {
			b.Fatal(err, res)
		}
	}
}

// TestGolden pins the element hash, the position function and a wire response.
func TestGolden(t *testing.T) {
	s := parseSet("a:1 b:2 c:3")
	res, err := s.Ranges([]Range{Full(8)})
	require.NoError(t, err)
	wire, err := ResponseToPB(res).Marshal()
	require.NoError(t, err)
	var pos [8]byte
	for i, p := 0, Pos("a"); i < 8; i++ {
		pos[i] = byte(p >> (56 - 8*i))
	}
	golden.Check(t, "diff", map[string][]byte{"range_hash": res[0].Hash[:], "pos_a": pos[:], "response": wire})
}

// TakeWanted hands out each wanted id once, as rounds find them, so a caller
// can fetch while the sync goes on: an empty device learns most of 100k ids
// from the second round on, not only at the end.
func TestTakeWantedHandsOutEachIDOnceAsFound(t *testing.T) {
	for _, tc := range []struct {
		name          string
		local, remote func() *Set
		// firstBy: the round by which some wanted ids are handed out.
		firstBy int
	}{
		{"empty device", func() *Set { return NewSet(nil) }, func() *Set { s, _ := manyElements(100_000); return s }, 2},
		{"few differences", func() *Set { l, _, _ := bigSets(100_000); return l }, func() *Set { _, r, _ := bigSets(100_000); return r }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, remote := tc.local(), tc.remote()
			d := NewDriver(local, 0, 0)
			var taken []string
			firstRound := 0
			for req := d.Next(); req != nil; req = d.Next() {
				resp, err := remote.Ranges(req)
				require.NoError(t, err)
				require.NoError(t, d.Feed(resp))
				got := d.TakeWanted()
				if len(got) > 0 && firstRound == 0 {
					firstRound = d.Rounds()
				}
				taken = append(taken, got...)
			}
			require.Len(t, d.TakeWanted(), 0, "nothing is handed out twice")
			res := d.Result()
			want := append(slices.Clone(res.Changed), res.RemoteOnly...)
			slices.Sort(want)
			slices.Sort(taken)
			require.Equal(t, want, taken)
			require.True(t, len(taken) > 0)
			if tc.firstBy > 0 {
				require.True(t, firstRound <= tc.firstBy, "first wanted ids at round", firstRound)
				require.True(t, firstRound < d.Rounds(), "found before the last round", firstRound, d.Rounds())
			}
		})
	}
}

func manyElements(n int) (*Set, []Element) {
	els := make([]Element, n)
	for i := range els {
		els[i] = Element{ID: fmt.Sprintf("obj-%06d", i), HeadsHash: "h"}
	}
	return NewSet(els), els
}
