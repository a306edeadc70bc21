package spaceindex

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Storage plans. Every plan produces a superset of the matching records
// (or exactly them where noted) and re-checks each candidate with the
// compiled matcher, so the in-memory semantics (Compiled.Apply) are the
// single source of truth and the plans only decide how much is read.
type planKind uint8

const (
	planFullScan  planKind = iota // every record, matched, sorted in memory
	planIDs                       // id eq/in: point lookups
	planFullText                  // posting-list intersection
	planComposite                 // ordered scan of (type = v, sort key), early stop
	planCandidate                 // secondary index ranges (eq, in, range), sorted in memory
	planOrdered                   // ordered scan of the first sort key's index, early stop
)

var planNames = [...]string{"fullscan", "ids", "fulltext", "composite", "candidates", "ordered"}

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
	kind      planKind
	ids       []string   // planIDs
	tokens    []string   // planFullText
	ftOnly    bool       // planFullText: the filter is exactly the full-text leaf
	ranges    []keyRange // planCandidate
	prefix    []byte     // planComposite, planOrdered: index prefix before the value
	desc      bool       // planComposite, planOrdered
	counter   []byte     // planComposite/planOrdered: counter giving the exact total, if any
	prefixLen int        // bytes of prefix (value starts after)
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

// choosePlan picks the access path for c.
func (ix *index) choosePlan(c *Compiled) plan {
	q := c.q
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
			return plan{kind: planIDs, ids: slices.Compact(ids)}
		}
	}
	// 2. Full text: posting lists are usually the most selective input.
	for _, f := range cs {
		if f.Op == OpFullText && f.Value.kind == KindString {
			if toks := Tokens(f.Value.s); len(toks) > 0 {
				slices.Sort(toks)
				return plan{kind: planFullText, tokens: slices.Compact(toks), ftOnly: len(cs) == 1}
			}
		}
	}
	// 3. type = v, sorted by an indexed key: the composite index's order is
	// the result order, so a limit stops the scan early.
	if len(q.Sorts) > 0 && ix.compositeSort[q.Sorts[0].Key] {
		sk := q.Sorts[0].Key
		for _, f := range cs {
			if f.Op != OpEq || !slices.Contains(compositePrefixKeys, f.Key) || f.Key == sk {
				continue
			}
			p := plan{kind: planComposite, prefix: compositePrefix(f.Key, f.Value, sk), desc: q.Sorts[0].Desc}
			if len(cs) == 1 {
				p.counter = counterKey(f.Key, f.Value)
			}
			return p
		}
	}
	// 4. Equality or membership on an indexed key.
	for _, op := range []Op{OpEq, OpIn} {
		for _, f := range cs {
			if f.Op != op || !ix.isIndexed(f.Key) {
				continue
			}
			p := plan{kind: planCandidate}
			vals := []Value{f.Value}
			if op == OpIn {
				vals = inOperands(f.Value)
			}
			for _, v := range vals {
				pre := AppendValue(slices.Clone(ix.secPrefix[f.Key]), v)
				p.ranges = append(p.ranges, keyRange{start: pre, hi: pre, hiPrefix: true})
			}
			return p
		}
	}
	// 5. Sorted by an indexed key with a limit: scan in order, stop early.
	if len(q.Sorts) > 0 && q.Limit > 0 && ix.isIndexed(q.Sorts[0].Key) {
		p := plan{kind: planOrdered, prefix: slices.Clone(ix.secPrefix[q.Sorts[0].Key]), desc: q.Sorts[0].Desc}
		if len(cs) == 0 {
			p.counter = countKey()
		}
		return p
	}
	// 6. A range on an indexed key.
	for _, f := range cs {
		if !ix.isIndexed(f.Key) {
			continue
		}
		pre := ix.secPrefix[f.Key]
		lo, hi := kindTagRange(f.Value.kind)
		enc := AppendValue(slices.Clone(pre), f.Value)
		switch f.Op {
		case OpGt, OpGte:
			return plan{kind: planCandidate, ranges: []keyRange{{start: enc, hi: append(slices.Clone(pre), hi)}}}
		case OpLt, OpLte:
			return plan{kind: planCandidate, ranges: []keyRange{{start: append(slices.Clone(pre), lo), hi: enc, hiPrefix: true}}}
		}
	}
	return plan{kind: planFullScan}
}

// neededKeys returns the details a query must decode (nil: all).
func neededKeys(c *Compiled) []string {
	if c.q.Keys == nil {
		return nil
	}
	keys := slices.Clone(c.q.Keys)
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
				all = true // every key feeds full text
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
	txn := ix.db.NewTransaction(false)
	defer txn.Discard()
	return ix.queryTxn(ctx, txn, c)
}

// queryTxn runs c within the read transaction txn.
func (ix *index) queryTxn(ctx context.Context, txn *badger.Txn, c *Compiled) (Result, error) {
	x := &exec{ctx: ctx, txn: txn, c: c, keys: neededKeys(c)}
	p := ix.choosePlan(c)
	switch p.kind {
	case planIDs:
		return x.fromIDs(p.ids)
	case planFullText:
		ids, err := x.postings(p.tokens)
		if err != nil {
			return Result{}, err
		}
		if p.ftOnly && len(c.q.Sorts) == 0 {
			return x.pageOfIDs(ids)
		}
		return x.fromIDs(ids)
	case planCandidate:
		ids, err := x.rangeIDs(p.ranges)
		if err != nil {
			return Result{}, err
		}
		return x.fromIDs(ids)
	case planComposite, planOrdered:
		return x.ordered(p)
	}
	return x.fullScan()
}

