package spaceindex

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func fixture() []Record {
	return []Record{
		{ID: "a", Details: Details{"type": String("note"), "name": String("Hello Wörld"), "modified": Number(3),
			"tags": Strings("x", "y"), "n": Number(1)}, SyncStatus: SyncStatus{State: SyncSynced}},
		{ID: "b", Details: Details{"type": String("note"), "name": String("other"), "modified": Number(5),
			"tags": List(), "n": String("1")}, SyncStatus: SyncStatus{State: SyncSyncing}},
		{ID: "c", Details: Details{"type": String("task"), "name": String("ÉTÉ plans"), "modified": Null(),
			"n": Number(2)}},
		{ID: "d", Details: Details{"name": String(""), "n": Null()}},
		{ID: "e", Details: Details{"type": String("task"), "name": String("日本語 テキスト"), "modified": Number(4),
			"tags": Strings("y"), "flag": Bool(true)}, SyncStatus: SyncStatus{State: SyncError, Reason: SyncErrorTooLarge}},
		{ID: "f", Details: Details{"type": String("page"), "modified": Number(1), "n": Number(1.5),
			"tags": String("x")}, SyncStatus: SyncStatus{State: SyncSynced}},
	}
}

// openTestIndex opens a fresh index in a temporary registry.
func openTestIndex(t testing.TB, cfg Config) (*Registry, *Handle) {
	t.Helper()
	reg := NewRegistry(t.TempDir(), WithValueLogGC(0))
	t.Cleanup(func() { require.NoError(t, reg.CloseAll()) })
	h, err := reg.Open(context.Background(), "space", "inc", cfg)
	require.NoError(t, err)
	return reg, h
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestQuerySemantics(t *testing.T) {
	ctx := context.Background()
	cfg := Config{IndexedKeys: []string{"n"}}
	_, h := openTestIndex(t, cfg)
	recs := fixture()
	require.NoError(t, h.Put(ctx, recs...))
	desc := func(k string) []Sort { return []Sort{{Key: k, Desc: true}} }
	asc := func(k string) []Sort { return []Sort{{Key: k}} }
	cases := []struct {
		name  string
		q     Query
		want  []string
		total int // when != len(want)
	}{
		{"all", Query{}, []string{"a", "b", "c", "d", "e", "f"}, 0},
		{"eq", Query{Filter: Eq("type", String("note"))}, []string{"a", "b"}, 0},
		{"eq other kind", Query{Filter: Eq("n", Number(1))}, []string{"a"}, 0},
		{"eq null", Query{Filter: Eq("modified", Null())}, []string{"c"}, 0},
		{"ne matches missing", Query{Filter: Ne("type", String("note"))}, []string{"c", "d", "e", "f"}, 0},
		{"gt same kind only", Query{Filter: Gt("n", Number(1))}, []string{"c", "f"}, 0},
		{"gte", Query{Filter: Gte("n", Number(1))}, []string{"a", "c", "f"}, 0},
		{"lt string", Query{Filter: Lt("n", String("2"))}, []string{"b"}, 0},
		{"lte skips null", Query{Filter: Lte("modified", Number(3))}, []string{"a", "f"}, 0},
		{"range on list", Query{Filter: Gt("tags", List(String("x")))}, []string{"a", "e"}, 0},
		{"in", Query{Filter: In("type", String("note"), String("page"))}, []string{"a", "b", "f"}, 0},
		{"in mixed kinds", Query{Filter: In("n", Number(2), String("1"))}, []string{"b", "c"}, 0},
		{"in empty", Query{Filter: In("type")}, []string{}, 0},
		{"not in", Query{Filter: NotIn("type", String("note"))}, []string{"c", "d", "e", "f"}, 0},
		{"exists excludes null", Query{Filter: Exists("modified")}, []string{"a", "b", "e", "f"}, 0},
		{"empty string or missing", Query{Filter: Empty("name")}, []string{"d", "f"}, 0},
		{"empty null or missing", Query{Filter: Empty("modified")}, []string{"c", "d"}, 0},
		{"empty list", Query{Filter: Empty("tags")}, []string{"b", "c", "d"}, 0},
		{"contains list element", Query{Filter: Contains("tags", String("y"))}, []string{"a", "e"}, 0},
		{"contains list or substring", Query{Filter: Contains("tags", String("x"))}, []string{"a", "f"}, 0},
		{"contains folded", Query{Filter: Contains("name", String("WÖR"))}, []string{"a"}, 0},
		{"contains accent", Query{Filter: Contains("name", String("ete pl"))}, []string{"c"}, 0},
		{"fulltext accent fold", Query{Filter: FullText("ete")}, []string{"c"}, 0},
		{"fulltext prefixes", Query{Filter: FullText("wor HEL")}, []string{"a"}, 0},
		{"fulltext cjk", Query{Filter: FullText("テキ")}, []string{"e"}, 0},
		{"fulltext none", Query{Filter: FullText("zzz")}, []string{}, 0},
		{"fulltext empty", Query{Filter: FullText(" ,")}, []string{"a", "b", "c", "d", "e", "f"}, 0},
		{"fulltext and eq", Query{Filter: And(FullText("o"), Eq("type", String("note")))}, []string{"b"}, 0},
		{"or", Query{Filter: Or(Eq("type", String("page")), FullText("other"))}, []string{"b", "f"}, 0},
		{"nested", Query{Filter: And(Eq("type", String("note")), Or(Eq("modified", Number(5)), Exists("flag")))}, []string{"b"}, 0},
		{"empty and", Query{Filter: And()}, []string{"a", "b", "c", "d", "e", "f"}, 0},
		{"empty or", Query{Filter: Or()}, []string{}, 0},
		{"id in", Query{Filter: In(KeyID, String("c"), String("a"), String("zz"))}, []string{"a", "c"}, 0},
		{"sync status", Query{Filter: Eq(KeySyncStatus, Number(float64(SyncSynced)))}, []string{"a", "f"}, 0},
		{"sort desc: null before missing", Query{Sorts: desc("modified")}, []string{"b", "e", "a", "f", "c", "d"}, 0},
		{"sort asc: missing last", Query{Sorts: asc("modified")}, []string{"c", "f", "a", "e", "b", "d"}, 0},
		{"sort mixed kinds", Query{Sorts: asc("n")}, []string{"d", "a", "f", "c", "b", "e"}, 0},
		{"multi-key sort", Query{Sorts: []Sort{{Key: "type"}, {Key: "name", Desc: true}}}, []string{"b", "a", "f", "e", "c", "d"}, 0},
		{"sort by list", Query{Sorts: desc("tags")}, []string{"e", "a", "b", "f", "c", "d"}, 0},
		{"page", Query{Sorts: desc("modified"), Offset: 1, Limit: 2}, []string{"e", "a"}, 6},
		{"offset past end", Query{Offset: 10}, []string{}, 6},
		{"type sorted limit", Query{Filter: Eq("type", String("task")), Sorts: desc("modified"), Limit: 1}, []string{"e"}, 2},
		{"type sorted asc", Query{Filter: Eq("type", String("task")), Sorts: asc("modified"), Limit: 5}, []string{"c", "e"}, 0},
		{"type sorted by missing key", Query{Filter: Eq("type", String("note")), Sorts: desc("name"), Limit: 1}, []string{"b"}, 2},
		{"ordered index with filter", Query{Filter: Exists("tags"), Sorts: asc("name"), Limit: 2}, []string{"a", "b"}, 4},
		{"range on indexed", Query{Filter: Gt("modified", Number(3)), Sorts: asc("modified")}, []string{"e", "b"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(tc.q, cfg)
			require.NoError(t, err)
			mem := c.Apply(recs)
			got, err := h.Query(ctx, tc.q)
			require.NoError(t, err)
			total := tc.total
			if total == 0 {
				total = len(tc.want)
			}
			require.Equal(t, tc.want, ids(mem.Records), "in memory")
			require.Equal(t, total, mem.Total, "in memory total")
			require.Equal(t, tc.want, ids(got.Records), "storage")
			checkResult(t, tc.q, mem, got, "storage")
			exact := tc.q
			exact.ExactTotal = true
			got, err = h.Query(ctx, exact)
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got.Records), "storage, exact total")
			require.Equal(t, total, got.Total, "storage exact total")
			require.True(t, got.TotalExact)
		})
	}
}

