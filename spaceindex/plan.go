package spaceindex

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Storage plans. Every plan produces a superset of the matching records
// (or exactly them where noted) and re-checks each candidate with the
// compiled matcher, so the in-memory semantics (Compiled.Apply) are the
// single source of truth and the plans only decide how much is read.
//
// The cost model, in what a plan reads per candidate: a covering entry (a
// record, or a composite entry carrying one) is decoded in place; any other
// index entry costs a point lookup of the record (about three times as
// much); an index key alone (for counting or intersecting) costs a fraction
// of either. A plan whose candidates arrive in the result's order (id order
// when the query has no sort; the sort key's order for an ordered index)
// stops once it has the page and one more match, unless the query asks for
// an exact total that no counter gives; a plan in another order reads every
// candidate and keeps only the best Offset+Limit (a bounded top-k).
type planKind uint8

const (
	planFullScan  planKind = iota // every record in id order (covering)
	planIDs                       // id eq/in: point lookups
	planFullText                  // posting-list intersection, id order
	planComposite                 // ordered scan of (type = v, sort key), covering
	planCandidate                 // candidate ids from secondary ranges, fetched
	planOrdered                   // ordered scan of the first sort key's index, fetched
	planIntersect                 // merge of id-ordered equality ranges, fetched in id order
	planTypeScan                  // every composite entry of type = v (covering), any order
)

var planNames = [...]string{"fullscan", "ids", "fulltext", "composite", "candidates", "ordered", "intersect", "typescan"}

func (k planKind) String() string { return planNames[k] }

// keyRange is a scan over index keys: from start while the key is below hi
// (or, with hiPrefix, while it starts with hi or is below it).
type keyRange struct {
	start    []byte
	hi       []byte
	hiPrefix bool
}

func (r keyRange) contains(k []byte) bool {
	if r.hiPrefix && bytes.HasPrefix(k, r.hi) {
		return true
	}
	return bytes.Compare(k, r.hi) < 0
}

// plan is the chosen access path.
type plan struct {
	kind   planKind
	ids    []string   // planIDs, planFullText, planCandidate: candidates in id order
	tokens []string   // planFullText
	ranges []keyRange // planCandidate, before its ids are read
	eqs    [][]byte   // planIntersect: the equality prefixes ('x' esc(key) enc(value))
	// exact: the candidates are exactly the matches (no conjunct outside
	// the access path), so a count needs no record.
	exact   bool
	prefix  []byte // planComposite, planOrdered, planTypeScan: index prefix before the value
	desc    bool   // planComposite, planOrdered
	counter []byte // a counter giving the exact total, if any
}

