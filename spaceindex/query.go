package spaceindex

import (
	"fmt"
	"slices"
	"strings"
)

// Op is a filter operator.
type Op uint8

// Filter operators. The zero Op (OpAll) matches every record.
const (
	// OpAll matches every record.
	OpAll Op = iota
	// OpAnd matches when every child matches (no children: every record).
	OpAnd
	// OpOr matches when some child matches (no children: no record).
	OpOr
	// OpEq: the key is present and its value Equal to Value.
	OpEq
	// OpNe: not OpEq (so a missing key matches).
	OpNe
	// OpGt, OpGte, OpLt, OpLte: the key is present, its value has the same
	// Kind as Value, and compares as asked (Compare). Values of another kind
	// never match a range.
	OpGt
	OpGte
	OpLt
	OpLte
	// OpIn: the key is present and Equal to one element of Value (a List; a
	// non-list Value is a one-element list).
	OpIn
	// OpNotIn: not OpIn (so a missing key matches).
	OpNotIn
	// OpExists: the key is present and its value is not Null.
	OpExists
	// OpEmpty: the key is missing, Null, "" or an empty list.
	OpEmpty
	// OpContains: a String value contains Value (a String) after case and
	// accent folding; a List value has an element Equal to Value. Anything
	// else does not match.
	OpContains
	// OpFullText: every token of Value (a String, see Tokens) is a prefix of
	// some token of the record's full-text keys (Config.FullTextKeys). Key is
	// ignored. No tokens: every record matches.
	OpFullText

	numOps
)

var opNames = [...]string{"all", "and", "or", "eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn",
	"exists", "empty", "contains", "fullText"}

// String returns the operator's name.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Filter is a tree of conditions. A node has Op OpAnd or OpOr and Children;
// a leaf has a comparison Op, a Key and an operand Value. The zero Filter
// matches every record. Build filters with And, Or, Eq, … .
type Filter struct {
	Op       Op
	Key      string
	Value    Value
	Children []Filter
}

// And matches records matching every filter in fs.
func And(fs ...Filter) Filter { return Filter{Op: OpAnd, Children: fs} }

// Or matches records matching at least one filter in fs.
func Or(fs ...Filter) Filter { return Filter{Op: OpOr, Children: fs} }

// Eq matches records whose key equals v.
func Eq(key string, v Value) Filter { return Filter{Op: OpEq, Key: key, Value: v} }

// Ne matches records whose key is missing or differs from v.
func Ne(key string, v Value) Filter { return Filter{Op: OpNe, Key: key, Value: v} }

// Gt matches records whose key is a value of v's kind greater than v.
func Gt(key string, v Value) Filter { return Filter{Op: OpGt, Key: key, Value: v} }

// Gte matches records whose key is a value of v's kind greater than or equal to v.
func Gte(key string, v Value) Filter { return Filter{Op: OpGte, Key: key, Value: v} }

// Lt matches records whose key is a value of v's kind less than v.
func Lt(key string, v Value) Filter { return Filter{Op: OpLt, Key: key, Value: v} }

// Lte matches records whose key is a value of v's kind less than or equal to v.
func Lte(key string, v Value) Filter { return Filter{Op: OpLte, Key: key, Value: v} }

// In matches records whose key equals one of vs.
func In(key string, vs ...Value) Filter { return Filter{Op: OpIn, Key: key, Value: List(vs...)} }

// NotIn matches records whose key is missing or equals none of vs.
func NotIn(key string, vs ...Value) Filter {
	return Filter{Op: OpNotIn, Key: key, Value: List(vs...)}
}

// Exists matches records where key is present and not null.
func Exists(key string) Filter { return Filter{Op: OpExists, Key: key} }

// Empty matches records where key is missing, null, "" or [].
func Empty(key string) Filter { return Filter{Op: OpEmpty, Key: key} }

// Contains matches a folded substring of a string value or an element of a list value.
func Contains(key string, v Value) Filter { return Filter{Op: OpContains, Key: key, Value: v} }

// FullText matches records whose full-text keys hold every token of text as a
// token prefix.
func FullText(text string) Filter { return Filter{Op: OpFullText, Value: String(text)} }