func TestQuerySelectedKeysAndRecordFields(t *testing.T) {
	ctx := context.Background()
	_, h := openTestIndex(t, Config{})
	recs := fixture()
	recs[0].HeadsHash = []byte("h1")
	require.NoError(t, h.Put(ctx, recs...))
	res, err := h.Query(ctx, Query{Filter: Eq("type", String("note")), Sorts: []Sort{{Key: "modified"}}, Keys: []string{"name"}, Limit: 1})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	require.Equal(t, Details{"name": String("Hello Wörld")}, res.Records[0].Details)
	require.Equal(t, []byte("h1"), res.Records[0].HeadsHash)
	require.Equal(t, SyncStatus{State: SyncSynced}, res.Records[0].SyncStatus)

	r, err := h.Get(ctx, "e")
	require.NoError(t, err)
	require.Equal(t, SyncStatus{State: SyncError, Reason: SyncErrorTooLarge}, r.SyncStatus)
	require.NoError(t, h.SetSyncStatus(ctx, "e", SyncStatus{State: SyncSynced}))
	res, err = h.Query(ctx, Query{Filter: Eq(KeySyncStatus, Number(float64(SyncSynced)))})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "e", "f"}, ids(res.Records))
	require.ErrorIs(t, h.SetSyncStatus(ctx, "nope", SyncStatus{}), ErrNotFound)
	_, err = h.Get(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)

	var heads []string
	require.NoError(t, h.ForEachHead(ctx, func(id string, hh []byte) error {
		heads = append(heads, id+"="+string(hh))
		return nil
	}))
	require.Equal(t, []string{"a=h1", "b=", "c=", "d=", "e=", "f="}, heads)

	require.NoError(t, h.Delete(ctx, "a", "missing"))
	res, err = h.Query(ctx, Query{Filter: FullText("hello")})
	require.NoError(t, err)
	require.Zero(t, res.Total)
	res, err = h.Query(ctx, Query{Filter: Eq("type", String("note")), Sorts: []Sort{{Key: "modified"}}, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total)
	require.Equal(t, []string{"b"}, ids(res.Records))

	_, err = h.Query(ctx, Query{Limit: -1})
	require.ErrorIs(t, err, ErrInvalidQuery)
	_, err = h.Query(ctx, Query{Filter: Eq("", Null())})
	require.ErrorIs(t, err, ErrInvalidQuery)
	require.ErrorIs(t, h.Put(ctx, Record{}), ErrInvalidRecord)
}