// conjuncts flattens the top-level AND of f.
func conjuncts(f Filter) []Filter {
	switch f.Op {
	case OpAll:
		return nil
	case OpAnd:
		var out []Filter
		for _, c := range f.Children {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []Filter{f}
}

func (ix *index) isIndexed(k string) bool { _, ok := ix.secPrefix[k]; return ok }

// eqPrefix is the secondary-index prefix of the records whose key equals v.
func (ix *index) eqPrefix(key string, v Value) []byte {
	return AppendValue(slices.Clone(ix.secPrefix[key]), v)
}

// want is how many matches in order a page needs (Offset + Limit), or -1
// for every match.
func want(q Query) int {
	if q.Limit <= 0 {
		return -1
	}
	return q.Offset + q.Limit
}

// candidateBudget is how many candidate ids of an equality range a sorted
// query reads before it prefers an ordered scan that stops at the page: with
// n records and a page of w, fetching c candidates costs c lookups and the
// ordered scan about w·n/c, which is less once c² > w·n.
func candidateBudget(w, n int) int {
	if w < 0 {
		return math.MaxInt
	}
	return int(math.Sqrt(float64(w)*float64(max(n, 1)))) + w
}

// choosePlan picks the access path for c. It may read index keys to size
// candidate sets (an equality range is read up to candidateBudget ids, and
// those ids are the candidates when it ends within it).
func (x *exec) choosePlan() (plan, error) {
	ix, q := x.ix, x.c.q
	cs := conjuncts(q.Filter)
	// 1. Point lookups by id.
	for _, f := range cs {
		if f.Key == KeyID && (f.Op == OpEq || f.Op == OpIn) {
			vals := []Value{f.Value}
			if f.Op == OpIn {
				vals = inOperands(f.Value)
			}
			var ids []string
			for _, v := range vals {
				if v.kind == KindString && v.s != "" && len(v.s) <= MaxIDLen {
					ids = append(ids, v.s)
				}
			}
			slices.Sort(ids)
			return plan{kind: planIDs, ids: slices.Compact(ids)}, nil
		}
	}
	// 2. Full text: posting lists are usually the most selective input.
	for _, f := range cs {
		if f.Op == OpFullText && f.Value.kind == KindString {
			if toks := Tokens(f.Value.s); len(toks) > 0 {
				slices.Sort(toks)
				return plan{kind: planFullText, tokens: slices.Compact(toks), exact: len(cs) == 1}, nil
			}
		}
	}
	var typeEq *Filter // type = v
	var eqs []Filter   // equalities on indexed keys (type = v included)
	for i, f := range cs {
		if f.Op != OpEq || !ix.isIndexed(f.Key) {
			continue
		}
		eqs = append(eqs, f)
		if typeEq == nil && slices.Contains(compositePrefixKeys, f.Key) {
			typeEq = &cs[i]
		}
	}
	if len(q.Sorts) == 0 {
		return ix.planIDOrder(cs, eqs, typeEq), nil
	}
	return x.planSorted(cs, eqs, typeEq)
}

// planIDOrder plans a query without sorts: its order is id order, which
// the record prefix, every equality range and their intersection share, so
// each of those stops at the page.
func (ix *index) planIDOrder(cs, eqs []Filter, typeEq *Filter) plan {
	if len(eqs) > 0 {
		p := plan{kind: planIntersect, exact: len(eqs) == len(cs)}
		for _, f := range eqs {
			p.eqs = append(p.eqs, ix.eqPrefix(f.Key, f.Value))
		}
		if typeEq != nil && len(cs) == 1 {
			p.counter = counterKey(typeEq.Key, typeEq.Value)
		}
		return p
	}
	if p, ok := ix.planRanges(cs); ok {
		return p
	}
	p := plan{kind: planFullScan}
	if len(cs) == 0 {
		p.counter, p.exact = countKey(), true
	}
	return p
}

// planSorted plans a sorted query.
func (x *exec) planSorted(cs, eqs []Filter, typeEq *Filter) (plan, error) {
	ix, q := x.ix, x.c.q
	s0 := q.Sorts[0]
	w := want(q)
	// type = v sorted by a key paired with it: the composite index's order
	// is the result order and its entries carry the record.
	if typeEq != nil && ix.compositeSort[s0.Key] && s0.Key != typeEq.Key {
		p := plan{kind: planComposite, prefix: compositePrefix(typeEq.Key, typeEq.Value, s0.Key), desc: s0.Desc,
			exact: len(cs) == 1}
		if p.exact {
			p.counter = counterKey(typeEq.Key, typeEq.Value)
		}
		return p, nil
	}
	// A small equality range: fetch its records and sort them.
	n := -1
	for _, f := range eqs {
		budget := math.MaxInt
		if w >= 0 {
			if n < 0 {
				c, err := readCounter(x.txn, countKey())
				if err != nil {
					return plan{}, fmt.Errorf("spaceindex: count: %w", err)
				}
				n = c
			}
			budget = candidateBudget(w, n)
		}
		if typeEq != nil && f.Key == typeEq.Key && Equal(f.Value, typeEq.Value) {
			continue // the type scan below reads the same records without lookups
		}
		pre := ix.eqPrefix(f.Key, f.Value)
		ids, complete, err := x.rangeIDs([]keyRange{{start: pre, hi: pre, hiPrefix: true}}, budget)
		if err != nil {
			return plan{}, err
		}
		if complete {
			return plan{kind: planCandidate, ids: ids, exact: len(cs) == 1}, nil
		}
	}
	// Sorted by an indexed key with a limit: scan in order, stop at the page.
	// Not when every match must be counted through record lookups: a
	// covering scan counts cheaper.
	needAll := w < 0 || q.ExactTotal
	if w >= 0 && ix.isIndexed(s0.Key) && (len(cs) == 0 || !needAll) {
		p := plan{kind: planOrdered, prefix: slices.Clone(ix.secPrefix[s0.Key]), desc: s0.Desc}
		if len(cs) == 0 {
			p.counter, p.exact = countKey(), true
		}
		return p, nil
	}
	if typeEq != nil {
		return plan{kind: planTypeScan, prefix: compositePrefix(typeEq.Key, typeEq.Value, ix.typeScanKey(typeEq.Key)),
			exact: len(cs) == 1}, nil
	}
	if p, ok := ix.planRanges(cs); ok {
		return p, nil
	}
	return plan{kind: planFullScan, exact: len(cs) == 0}, nil
}

// typeScanKey is a composite sort key paired with pk: every record with pk
// has one entry under it (missing values included).
func (ix *index) typeScanKey(pk string) string {
	for _, k := range ix.indexed {
		if ix.compositeSort[k] && k != pk {
			return k
		}
	}
	return "" // unreachable: the common keys include several composite sort keys
}

// planRanges plans membership or a range on an indexed key.
func (ix *index) planRanges(cs []Filter) (plan, bool) {
	for _, f := range cs {
		if f.Op != OpIn || !ix.isIndexed(f.Key) {
			continue
		}
		p := plan{kind: planCandidate, exact: len(cs) == 1}
		for _, v := range inOperands(f.Value) {
			pre := ix.eqPrefix(f.Key, v)
			p.ranges = append(p.ranges, keyRange{start: pre, hi: pre, hiPrefix: true})
		}
		return p, true
	}
	for _, f := range cs {
		if !ix.isIndexed(f.Key) {
			continue
		}
		pre := ix.secPrefix[f.Key]
		lo, hi := kindTagRange(f.Value.kind)
		enc := AppendValue(slices.Clone(pre), f.Value)
		switch f.Op {
		case OpGt, OpGte:
			// Gt re-checks: the range starts at the operand itself.
			return plan{kind: planCandidate, ranges: []keyRange{{start: enc, hi: append(slices.Clone(pre), hi)}}}, true
		case OpLt, OpLte:
			return plan{kind: planCandidate, ranges: []keyRange{{start: append(slices.Clone(pre), lo), hi: enc, hiPrefix: true}}}, true
		}
	}
	return plan{}, false
}

// neededKeys returns the details a query must decode (nil: all): the ones
// it returns and the ones it matches and sorts by.
func neededKeys(c *Compiled) []string {
	mk := matchKeys(c)
	if c.q.Keys == nil || mk == nil {
		return nil
	}
	keys := append(slices.Clone(c.q.Keys), mk...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// matchKeys returns the details the filter and the sorts read (nil: all),
// the ones a candidate is decoded with before it is known to be kept.
func matchKeys(c *Compiled) []string {
	keys := []string{}
	all := false
	var walk func(f Filter)
	walk = func(f Filter) {
		switch f.Op {
		case OpAnd, OpOr:
			for _, ch := range f.Children {
				walk(ch)
			}
		case OpFullText:
			if c.ftKeys == nil {
				all = true
			}
			keys = append(keys, c.ftKeys...)
		case OpAll:
		default:
			keys = append(keys, f.Key)
		}
	}
	walk(c.q.Filter)
	if all {
		return nil
	}
	for _, s := range c.q.Sorts {
		keys = append(keys, s.Key)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// query runs c against the index.
func (ix *index) query(ctx context.Context, c *Compiled) (Result, error) {
	snap := ix.snaps.acquire(ix.db)
	defer ix.snaps.release(snap)
	return ix.queryTxn(ctx, snap.txn, c)
}

// queryTxn runs c within the read transaction txn.
func (ix *index) queryTxn(ctx context.Context, txn *badger.Txn, c *Compiled) (Result, error) {
	x := &exec{ctx: ctx, ix: ix, txn: txn, c: c, keys: neededKeys(c), matchKeys: matchKeys(c), want: want(c.q)}
	x.needAll = x.want < 0 || c.q.ExactTotal
	p, err := x.choosePlan()
	if err != nil {
		return Result{}, err
	}
	if p.counter != nil {
		x.needAll = x.want < 0 // the counter has the total
	}
	res, err := x.run(p)
	if err == nil && x.arena.sparse(res.Records) {
		rehome(res.Records) // arena.go: the result keeps only its own bytes
	}
	return res, err
}

func (x *exec) run(p plan) (Result, error) {
	switch p.kind {
	case planIDs:
		return x.fromIDs(p.ids, false)
	case planFullText:
		ids, err := x.postings(p.tokens)
		if err != nil {
			return Result{}, err
		}
		if p.exact && len(x.c.q.Sorts) == 0 {
			return x.pageOfIDs(ids)
		}
		return x.fromIDs(ids, len(x.c.q.Sorts) == 0)
	case planCandidate:
		ids := p.ids
		if ids == nil {
			var err error
			if ids, _, err = x.rangeIDs(p.ranges, math.MaxInt); err != nil {
				return Result{}, err
			}
		}
		if p.exact && len(x.c.q.Sorts) == 0 {
			return x.pageOfIDs(ids)
		}
		return x.fromIDs(ids, len(x.c.q.Sorts) == 0)
	case planIntersect:
		return x.intersect(p)
	case planComposite, planOrdered:
		return x.ordered(p)
	case planTypeScan:
		return x.typeScan(p)
	}
	return x.fullScan(p)
}

// exec holds one query's read transaction.
type exec struct {
	ctx       context.Context
	ix        *index
	txn       *badger.Txn
	c         *Compiled
	keys      []string // details a kept record is decoded with (nil: all)
	matchKeys []string // details a candidate is decoded with to be matched and compared (nil: all)
	want      int      // matches in order the page needs; -1: all
	needAll   bool     // every match must be counted
	n         int
	scratch   Record // a covering candidate decoded to be matched, reused
	dm        decodeArgs
	dmFn      func([]byte) error
	slab      []Record // newRecord's current block
	arena     arena    // ids, strings and heads hashes of kept records and candidates (arena.go)
	keyBuf    []byte   // getRecord's record key
}

// tick checks the context every 512 steps.
func (x *exec) tick() error {
	if x.n++; x.n%512 == 0 {
		return x.ctx.Err()
	}
	return nil
}

// fetch reads and matches one record; nil when absent or not matching.
func (x *exec) fetch(id string) (*Record, error) {
	if err := x.tick(); err != nil {
		return nil, err
	}
	r, err := x.getRecord(id, x.keys)
	if err != nil || r == nil || !x.c.match(r) {
		return nil, err
	}
	return r, nil
}

// getRecord reads one record with the given keys (nil: all) into a new
// record of the query; nil when absent. Unlike the package's getRecord it
// allocates no key and decodes into the query's slab and arena.
func (x *exec) getRecord(id string, keys []string) (*Record, error) {
	x.keyBuf = append(append(x.keyBuf[:0], prefixRecord), id...)
	r := x.newRecord() // a slot left unused when absent: rare
	ok, err := readRecord(x.txn, x.keyBuf, id, keys, r, &x.arena)
	if !ok {
		return nil, err
	}
	return r, nil
}

// offerItem matches a covering entry (a record, or a composite entry
// carrying one) and offers it to k. A candidate k keeps whatever it holds
// (the page is not full yet) is decoded once, with the result's keys; any
// other is decoded first with only the keys the filter and the sorts read,
// into a reused scratch record, and again with the result's keys only when
// it beats what k holds. exact says the entry matches by construction (the
// plan's prefix is the whole filter): no matching. It reports whether the
// plan should go on.
func (x *exec) offerItem(k *collector, id []byte, item *badger.Item, exact bool) (bool, error) {
	if err := x.tick(); err != nil {
		return false, err
	}
	more := true
	err := item.Value(func(v []byte) error {
		if k.takes() {
			r := x.newRecord()
			if err := decodeRecordInto(r, x.arena.str(id), v, x.keys, false, &x.arena); err != nil {
				return err
			}
			if exact || x.c.match(r) {
				more = k.add(r)
			}
			return nil
		}
		if exact && k.inOrder {
			more = k.count() // counting past the page: nothing to decode
			return nil
		}
		if err := decodeRecordInto(&x.scratch, string(id), v, x.matchKeys, true, nil); err != nil {
			return err
		}
		if !exact && !x.c.match(&x.scratch) {
			return nil
		}
		if !k.wants(&x.scratch) {
			more = k.count()
			return nil
		}
		r := x.newRecord()
		if err := decodeRecordInto(r, x.scratch.ID, v, x.keys, false, &x.arena); err != nil {
			return err
		}
		more = k.add(r)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
	}
	return more, nil
}

// decodeMatch decodes a covering entry's record and matches it; nil when
// not matching. With keep it decodes the result's keys; without, it only
// matches (the scratch record, valid until the next candidate, is
// returned), and an exact entry is not decoded at all.
func (x *exec) decodeMatch(idb []byte, item *badger.Item, keep, exact bool) (*Record, error) {
	if err := x.tick(); err != nil {
		return nil, err
	}
	if exact && !keep {
		return &x.scratch, nil
	}
	id := string(idb) // a candidate's id dies with it
	if keep {
		id = x.arena.str(idb)
	}
	x.dm = decodeArgs{id: id, keep: keep, exact: exact}
	if x.dmFn == nil {
		x.dmFn = x.decodeValue // one closure per query, not per entry
	}
	if err := item.Value(x.dmFn); err != nil {
		return nil, fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
	}
	return x.dm.r, nil
}

// newRecord returns a zero record from a slab the query allocates in
// blocks (one allocation per block instead of one per record; a query that
// keeps a record keeps its block).
func (x *exec) newRecord() *Record {
	if len(x.slab) == cap(x.slab) {
		x.slab = make([]Record, 0, min(64, max(8, x.want+1)))
	}
	x.slab = x.slab[:len(x.slab)+1]
	return &x.slab[len(x.slab)-1]
}

// decodeArgs are decodeMatch's arguments and result for decodeValue.
type decodeArgs struct {
	id          string
	keep, exact bool
	r           *Record
}

// decodeValue is decodeMatch's item.Value callback.
func (x *exec) decodeValue(v []byte) error {
	a := &x.dm
	keys, into := x.matchKeys, &x.scratch
	if a.keep {
		keys, into = x.keys, x.newRecord()
	}
	if err := decodeRecordInto(into, a.id, v, keys, !a.keep, &x.arena); err != nil {
		return err
	}
	if a.exact || x.c.match(into) {
		a.r = into
	}
	return nil
}

// collector gathers the matches of a plan. In order (inOrder), it keeps the
// first want and says when the plan may stop; otherwise it keeps the best
// want seen so far in a heap whose root is the worst of them, and the plan
// reads every candidate.
type collector struct {
	x       *exec
	inOrder bool
	out     []*Record // in order: the first matches; otherwise a max-heap (by Compare)
	seen    int
}

// takes reports whether k keeps the next match whatever it is.
func (k *collector) takes() bool {
	return k.x.want < 0 || len(k.out) < k.x.want
}

// wants reports whether k would keep a match comparing like r.
func (k *collector) wants(r *Record) bool {
	w := k.x.want
	switch {
	case w < 0:
		return true
	case k.inOrder:
		return len(k.out) < w
	}
	return len(k.out) < w || k.x.c.Compare(r, k.out[0]) < 0
}

// count counts a match k does not keep and reports whether the plan should
// go on.
func (k *collector) count() bool {
	k.seen++
	return !k.inOrder || k.x.needAll || k.x.want < 0 || k.seen <= k.x.want
}

// add takes one match (kept if k wants it) and reports whether the plan
// should go on.
func (k *collector) add(r *Record) bool {
	if !k.wants(r) {
		return k.count()
	}
	w := k.x.want
	switch {
	case k.inOrder || w < 0:
		k.out = append(k.out, r)
	case len(k.out) < w:
		k.out = append(k.out, r)
		k.up(len(k.out) - 1)
	default:
		k.out[0] = r
		k.down(0)
	}
	return k.count()
}

func (k *collector) worse(i, j int) bool { return k.x.c.Compare(k.out[i], k.out[j]) > 0 }

func (k *collector) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !k.worse(i, p) {
			return
		}
		k.out[i], k.out[p] = k.out[p], k.out[i]
		i = p
	}
}

func (k *collector) down(i int) {
	for {
		l, top := 2*i+1, i
		if l < len(k.out) && k.worse(l, top) {
			top = l
		}
		if r := l + 1; r < len(k.out) && k.worse(r, top) {
			top = r
		}
		if top == i {
			return
		}
		k.out[i], k.out[top] = k.out[top], k.out[i]
		i = top
	}
}

// result pages what was collected; done says every candidate was read.
func (k *collector) result(done bool) Result {
	if !k.inOrder {
		slices.SortFunc(k.out, k.x.c.Compare)
	}
	return k.x.c.pageOf(k.out, k.seen, done)
}

// fromIDs fetches and matches candidate ids (in id order); inOrder says id
// order is the result order, so it stops at the page.
func (x *exec) fromIDs(ids []string, inOrder bool) (Result, error) {
	k := &collector{x: x, inOrder: inOrder}
	for i, id := range ids {
		r, err := x.fetch(id)
		if err != nil {
			return Result{}, err
		}
		if r != nil && !k.add(r) {
			return k.result(i == len(ids)-1), nil
		}
	}
	return k.result(true), nil
}

// pageOfIDs answers a query whose filter the ids match exactly and whose
// order is id order: only the page is read.
func (x *exec) pageOfIDs(ids []string) (Result, error) {
	q := x.c.q
	lo := min(q.Offset, len(ids))
	hi := len(ids)
	if q.Limit > 0 {
		hi = min(hi, lo+q.Limit)
	}
	res := Result{Total: len(ids), TotalExact: true, HasMore: hi < len(ids), Records: make([]Record, hi-lo)}
	// No matching: only what the result shows is decoded.
	if err := readRecords(x.ctx, x.txn, ids[lo:hi], q.Keys, res.Records); err != nil {
		return Result{}, err
	}
	return res, nil
}

// readRecords reads the records of ids (ascending; each must exist) into
// out, with only keys (nil: all), through one iterator: seeks in key order,
// and no key or item allocated per record as a Get would.
func readRecords(ctx context.Context, txn *badger.Txn, ids []string, keys []string, out []Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
	defer it.Close()
	var key []byte
	var a arena
	for i, id := range ids {
		key = append(append(key[:0], prefixRecord), id...)
		it.Seek(key)
		if !it.Valid() || !bytes.Equal(it.Item().Key(), key) {
			return fmt.Errorf("spaceindex: index entry for missing record %q: %w", id, ErrCorrupt)
		}
		r := &out[i]
		if err := it.Item().Value(func(v []byte) error { return decodeRecordInto(r, id, v, keys, false, &a) }); err != nil {
			return fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
		}
	}
	return nil
}

// postings intersects the posting lists of the tokens (each used as a
// prefix) and returns the ids in order.
func (x *exec) postings(tokens []string) ([]string, error) {
	var acc []string
	for i, tok := range tokens {
		var ids []string
		var runs []int // where each indexed token's run of ids starts
		var last []byte
		opts := badger.IteratorOptions{Prefix: textPrefix(tok)}
		it := x.txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			if err := x.tick(); err != nil {
				it.Close()
				return nil, err
			}
			k := it.Item().Key()
			id, ok := textKeyID(k)
			if !ok {
				it.Close()
				return nil, fmt.Errorf("spaceindex: bad posting key: %w", ErrCorrupt)
			}
			if t := k[:len(k)-len(id)]; len(runs) == 0 || !bytes.Equal(t, last) {
				runs = append(runs, len(ids))
				last = append(last[:0], t...)
			}
			ids = append(ids, x.arena.str(id))
		}
		it.Close()
		ids = mergeRuns(ids, runs)
		if i == 0 {
			acc = ids
		} else {
			acc = intersectSorted(acc, ids)
		}
		if len(acc) == 0 {
			break
		}
	}
	return acc, nil
}

// mergeRuns returns the distinct ids of the sorted runs of ids that start
// at runs (one per indexed token a prefix matched), in order: merged two at
// a time, which costs less than sorting them all once there are few runs.
func mergeRuns(ids []string, runs []int) []string {
	if len(runs) <= 1 {
		return ids // one token's postings: sorted and distinct already
	}
	if len(runs) > 16 {
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	acc := ids[:runs[1]]
	for r := 1; r < len(runs); r++ {
		end := len(ids)
		if r+1 < len(runs) {
			end = runs[r+1]
		}
		acc = unionSorted(acc, ids[runs[r]:end])
	}
	return acc
}

// unionSorted merges two sorted, distinct lists into a new one.
func unionSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func intersectSorted(a, b []string) []string {
	out := a[:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// rangeIDs collects the ids of secondary index ranges, sorted and distinct,
// reading at most budget keys; complete is false when it stopped there.
func (x *exec) rangeIDs(ranges []keyRange, budget int) (ids []string, complete bool, err error) {
	read := 0
	for _, r := range ranges {
		pre := r.start[:len(secondaryPrefixOf(r.start))]
		it := x.txn.NewIterator(badger.IteratorOptions{Prefix: pre})
		for it.Seek(r.start); it.Valid(); it.Next() {
			if err := x.tick(); err != nil {
				it.Close()
				return nil, false, err
			}
			k := it.Item().Key()
			if !r.contains(k) {
				break
			}
			if read++; read > budget {
				it.Close()
				return nil, false, nil
			}
			_, id, err := splitValueID(k[len(pre):])
			if err != nil {
				it.Close()
				return nil, false, fmt.Errorf("spaceindex: bad index key: %w: %w", ErrCorrupt, err)
			}
			ids = append(ids, x.arena.str(id))
		}
		it.Close()
	}
	slices.Sort(ids)
	return slices.Compact(ids), true, nil
}

// secondaryPrefixOf returns the 'x' esc(key) part of a secondary index key.
func secondaryPrefixOf(k []byte) []byte {
	n, err := skipEscaped(k[1:])
	if err != nil {
		return k
	}
	return k[:1+n]
}

// intersect walks equality ranges together in id order (each range's keys
// are its value's prefix followed by the id, so they are in id order),
// fetching the ids every range holds, and stops at the page. When the
// ranges are the whole filter, what follows the page is counted from keys
// alone.
func (x *exec) intersect(p plan) (Result, error) {
	its := make([]*badger.Iterator, len(p.eqs))
	for i, pre := range p.eqs {
		its[i] = x.txn.NewIterator(badger.IteratorOptions{Prefix: pre})
		defer its[i].Close()
		its[i].Seek(pre)
	}
	id := func(i int) []byte { return its[i].Item().Key()[len(p.eqs[i]):] }
	seekTo := func(i int, target []byte) {
		its[i].Seek(append(slices.Clone(p.eqs[i]), target...))
	}
	k := &collector{x: x, inOrder: true}
	counting := false // the page is complete and every candidate matches: count only
	for {
		for _, it := range its {
			if !it.Valid() {
				return x.intersectResult(k, p, true)
			}
		}
		// Leapfrog: move every range to the largest current id.
		hi := slices.Clone(id(0))
		aligned := true
		for i := 1; i < len(its); i++ {
			if bytes.Compare(id(i), hi) < 0 {
				seekTo(i, hi)
				if !its[i].Valid() {
					return x.intersectResult(k, p, true)
				}
			}
			if bytes.Compare(id(i), hi) > 0 {
				hi = slices.Clone(id(i))
				aligned = false
				break
			}
		}
		if !aligned {
			seekTo(0, hi)
			continue
		}
		if err := x.tick(); err != nil {
			return Result{}, err
		}
		if counting {
			k.seen++
			if !x.needAll {
				return k.result(false), nil
			}
		} else {
			r, err := x.fetch(x.arena.str(hi))
			if err != nil {
				return Result{}, err
			}
			if r != nil {
				more := k.add(r)
				full := x.want >= 0 && len(k.out) >= x.want
				switch {
				case full && p.counter != nil:
					return x.intersectResult(k, p, false)
				case !more:
					return k.result(false), nil
				case full && p.exact:
					counting = true
				}
			}
		}
		its[0].Next()
	}
}

// intersectResult finishes an intersection: from the counter when the plan
// has one, else from what it counted.
func (x *exec) intersectResult(k *collector, p plan, done bool) (Result, error) {
	if p.counter != nil {
		n, err := readCounter(x.txn, p.counter)
		if err != nil {
			return Result{}, fmt.Errorf("spaceindex: count: %w", err)
		}
		k.seen = n
		return k.result(true), nil
	}
	return k.result(done), nil
}

// scanCovering offers k every covering entry under prefix (records, or
// composite entries carrying them) until k says stop. It reports whether it
// read to the end.
func (x *exec) scanCovering(prefix []byte, idOf func(k []byte) ([]byte, error), k *collector, exact bool) (bool, error) {
	it := x.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		id, err := idOf(item.Key())
		if err != nil {
			return false, err
		}
		more, err := x.offerItem(k, id, item, exact)
		if err != nil {
			return false, err
		}
		if !more {
			return false, nil
		}
	}
	return true, nil
}

// fullScan reads records in id order: the result order when the query has
// no sort (it stops at the page then), else every record into a top-k.
func (x *exec) fullScan(p plan) (Result, error) {
	k := &collector{x: x, inOrder: len(x.c.q.Sorts) == 0}
	recordID := func(key []byte) ([]byte, error) { return key[1:], nil }
	done, err := x.scanCovering([]byte{prefixRecord}, recordID, k, p.exact)
	if err != nil {
		return Result{}, err
	}
	if !done && p.counter != nil {
		n, err := readCounter(x.txn, p.counter)
		if err != nil {
			return Result{}, fmt.Errorf("spaceindex: count: %w", err)
		}
		k.seen = n
		done = true
	}
	return k.result(done), nil
}

// typeScan reads every record of one type from a composite index (whose
// entries carry the record) into a top-k.
func (x *exec) typeScan(p plan) (Result, error) {
	k := &collector{x: x}
	entryID := func(key []byte) ([]byte, error) {
		_, id, err := splitValueID(key[len(p.prefix):])
		if err != nil {
			return nil, fmt.Errorf("spaceindex: bad index key: %w: %w", ErrCorrupt, err)
		}
		return id, nil
	}
	if _, err := x.scanCovering(p.prefix, entryID, k, p.exact); err != nil {
		return Result{}, err
	}
	return k.result(true), nil
}

// ordered scans an index whose order is the first sort key's order (missing
// values last in both directions), sorting each run of equal first-key
// values by the full comparator. The page is final once the run holding
// its last record closes; the scan then stops at the next match (so HasMore
// is known), or goes on counting when every match must be counted and no
// counter has the total.
func (x *exec) ordered(p plan) (Result, error) {
	w := x.want
	var (
		out    []*Record
		group  []*Record
		groupV []byte
		seen   int
		final  bool // the page is complete
	)
	closeGroup := func() {
		if len(group) == 0 {
			return
		}
		slices.SortFunc(group, x.c.Compare)
		out = append(out, group...)
		group = group[:0]
	}
	covering := p.kind == planComposite
	visit := func(item *badger.Item) (bool, error) {
		k := item.Key()
		val, idb, err := splitValueID(k[len(p.prefix):])
		if err != nil {
			return false, fmt.Errorf("spaceindex: bad index key: %w: %w", ErrCorrupt, err)
		}
		if !final && !bytes.Equal(val, groupV) {
			closeGroup()
			if w >= 0 && len(out) >= w {
				final = true
				if p.counter != nil {
					return false, nil
				}
			}
			groupV = append(groupV[:0], val...)
		}
		var r *Record
		if covering {
			r, err = x.decodeMatch(idb, item, !final, p.exact) // after the page, only counting
		} else {
			r, err = x.fetch(x.arena.str(idb))
		}
		if err != nil || r == nil {
			return true, err
		}
		seen++
		if !final {
			group = append(group, r)
			return true, nil
		}
		return x.needAll, nil // a match after the page: HasMore is known
	}
	done := false
	stopped := false
	scan := func(start []byte, reverse bool) error {
		if stopped {
			return nil
		}
		it := x.txn.NewIterator(badger.IteratorOptions{Prefix: p.prefix, Reverse: reverse})
		defer it.Close()
		for it.Seek(start); it.ValidForPrefix(p.prefix); it.Next() {
			more, err := visit(it.Item())
			if err != nil {
				return err
			}
			if !more {
				stopped = true
				return nil
			}
		}
		return nil
	}
	missing := append(slices.Clone(p.prefix), tagMissing)
	var err error
	if p.desc {
		if err = scan(missing, true); err == nil {
			// The first missing-marker key ends the present run's group.
			err = scan(missing, false)
		}
	} else {
		err = scan(p.prefix, false)
	}
	if err != nil {
		return Result{}, err
	}
	done = !stopped
	if !final {
		closeGroup()
	}
	if p.counter != nil && !done {
		n, err := readCounter(x.txn, p.counter)
		if err != nil {
			return Result{}, fmt.Errorf("spaceindex: count: %w", err)
		}
		seen, done = n, true
	}
	return x.c.pageOf(out, seen, done), nil
}
