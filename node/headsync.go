package node

import (
	"context"
	"sync"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// DefaultHeadSetBudget is how many head-sync elements (one per object) the node keeps in
// memory across spaces, about 16 MiB per 100k objects.
const DefaultHeadSetBudget = 1_000_000

// headSets caches each recently used space's head-sync set (object id, heads hash), built
// from the store once and then kept up to date as the node accepts changes, so a head
// sync reads nothing from the store: an idle device's round (the whole range, compared
// with its digest) costs a lookup and a hash.
//
// Correctness rests on seeing every accepted change: accepted is told the heads each
// PutChanges replaced and the ones it wrote, and applies them only when the cached
// element is the one replaced; anything else (two racing writers told out of order, a
// change this node did not make) drops the space's set, and the next head sync rebuilds
// it. A store shared by several nodes must call Invalidate when another node writes.
type headSets struct {
	store  store.Store
	budget int // most elements cached across spaces; the least recently used go first

	mu      sync.Mutex // guards every field below; never held across store reads
	entries map[crypto.SpaceID]*headSet
	total   int    // elements cached
	clock   uint64 // use counter, for LRU
}

// headSet is one space's cached set.
type headSet struct {
	ready chan struct{} // closed when the load ended
	// Guarded by headSets.mu:
	set     *diff.Set
	err     error    // the load failed: the entry is dropped once its waiters saw it
	early   []change // changes accepted while the set loaded, applied after it
	stale   bool     // invalidated while it loaded: dropped once loaded
	size    int      // elements counted in headSets.total
	lastUse uint64
}

// change is one accepted PutChanges: old heads (nil for a new object) replaced by heads.
type change struct {
	obj        crypto.ObjectID
	old, heads []crypto.ChangeID
}

func (h *headSets) init(st store.Store, budget int) {
	if budget <= 0 {
		budget = DefaultHeadSetBudget
	}
	h.store, h.budget, h.entries = st, budget, map[crypto.SpaceID]*headSet{}
}

func element(obj crypto.ObjectID, heads []crypto.ChangeID) diff.Element {
	return diff.Element{ID: string(obj), HeadsHash: objtree.HeadsHash(heads)}
}

// ranges answers a head-sync request for space id from its cached set, loading it first.
func (h *headSets) ranges(ctx context.Context, id crypto.SpaceID, req []diff.Range) ([]diff.RangeResult, error) {
	h.mu.Lock()
	e := h.entries[id]
	if e == nil {
		e = &headSet{ready: make(chan struct{})}
		h.entries[id] = e
		h.mu.Unlock()
		h.load(ctx, id, e)
		h.mu.Lock()
	}
	h.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.err != nil {
		return nil, e.err
	}
	h.clock++
	e.lastUse = h.clock
	// Answering is CPU only (the merge of pending changes and the range hashes).
	return e.set.Ranges(req)
}

// load reads the space's objects into e's set, then applies what was accepted meanwhile.
// A load cut short by ctx fails the entry (its waiters retry with a new one).
func (h *headSets) load(ctx context.Context, id crypto.SpaceID, e *headSet) {
	var els []diff.Element
	err := h.store.Objects(ctx, id, func(o crypto.ObjectID, heads []crypto.ChangeID) bool {
		els = append(els, element(o, heads))
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	defer close(e.ready)
	if err != nil {
		e.err = err
		h.dropLocked(id, e)
		return
	}
	e.set, e.size = diff.NewSet(els), len(els)
	h.total += e.size
	if e.stale {
		h.dropLocked(id, e) // its waiters still get this answer, the next head sync reloads
		return
	}
	early := e.early
	e.early = nil
	for _, c := range early {
		if !h.applyLocked(id, e, c) {
			return // dropped: the next head sync loads again
		}
	}
	h.evictLocked(id)
}

// accepted tells the cache that the store replaced old heads (nil: a new object) by heads.
func (h *headSets) accepted(id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[id]
	switch {
	case e == nil:
	case e.set == nil: // loading
		e.early = append(e.early, change{obj: obj, old: old, heads: heads})
	default:
		h.applyLocked(id, e, change{obj: obj, old: old, heads: heads})
	}
}

// applyLocked applies c to e's set when the set holds the heads c replaced (or already
// holds c's heads); otherwise it drops the set. It reports whether the set stays.
func (h *headSets) applyLocked(id crypto.SpaceID, e *headSet, c change) bool {
	cur, ok := e.set.Get(string(c.obj))
	next := element(c.obj, c.heads)
	switch {
	case ok && cur == next:
		return true
	case !ok && len(c.old) == 0:
		e.set.Put(next)
		e.size++
		h.total++
		return true
	case ok && len(c.old) > 0 && cur == element(c.obj, c.old):
		e.set.Put(next)
		return true
	}
	h.dropLocked(id, e)
	return false
}

// Invalidate drops space id's cached set (its data changed behind the node's back: a
// purge, or another node's write to a shared store).
func (h *headSets) Invalidate(id crypto.SpaceID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e := h.entries[id]; {
	case e == nil:
	case e.set == nil:
		e.stale = true // loading: dropped once loaded
	default:
		h.dropLocked(id, e)
	}
}

func (h *headSets) dropLocked(id crypto.SpaceID, e *headSet) {
	if h.entries[id] == e {
		delete(h.entries, id)
		h.total -= e.size
		e.size = 0
	}
}

// evictLocked drops least recently used sets, other than keep's, while over budget.
func (h *headSets) evictLocked(keep crypto.SpaceID) {
	for h.total > h.budget {
		var victim crypto.SpaceID
		var oldest *headSet
		for id, e := range h.entries {
			if id != keep && e.set != nil && (oldest == nil || e.lastUse < oldest.lastUse) {
				victim, oldest = id, e
			}
		}
		if oldest == nil {
			if e := h.entries[keep]; e != nil && e.size > h.budget {
				h.dropLocked(keep, e) // bigger than the whole budget: never cached
			}
			return
		}
		h.dropLocked(victim, oldest)
	}
}