// planOf returns the plan the index chooses for c (test helper).
func planOf(t interface{ Fatal(...any) }, h *Handle, c *Compiled) planKind {
	ix := h.sp.idx
	txn := ix.db.NewTransaction(false)
	defer txn.Discard()
	x := &exec{ctx: context.Background(), ix: ix, txn: txn, c: c, keys: neededKeys(c), want: want(c.q)}
	x.needAll = x.want < 0 || c.q.ExactTotal
	p, err := x.choosePlan()
	if err != nil {
		t.Fatal(err)
	}
	return p.kind
}

// checkResult fails unless got is a correct storage answer for a query
// whose reference answer (Compiled.Apply) is want: the same records in the
// same order, the same HasMore, the exact total when asked (or claimed),
// else a lower bound of at least the page's end plus one.
func checkResult(t interface{ Fatalf(string, ...any) }, q Query, want, got Result, what string) {
	bad := ""
	switch {
	case !slices.Equal(ids(want.Records), ids(got.Records)):
		bad = "records"
	case want.HasMore != got.HasMore:
		bad = "hasMore"
	case q.ExactTotal && !got.TotalExact:
		bad = "total not exact though asked"
	case got.TotalExact && got.Total != want.Total:
		bad = "exact total"
	case !got.TotalExact && (got.Total > want.Total || got.Total < q.Offset+len(got.Records)+1 || !got.HasMore):
		bad = "lower bound"
	}
	if bad != "" {
		t.Fatalf("%s: %s differs for query %v sorts %v limit %d offset %d exact %v:\nmemory  %v total %d more %v\nstorage %v total %d (exact %v) more %v",
			what, bad, q.Filter, q.Sorts, q.Limit, q.Offset, q.ExactTotal,
			ids(want.Records), want.Total, want.HasMore, ids(got.Records), got.Total, got.TotalExact, got.HasMore)
	}
}