// exec holds one query's read transaction.
type exec struct {
	ctx  context.Context
	txn  *badger.Txn
	c    *Compiled
	keys []string
	n    int
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
	r, err := getRecord(x.txn, id, x.keys)
	if err != nil || r == nil || !x.c.match(r) {
		return nil, err
	}
	return r, nil
}

// decodeMatch decodes a record from an item's value and matches it; nil
// when not matching.
func (x *exec) decodeMatch(id string, item *badger.Item) (*Record, error) {
	if err := x.tick(); err != nil {
		return nil, err
	}
	var r Record
	err := item.Value(func(v []byte) error {
		var err error
		r, err = DecodeRecord(id, v, x.keys)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
	}
	if !x.c.match(&r) {
		return nil, nil
	}
	return &r, nil
}

// fromIDs fetches and matches candidate ids, then sorts and pages in memory.
func (x *exec) fromIDs(ids []string) (Result, error) {
	var matched []*Record
	for _, id := range ids {
		r, err := x.fetch(id)
		if err != nil {
			return Result{}, err
		}
		if r != nil {
			matched = append(matched, r)
		}
	}
	slices.SortFunc(matched, x.c.Compare)
	return x.c.page(matched), nil
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
	res := Result{Total: len(ids), Records: make([]Record, 0, hi-lo)}
	for _, id := range ids[lo:hi] {
		r, err := getRecord(x.txn, id, x.keys)
		if err != nil {
			return Result{}, err
		}
		if r == nil {
			return Result{}, fmt.Errorf("spaceindex: posting for missing record %q: %w", id, ErrCorrupt)
		}
		res.Records = append(res.Records, project(r, q.Keys))
	}
	return res, nil
}

// postings intersects the posting lists of the tokens (each used as a
// prefix) and returns the ids in order.
func (x *exec) postings(tokens []string) ([]string, error) {
	var acc []string
	for i, tok := range tokens {
		var ids []string
		opts := badger.IteratorOptions{Prefix: textPrefix(tok)}
		it := x.txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			if err := x.tick(); err != nil {
				it.Close()
				return nil, err
			}
			id, ok := textKeyID(it.Item().Key())
			if !ok {
				it.Close()
				return nil, fmt.Errorf("spaceindex: bad posting key: %w", ErrCorrupt)
			}
			ids = append(ids, string(id))
		}
		it.Close()
		slices.Sort(ids)
		ids = slices.Compact(ids)
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

// rangeIDs collects the ids of secondary index ranges, sorted and distinct.
func (x *exec) rangeIDs(ranges []keyRange) ([]string, error) {
	var ids []string
	for _, r := range ranges {
		pre := r.start[:len(secondaryPrefixOf(r.start))]
		it := x.txn.NewIterator(badger.IteratorOptions{Prefix: pre})
		for it.Seek(r.start); it.Valid(); it.Next() {
			if err := x.tick(); err != nil {
				it.Close()
				return nil, err
			}
			k := it.Item().Key()
			if !r.contains(k) {
				break
			}
			_, id, err := splitValueID(k[len(pre):])
			if err != nil {
				it.Close()
				return nil, fmt.Errorf("spaceindex: bad index key: %w: %w", ErrCorrupt, err)
			}
			ids = append(ids, string(id))
		}
		it.Close()
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// secondaryPrefixOf returns the 'x' esc(key) part of a secondary index key.
func secondaryPrefixOf(k []byte) []byte {
	n, err := skipEscaped(k[1:])
	if err != nil {
		return k
	}
	return k[:1+n]
}

// fullScan reads every record.
func (x *exec) fullScan() (Result, error) {
	var matched []*Record
	it := x.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := x.tick(); err != nil {
			return Result{}, err
		}
		item := it.Item()
		id := string(item.Key()[1:])
		var r Record
		err := item.Value(func(v []byte) error {
			var err error
			r, err = DecodeRecord(id, v, x.keys)
			return err
		})
		if err != nil {
			return Result{}, fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
		}
		if x.c.match(&r) {
			matched = append(matched, &r)
		}
	}
	slices.SortFunc(matched, x.c.Compare)
	return x.c.page(matched), nil
}

// ordered scans an index whose order is the first sort key's order (missing
// values last in both directions), sorting each run of equal first-key
// values by the full comparator, and stops once the page is complete. The
// total then comes from a counter when the plan has one, else from matching
// the rest of the scan.
func (x *exec) ordered(p plan) (Result, error) {
	q := x.c.q
	want := -1
	if q.Limit > 0 {
		want = q.Offset + q.Limit
	}
	var (
		out     []*Record
		group   []*Record
		groupV  []byte
		total   int
		stopped bool // page complete: only counting from here
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
		if !stopped && !bytes.Equal(val, groupV) {
			closeGroup()
			if want >= 0 && len(out) >= want {
				if p.counter != nil {
					return false, nil
				}
				stopped = true
			}
			groupV = append(groupV[:0], val...)
		}
		var r *Record
		if covering {
			r, err = x.decodeMatch(string(idb), item)
		} else {
			r, err = x.fetch(string(idb))
		}
		if err != nil || r == nil {
			return true, err
		}
		total++
		if !stopped {
			group = append(group, r)
		}
		return true, nil
	}
	done := false
	scan := func(start []byte, reverse bool) error {
		if done {
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
				done = true
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
	closeGroup()
	if p.counter != nil && want >= 0 && len(out) >= want {
		n, err := readCounter(x.txn, p.counter)
		if err != nil {
			return Result{}, fmt.Errorf("spaceindex: count: %w", err)
		}
		total = n
	}
	res := x.c.page(out)
	res.Total = total
	return res, nil
}