// String renders the filter for debugging.
func (f Filter) String() string {
	switch f.Op {
	case OpAll:
		return "all"
	case OpAnd, OpOr:
		parts := make([]string, len(f.Children))
		for i, c := range f.Children {
			parts[i] = c.String()
		}
		return f.Op.String() + "(" + strings.Join(parts, ", ") + ")"
	case OpExists, OpEmpty:
		return f.Op.String() + "(" + f.Key + ")"
	case OpFullText:
		return "fullText(" + f.Value.String() + ")"
	}
	return f.Key + " " + f.Op.String() + " " + f.Value.String()
}

// Sort orders results by Key, ascending unless Desc. Records missing the key
// sort after every record that has it, in both directions.
type Sort struct {
	Key  string
	Desc bool
}

// Query selects, orders and pages records.
type Query struct {
	// Filter selects records; the zero Filter selects all.
	Filter Filter
	// Sorts order the results; ties (and the empty list) fall back to the
	// record id, ascending.
	Sorts []Sort
	// Limit caps the number of records returned; 0 means no limit.
	Limit int
	// Offset skips that many records of the ordered result.
	Offset int
	// Keys selects the details returned; nil returns every detail.
	Keys []string
	// ExactTotal asks for Result.Total to count every match. Without it a
	// query with a Limit may stop reading once it has the page and one more
	// match: Result.Total is then a lower bound (Result.TotalExact false).
	// Counting can cost a pass over every candidate, which the page alone
	// does not need.
	ExactTotal bool
}

// Result is the answer to a Query.
type Result struct {
	// Records are the page of matching records, in order.
	Records []Record
	// Total counts every matching record, ignoring Limit and Offset, when
	// TotalExact is set. Otherwise it is a lower bound: the matches the
	// query saw before it stopped, at least Offset + len(Records) + 1.
	Total int
	// TotalExact says Total is exact: always when Query.ExactTotal was set,
	// and whenever the count came for free (a maintained counter, or a plan
	// that read every candidate anyway).
	TotalExact bool
	// HasMore says matches follow the page (exact in every case).
	HasMore bool
}

// Config says what a space indexes beyond the rows every space has.
type Config struct {
	// IndexedKeys are detail keys with a secondary index, in addition to
	// CommonIndexedKeys.
	IndexedKeys []string
	// FullTextKeys are the detail keys whose strings (and lists of strings)
	// feed the full-text index. Nil means every detail but the type (an
	// object's type is what it is, not text in it): each string value, and
	// each string inside a list value, of every other key. An empty non-nil
	// list disables full text.
	FullTextKeys []string
}

// CommonIndexedKeys have a secondary index in every space.
var CommonIndexedKeys = []string{KeyType, KeyName, KeyCreated, KeyModified, KeySyncStatus}

// fullTextKeys returns the keys that feed the full-text index; nil means
// every key.
func (c Config) fullTextKeys() []string {
	if c.FullTextKeys == nil {
		return nil
	}
	return slices.Clip(slices.Clone(c.FullTextKeys))
}