// Property: for random records (inserted, updated and deleted), random
// index configurations and random queries, every storage plan and the
// in-memory matcher + comparator return the same ids in the same order and
// the same HasMore, and the total is exact when asked or claimed, else a
// lower bound past the page.
func TestQueryStorageMatchesMemory(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(t.TempDir(), WithValueLogGC(0))
	defer reg.CloseAll()
	configs := []Config{
		{IndexedKeys: []string{"n"}, FullTextKeys: []string{"name", "tags"}},
		{IndexedKeys: []string{"n", "other"}},
		{},
	}
	keys := []string{"type", "name", "modified", "created", "n", "tags", "other"}
	words := []string{"alpha", "alps", "Beta", "bêta", "gamma", "日本", "x"}
	genDetail := rapid.Custom(func(t *rapid.T) Value {
		switch rapid.IntRange(0, 4).Draw(t, "shape") {
		case 0:
			return String(rapid.SampledFrom([]string{"note", "task", "page"}).Draw(t, "type"))
		case 1:
			n := rapid.IntRange(1, 3).Draw(t, "words")
			s := ""
			for i := 0; i < n; i++ {
				s += rapid.SampledFrom(words).Draw(t, "w") + " "
			}
			return String(s)
		case 2, 3:
			return Number(float64(rapid.IntRange(-2, 5).Draw(t, "num")))
		}
		return genValue(1).Draw(t, "any")
	})
	const idSpace = 40
	idOf := func(i int) string { return fmt.Sprintf("id%02d", i) }
	genRecord := func(t *rapid.T, id string) Record {
		d := Details{}
		for _, k := range keys {
			if rapid.IntRange(0, 4).Draw(t, "has "+k) > 0 {
				d[k] = genDetail.Draw(t, k)
			}
		}
		return Record{ID: id, Details: d, SyncStatus: SyncStatus{State: SyncState(rapid.IntRange(0, 2).Draw(t, "sync"))}}
	}
	var genFilter func(depth int) *rapid.Generator[Filter]
	genFilter = func(depth int) *rapid.Generator[Filter] {
		return rapid.Custom(func(t *rapid.T) Filter {
			op := Op(rapid.IntRange(0, int(numOps)-1).Draw(t, "op"))
			if (op == OpAnd || op == OpOr) && depth <= 0 {
				op = OpEq
			}
			switch op {
			case OpAll:
				return Filter{}
			case OpAnd, OpOr:
				return Filter{Op: op, Children: rapid.SliceOfN(genFilter(depth-1), 0, 3).Draw(t, "children")}
			case OpFullText:
				return FullText(rapid.SampledFrom([]string{"al", "alp", "BETA", "bet gam", "日", "", "zz", "x", "task"}).Draw(t, "text"))
			case OpIn, OpNotIn:
				vals := rapid.SliceOfN(genDetail, 0, 3).Draw(t, "vals")
				if rapid.Bool().Draw(t, "ids") {
					for _, i := range rapid.SliceOfN(rapid.IntRange(0, idSpace-1), 0, 3).Draw(t, "in ids") {
						vals = append(vals, String(idOf(i)))
					}
				}
				return Filter{Op: op, Key: rapid.SampledFrom(append(keys, KeyID, KeySyncStatus)).Draw(t, "key"), Value: List(vals...)}
			}
			key := rapid.SampledFrom(append(keys, KeySyncStatus, KeyID)).Draw(t, "key")
			val := genDetail.Draw(t, "val")
			if key == KeyID && rapid.Bool().Draw(t, "real id") {
				val = String(idOf(rapid.IntRange(0, idSpace-1).Draw(t, "id")))
			}
			return Filter{Op: op, Key: key, Value: val}
		})
	}
	// Equalities on indexed keys: they drive the intersect and candidate plans.
	genEq := rapid.Custom(func(t *rapid.T) Filter {
		switch rapid.IntRange(0, 2).Draw(t, "eq key") {
		case 0:
			return Eq("n", Number(float64(rapid.IntRange(-2, 5).Draw(t, "eq n"))))
		case 1:
			return Eq(KeySyncStatus, Number(float64(rapid.IntRange(0, 2).Draw(t, "eq sync"))))
		}
		return Eq("other", genDetail.Draw(t, "eq other"))
	})
	n := 0
	plans := map[planKind]int{}
	lowerBounds := 0
	defer func() { t.Logf("plans used: %v; %d answers with a lower-bound total", plans, lowerBounds) }()
	rapid.Check(t, func(t *rapid.T) {
		n++
		inc := fmt.Sprint(n)
		cfg := rapid.SampledFrom(configs).Draw(t, "config")
		h, err := reg.Open(ctx, "prop", inc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := reg.Delete(ctx, "prop"); err != nil {
				t.Fatal(err)
			}
		}()
		live := map[string]Record{}
		for round := 0; round < 4; round++ {
			var batch []Record
			for _, i := range rapid.SliceOfN(rapid.IntRange(0, idSpace-1), 0, 16).Draw(t, "ids") {
				id := idOf(i)
				r := genRecord(t, id)
				if old, ok := live[id]; ok && rapid.Bool().Draw(t, "amend") {
					// Change one key only: most index keys stay, values must not go stale.
					r = Record{ID: id, Details: maps.Clone(old.Details), SyncStatus: old.SyncStatus}
					k := rapid.SampledFrom([]string{"name", "modified", "n", "tags", "other", KeySyncStatus}).Draw(t, "amend key")
					switch {
					case k == KeySyncStatus:
						r.SyncStatus.State = SyncState(rapid.IntRange(0, 2).Draw(t, "sync"))
					case rapid.IntRange(0, 3).Draw(t, "unset") == 0:
						delete(r.Details, k)
					default:
						r.Details[k] = genDetail.Draw(t, k)
					}
				}
				batch = append(batch, r)
				live[r.ID] = r
			}
			if err := h.Put(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			var del []string
			for _, i := range rapid.SliceOfN(rapid.IntRange(0, idSpace-1), 0, 4).Draw(t, "del") {
				id := idOf(i)
				del = append(del, id)
				delete(live, id)
			}
			if err := h.Delete(ctx, del...); err != nil {
				t.Fatal(err)
			}
		}
		all := make([]Record, 0, len(live))
		for _, r := range live {
			all = append(all, r)
		}
		for qi := 0; qi < 8; qi++ {
			q := Query{Filter: genFilter(2).Draw(t, "filter")}
			var and []Filter
			if rapid.Bool().Draw(t, "typed") {
				// The common app shape, which drives the composite plan.
				and = append(and, Eq("type", String(rapid.SampledFrom([]string{"note", "task"}).Draw(t, "t"))))
			}
			and = append(and, rapid.SliceOfN(genEq, 0, 2).Draw(t, "eqs")...)
			if rapid.Bool().Draw(t, "no other filter") {
				q.Filter = Filter{}
			}
			if len(and) > 0 {
				q.Filter = And(append(and, q.Filter)...)
			}
			if rapid.Bool().Draw(t, "sort indexed") {
				q.Sorts = append(q.Sorts, Sort{Key: rapid.SampledFrom([]string{"modified", "name", "created", "n", KeySyncStatus}).Draw(t, "sort key"),
					Desc: rapid.Bool().Draw(t, "desc")})
			}
			for _, k := range rapid.SliceOfN(rapid.SampledFrom(append(keys, KeySyncStatus, KeyID)), 0, 2).Draw(t, "sorts") {
				q.Sorts = append(q.Sorts, Sort{Key: k, Desc: rapid.Bool().Draw(t, "desc")})
			}
			q.Limit = rapid.IntRange(0, 5).Draw(t, "limit")
			q.Offset = rapid.IntRange(0, 3).Draw(t, "offset")
			q.ExactTotal = rapid.Bool().Draw(t, "exact total")
			c, err := Compile(q, cfg)
			if err != nil {
				t.Fatal(err)
			}
			kind := planOf(t, h, c)
			plans[kind]++
			want := c.Apply(all)
			got, err := h.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, q, want, got, "plan "+kind.String())
			if !got.TotalExact {
				lowerBounds++
			}
		}
	})
}

// Updating a record that keeps its type and sort value must refresh the
// covering value of its composite entries.
func TestUpdateRefreshesCompositeEntries(t *testing.T) {
	ctx := context.Background()
	_, h := openTestIndex(t, Config{})
	require.NoError(t, h.Put(ctx, fixture()...))
	q := Query{Filter: And(Eq("type", String("task")), Eq("name", String("renamed"))),
		Sorts: []Sort{{Key: "modified", Desc: true}}, Limit: 10}
	require.Equal(t, planComposite, planOf(t, h, mustCompile(t, q)))
	res, err := h.Query(ctx, q)
	require.NoError(t, err)
	require.Zero(t, res.Total)
	e, err := h.Get(ctx, "e")
	require.NoError(t, err)
	e.Details["name"] = String("renamed")
	require.NoError(t, h.Put(ctx, e))
	res, err = h.Query(ctx, q)
	require.NoError(t, err)
	require.Equal(t, []string{"e"}, ids(res.Records))
	require.Equal(t, String("renamed"), res.Records[0].Details["name"])

	require.NoError(t, h.SetSyncStatus(ctx, "e", SyncStatus{State: SyncQueued}))
	res, err = h.Query(ctx, Query{Filter: And(Eq("type", String("task")), Eq(KeySyncStatus, Number(float64(SyncQueued)))),
		Sorts: []Sort{{Key: "modified"}}, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"e"}, ids(res.Records))
	require.Equal(t, SyncQueued, res.Records[0].SyncStatus.State)

	// Re-putting an identical record writes nothing and changes nothing.
	e, err = h.Get(ctx, "e")
	require.NoError(t, err)
	require.NoError(t, h.Put(ctx, e))
	res, err = h.Query(ctx, Query{Filter: Eq("type", String("task")), Sorts: []Sort{{Key: "name"}}, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 2, res.Total)
}

func mustCompile(t *testing.T, q Query) *Compiled {
	t.Helper()
	c, err := Compile(q, Config{})
	require.NoError(t, err)
	return c
}

// A batch larger than one transaction is split at record boundaries; the
// counters and postings still add up. A record that cannot fit in one
// transaction is refused.
func TestPutSplitsLargeBatches(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(t.TempDir(), WithValueLogGC(0), WithBadgerOptions(tinyOptions))
	defer reg.CloseAll()
	h, err := reg.Open(ctx, "s", "1", Config{})
	require.NoError(t, err)
	recs := genRecords(600, 5)
	require.NoError(t, h.Put(ctx, recs...))
	require.Greater(t, int64(600*1000), h.sp.idx.batchBytes, "the batch must span several transactions")
	cfg := Config{}
	for _, q := range []Query{
		{},
		{Filter: Eq(KeyType, String("task")), Sorts: []Sort{{Key: KeyModified, Desc: true}}, Limit: 7},
		{Filter: FullText(recs[17].Details[KeyName].AsString()[:3]), Limit: 5},
	} {
		got, err := h.Query(ctx, q)
		require.NoError(t, err)
		want := mustCompileCfg(t, q, cfg).Apply(recs)
		require.Equal(t, want.Total, got.Total)
		require.Equal(t, ids(want.Records), ids(got.Records))
	}
	// Deleting half the records keeps the counters exact.
	var del []string
	for _, r := range recs[:300] {
		del = append(del, r.ID)
	}
	require.NoError(t, h.Delete(ctx, del...))
	q := Query{Filter: Eq(KeyType, String("note")), Sorts: []Sort{{Key: KeyName}}, Limit: 3}
	got, err := h.Query(ctx, q)
	require.NoError(t, err)
	want := mustCompileCfg(t, q, cfg).Apply(recs[300:])
	require.Equal(t, want.Total, got.Total)
	require.Equal(t, ids(want.Records), ids(got.Records))

	// A large value goes to the value log and fits; too many entries do not.
	big := Record{ID: "big", Details: Details{"body": String(strings.Repeat("word ", 20000))}}
	require.NoError(t, h.Put(ctx, big))
	var words []string
	for i := range 5000 {
		words = append(words, fmt.Sprint("w", i))
	}
	huge := Record{ID: "huge", Details: Details{KeyName: Strings(words...)}}
	require.ErrorIs(t, h.Put(ctx, huge), ErrInvalidRecord)
}

func mustCompileCfg(t *testing.T, q Query, cfg Config) *Compiled {
	t.Helper()
	c, err := Compile(q, cfg)
	require.NoError(t, err)
	return c
}

// Full text covers every string detail but the type by default (lists of
// strings included, other kinds not), only the declared keys when a space declares
// them, and at most MaxRecordTokens distinct tokens of a record, counted in
// document order (keys sorted): index and matcher agree on all three.
func TestFullTextCoversEveryStringDetail(t *testing.T) {
	ctx := context.Background()
	var long []string
	for i := range MaxRecordTokens + 100 {
		long = append(long, fmt.Sprintf("w%04d", i))
	}
	recs := []Record{
		{ID: "a", Details: Details{"name": String("plain"), "body": String("Zebra crossing"), "n": Number(7), KeyType: String("memo")}},
		{ID: "b", Details: Details{"tags": Strings("urgent", "home"), "author": String("Ada")}},
		{ID: "c", Details: Details{"a": String("first words"), "z": String(strings.Join(long, " "))}},
	}
	for _, tc := range []struct {
		cfg   Config
		query string
		want  []string
	}{
		{Config{}, "zeb", []string{"a"}},
		{Config{}, "urg ada", []string{"b"}},
		{Config{}, "7", nil},
		{Config{}, "memo", nil}, // the type is not text
		{Config{}, "first", []string{"c"}},
		{Config{}, fmt.Sprintf("w%04d", MaxRecordTokens-3), []string{"c"}}, // "first", "words" come first
		{Config{}, fmt.Sprintf("w%04d", MaxRecordTokens-2), nil},
		{Config{FullTextKeys: []string{"name"}}, "zeb", nil},
		{Config{FullTextKeys: []string{"name"}}, "pla", []string{"a"}},
		{Config{FullTextKeys: []string{}}, "pla", nil},
	} {
		t.Run(fmt.Sprint(tc.cfg.FullTextKeys, tc.query), func(t *testing.T) {
			_, h := openTestIndex(t, tc.cfg)
			require.NoError(t, h.Put(ctx, recs...))
			q := Query{Filter: FullText(tc.query)}
			got, err := h.Query(ctx, q)
			require.NoError(t, err)
			want := mustCompileCfg(t, q, tc.cfg).Apply(recs)
			require.Equal(t, tc.want, nilIfEmpty(ids(want.Records)), "in memory")
			require.Equal(t, tc.want, nilIfEmpty(ids(got.Records)), "storage")
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