// indexedKeys returns the common and declared indexed keys, deduplicated.
func (c Config) indexedKeys() []string {
	out := slices.Clone(CommonIndexedKeys)
	for _, k := range c.IndexedKeys {
		if k != KeyID && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Compiled is a query compiled for in-memory evaluation: a matcher and a
// comparator that agree exactly with the storage engine. Live subscriptions
// use it to decide whether a changed record enters, leaves or moves within a
// result. It is immutable and safe for concurrent use.
type Compiled struct {
	q      Query
	ftKeys []string
	match  func(*Record) bool
}

// Compile validates q and compiles it for in-memory evaluation with the
// full-text keys of cfg.
func Compile(q Query, cfg Config) (*Compiled, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, fmt.Errorf("%w: negative limit or offset", ErrInvalidQuery)
	}
	for _, s := range q.Sorts {
		if s.Key == "" {
			return nil, fmt.Errorf("%w: empty sort key", ErrInvalidQuery)
		}
	}
	c := &Compiled{q: q, ftKeys: cfg.fullTextKeys()}
	m, err := c.compileFilter(q.Filter, 0)
	if err != nil {
		return nil, err
	}
	c.match = m
	return c, nil
}

// Query returns the query c was compiled from.
func (c *Compiled) Query() Query { return c.q }

const maxFilterDepth = 32

func (c *Compiled) compileFilter(f Filter, depth int) (func(*Record) bool, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("%w: filter nested too deep", ErrInvalidQuery)
	}
	if f.Op >= numOps {
		return nil, fmt.Errorf("%w: unknown operator %d", ErrInvalidQuery, f.Op)
	}
	switch f.Op {
	case OpAll:
		return func(*Record) bool { return true }, nil
	case OpAnd, OpOr:
		subs := make([]func(*Record) bool, len(f.Children))
		for i, ch := range f.Children {
			m, err := c.compileFilter(ch, depth+1)
			if err != nil {
				return nil, err
			}
			subs[i] = m
		}
		if f.Op == OpAnd {
			return func(r *Record) bool {
				for _, m := range subs {
					if !m(r) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(r *Record) bool {
			for _, m := range subs {
				if m(r) {
					return true
				}
			}
			return false
		}, nil
	case OpFullText:
		if f.Value.kind != KindString {
			return nil, fmt.Errorf("%w: full-text operand must be a string", ErrInvalidQuery)
		}
		toks := Tokens(f.Value.s)
		ftKeys := c.ftKeys
		return func(r *Record) bool { return matchFullText(r, ftKeys, toks) }, nil
	}
	if f.Key == "" {
		return nil, fmt.Errorf("%w: %s needs a key", ErrInvalidQuery, f.Op)
	}
	key, op, want := f.Key, f.Op, f.Value
	switch op {
	case OpEq:
		return func(r *Record) bool { v, ok := r.Field(key); return ok && Equal(v, want) }, nil
	case OpNe:
		return func(r *Record) bool { v, ok := r.Field(key); return !ok || !Equal(v, want) }, nil
	case OpGt, OpGte, OpLt, OpLte:
		return func(r *Record) bool {
			v, ok := r.Field(key)
			if !ok || v.kind != want.kind {
				return false
			}
			c := Compare(v, want)
			switch op {
			case OpGt:
				return c > 0
			case OpGte:
				return c >= 0
			case OpLt:
				return c < 0
			}
			return c <= 0
		}, nil
	case OpIn, OpNotIn:
		set := inOperands(want)
		neg := op == OpNotIn
		return func(r *Record) bool {
			v, ok := r.Field(key)
			in := ok && slices.ContainsFunc(set, func(e Value) bool { return Equal(v, e) })
			return in != neg
		}, nil
	case OpExists:
		return func(r *Record) bool { v, ok := r.Field(key); return ok && v.kind != KindNull }, nil
	case OpEmpty:
		return func(r *Record) bool { v, ok := r.Field(key); return !ok || isEmpty(v) }, nil
	case OpContains:
		var folded string
		if want.kind == KindString {
			folded = Fold(want.s)
		}
		return func(r *Record) bool {
			v, ok := r.Field(key)
			if !ok {
				return false
			}
			switch v.kind {
			case KindString:
				return want.kind == KindString && strings.Contains(Fold(v.s), folded)
			case KindList:
				return slices.ContainsFunc(v.list(), func(e Value) bool { return Equal(e, want) })
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("%w: unknown operator %d", ErrInvalidQuery, f.Op)
}

func inOperands(v Value) []Value {
	if v.kind == KindList {
		return v.list()
	}
	return []Value{v}
}

func isEmpty(v Value) bool {
	switch v.kind {
	case KindNull:
		return true
	case KindString:
		return v.s == ""
	case KindList:
		return len(v.list()) == 0
	}
	return false
}

// MaxRecordTokens caps the distinct full-text tokens of one record: its
// postings must fit one index transaction with its other entries. Tokens
// count in document order — the full-text keys in key order (every key but
// the type, in sorted order, when Config.FullTextKeys is nil), each value's
// tokens in text order — so a very long text is searchable by its first
// MaxRecordTokens distinct words only. Index and in-memory matcher apply the
// same cap.
const MaxRecordTokens = 1024

// recordTokens returns the distinct full-text tokens of r (ftKeys nil: of
// every detail but the type), sorted, at most MaxRecordTokens.
func recordTokens(r *Record, ftKeys []string) []string {
	var toks []string
	if ftKeys == nil {
		if len(r.Details) == 0 {
			return nil
		}
		keys := make([]string, 0, len(r.Details))
		for k, v := range r.Details {
			if (v.kind == KindString || v.kind == KindList) && k != KeyType {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		ftKeys = keys
	}
	for _, k := range ftKeys {
		if v, ok := r.Details[k]; ok {
			toks = valueTokens(toks, v)
		}
	}
	if len(toks) > MaxRecordTokens {
		toks = firstDistinct(toks, MaxRecordTokens)
	}
	slices.Sort(toks)
	return slices.Compact(toks)
}

// firstDistinct returns the first n distinct tokens of toks, in order.
func firstDistinct(toks []string, n int) []string {
	seen := make(map[string]bool, n)
	out := toks[:0:0]
	for _, t := range toks {
		if seen[t] {
			continue
		}
		seen[t] = true
		if out = append(out, t); len(out) == n {
			break
		}
	}
	return out
}

func matchFullText(r *Record, ftKeys []string, query []string) bool {
	if len(query) == 0 {
		return true
	}
	doc := recordTokens(r, ftKeys)
	for _, q := range query {
		// doc is sorted: the first token >= q is the only candidate prefix match
		// that matters (any token with prefix q sorts at or after q).
		i, _ := slices.BinarySearch(doc, q)
		if i == len(doc) || !strings.HasPrefix(doc[i], q) {
			return false
		}
	}
	return true
}

// Match reports whether r satisfies the query's filter.
func (c *Compiled) Match(r *Record) bool { return c.match(r) }

// Compare orders two records as the query's result does: by each sort key
// (missing values last in both directions), then by id ascending.
func (c *Compiled) Compare(a, b *Record) int {
	for _, s := range c.q.Sorts {
		if r := compareKey(a, b, s); r != 0 {
			return r
		}
	}
	return strings.Compare(a.ID, b.ID)
}

func compareKey(a, b *Record, s Sort) int {
	av, aok := a.Field(s.Key)
	bv, bok := b.Field(s.Key)
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	r := Compare(av, bv)
	if s.Desc {
		r = -r
	}
	return r
}

// Apply evaluates the query over recs in memory: filter, total, order, page
// and key selection. It is the reference semantics the storage engine
// must reproduce. recs is not modified.
func (c *Compiled) Apply(recs []Record) Result {
	var matched []*Record
	for i := range recs {
		if c.match(&recs[i]) {
			matched = append(matched, &recs[i])
		}
	}
	slices.SortFunc(matched, c.Compare)
	return c.page(matched)
}

// page applies offset, limit and key selection to sorted matches: every
// match, so the total is exact.
func (c *Compiled) page(matched []*Record) Result {
	return c.pageOf(matched, len(matched), true)
}

// pageOf applies offset, limit and key selection to the first matches in
// order; seen counts the matches found (at least len(matched)), exact says
// whether that is all of them. A plan that stops early has seen more
// matches than the page ends at, so HasMore holds either way.
func (c *Compiled) pageOf(matched []*Record, seen int, exact bool) Result {
	lo := min(c.q.Offset, len(matched))
	hi := len(matched)
	if c.q.Limit > 0 {
		hi = min(hi, lo+c.q.Limit)
	}
	res := Result{Total: seen, TotalExact: exact, Records: make([]Record, 0, hi-lo)}
	for _, r := range matched[lo:hi] {
		res.Records = append(res.Records, project(r, c.q.Keys))
	}
	res.HasMore = seen > lo+len(res.Records)
	return res
}

// project returns a copy of r holding only the selected detail keys (all
// when keys is nil).
func project(r *Record, keys []string) Record {
	out := *r
	if keys == nil {
		return out
	}
	if len(r.Details) <= len(keys) {
		covered := true
		for k := range r.Details {
			if !slices.Contains(keys, k) {
				covered = false
				break
			}
		}
		if covered {
			return out
		}
	}
	out.Details = make(Details, len(keys))
	for _, k := range keys {
		if v, ok := r.Details[k]; ok {
			out.Details[k] = v
		}
	}
	return out
}
