package objtree

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Tree is one object's DAG of changes. It is a thread-unsafe core: no I/O; Add returns
// what the caller must persist. Changes whose parents are missing wait inside the tree
// (and are reported, so the caller can persist them and fetch the parents).
type Tree struct {
	space    crypto.SpaceID
	id       crypto.ObjectID
	root     Change
	changes  map[crypto.ChangeID]Change // attached: every ancestor present
	children map[crypto.ChangeID][]crypto.ChangeID
	heads    map[crypto.ChangeID]struct{}
	waiting  map[crypto.ChangeID]Change            // parents missing
	waitOn   map[crypto.ChangeID][]crypto.ChangeID // missing parent -> waiting children
	order    []crypto.ChangeID                     // cached deterministic order; nil when stale
}

// Update is what one Add did.
type Update struct {
	Added   []Change          // attached, parents first: persist, index, announce
	Waiting []Change          // stored but waiting for parents: persist too
	Missing []crypto.ChangeID // parents to fetch, sorted
	Heads   []crypto.ChangeID // heads after the add, sorted
	// Rejected lists changes left out because their author may no longer write and no
	// valid change builds on them. Do not persist them.
	Rejected []Rejection
}

// New starts a tree from its verified root change, checking it against the ACL.
func New(root Change, st acl.State) (*Tree, error) {
	if !root.IsRoot {
		return nil, fmt.Errorf("%w: %s is not a root change", ErrInvalid, root.ID)
	}
	if root.Space != st.Space() {
		return nil, fmt.Errorf("%w: change of space %s, ACL of %s", ErrInvalid, root.Space, st.Space())
	}
	if err := checkACL(root, st); err != nil {
		return nil, err
	}
	if !stillWriter(root, st) {
		return nil, fmt.Errorf("%w: %s may not write at the current ACL head", ErrPermission, root.Author)
	}
	return newTree(root), nil
}

// Restore rebuilds a tree from changes this device already accepted (its own storage),
// in any order. It skips the ACL checks, which were made when the changes arrived, so a
// writer removed since then does not make stored history disappear.
func Restore(root Change, changes ...Change) (*Tree, error) {
	if !root.IsRoot {
		return nil, fmt.Errorf("%w: %s is not a root change", ErrInvalid, root.ID)
	}
	t := newTree(root)
	for _, c := range changes {
		if c.Space != t.space || c.Object != t.id || c.IsRoot && c.ID != root.ID {
			return nil, fmt.Errorf("%w: change %s is not part of object %s", ErrInvalid, c.ID, t.id)
		}
		if c.IsRoot {
			continue
		}
		t.insert(c, nil)
	}
	return t, nil
}

func newTree(root Change) *Tree {
	t := &Tree{
		space: root.Space, id: root.Object, root: root,
		changes:  map[crypto.ChangeID]Change{root.ID: root},
		children: map[crypto.ChangeID][]crypto.ChangeID{},
		heads:    map[crypto.ChangeID]struct{}{root.ID: {}},
		waiting:  map[crypto.ChangeID]Change{},
		waitOn:   map[crypto.ChangeID][]crypto.ChangeID{},
	}
	return t
}

// checkACL is the hard check: the author may write at the change's ACL head, and the key
// id is the read key current at that head. The current-head check is separate (stillWriter)
// because Add treats it per change (see Add).
func checkACL(c Change, st acl.State) error {
	then, err := st.RoleAt(c.AclHead, c.Author)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrAclBehind, c.ID, err)
	}
	if !then.CanWrite() {
		return fmt.Errorf("%w: %s is %s at ACL record %s", ErrPermission, c.Author, then, c.AclHead)
	}
	kid, err := st.ReadKeyIDAt(c.AclHead)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAclBehind, err)
	}
	if c.KeyID != kid {
		return fmt.Errorf("%w: change %s uses key %s, the read key at its ACL head is %s", ErrInvalid, c.ID, c.KeyID, kid)
	}
	return nil
}

func stillWriter(c Change, st acl.State) bool { return st.Role(c.Author).CanWrite() }

// ID returns the object id.
func (t *Tree) ID() crypto.ObjectID { return t.id }

// Root returns the root change.
func (t *Tree) Root() Change { return t.root }

// Len returns the number of attached changes.
func (t *Tree) Len() int { return len(t.changes) }

// Get returns an attached or waiting change.
func (t *Tree) Get(id crypto.ChangeID) (Change, bool) {
	if c, ok := t.changes[id]; ok {
		return c, true
	}
	c, ok := t.waiting[id]
	return c, ok
}

// Has reports whether the change is attached.
func (t *Tree) Has(id crypto.ChangeID) bool { _, ok := t.changes[id]; return ok }

// Heads returns the sorted heads.
func (t *Tree) Heads() []crypto.ChangeID {
	out := make([]crypto.ChangeID, 0, len(t.heads))
	for h := range t.heads {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// HeadsHash is the hash of the sorted heads, for the index and the range diff.
func (t *Tree) HeadsHash() string { return HeadsHash(t.Heads()) }

// HeadsHash hashes sorted heads: the content id of "hearth/heads/v1\x00" and the ids
// joined by newlines.
func HeadsHash(heads []crypto.ChangeID) string {
	s := make([]string, len(heads))
	for i, h := range heads {
		s[i] = string(h)
	}
	slices.Sort(s)
	return string(crypto.Sum([]byte("hearth/heads/v1\x00" + strings.Join(s, "\n"))))
}

// Missing returns the sorted ids of parents that waiting changes need.
func (t *Tree) Missing() []crypto.ChangeID {
	out := make([]crypto.ChangeID, 0, len(t.waitOn))
	for id := range t.waitOn {
		if _, held := t.waiting[id]; held {
			continue // we have it; it waits for its own parents
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Add validates changes against the ACL state and adds them; known changes are ignored.
//
// Hard failures make the whole call fail and leave the tree unchanged: a change of another
// space or object, a second root, an author who could not write at the change's ACL head
// (ErrPermission), an unknown ACL head (ErrAclBehind), a key id that is not the read key of
// that head (ErrInvalid).
//
// A change whose author may not write at the current ACL head any more is accepted only if
// it is vouched for: a change already in the tree, or an accepted change of this batch,
// builds on it. Otherwise it is left out and listed in Update.Rejected while the rest of
// the batch is added; Add then returns the Update together with an error wrapping both
// ErrPartial and ErrPermission, and the caller must still persist Added and Waiting. This rejects a removed writer's
// back-dated changes (nobody valid can have built on them) but keeps the history a removed
// writer made while it was a writer, as soon as any valid change refers to it.
func (t *Tree) Add(st acl.State, cs ...Change) (Update, error) {
	if st.Space() != t.space {
		return Update{}, fmt.Errorf("%w: ACL of space %s, tree of %s", ErrInvalid, st.Space(), t.space)
	}
	batch := make(map[crypto.ChangeID]Change, len(cs))
	for _, c := range cs {
		if c.Space != t.space || c.Object != t.id {
			return Update{}, fmt.Errorf("%w: change %s belongs to %s/%s, not %s/%s", ErrInvalid, c.ID, c.Space, c.Object, t.space, t.id)
		}
		if c.IsRoot {
			if c.ID != t.root.ID {
				return Update{}, fmt.Errorf("%w: second root %s", ErrInvalid, c.ID)
			}
			continue
		}
		if _, known := t.Get(c.ID); known {
			continue
		}
		if err := checkACL(c, st); err != nil {
			return Update{}, err
		}
		batch[c.ID] = c
	}
	// Vouching: valid changes of the batch and every change the tree holds vouch for their
	// parents in the batch, transitively.
	vouched := make(map[crypto.ChangeID]bool, len(batch))
	var stack []crypto.ChangeID
	for id, c := range batch {
		if stillWriter(c, st) {
			stack = append(stack, id)
		}
	}
	for _, c := range t.waiting {
		stack = append(stack, c.Parents...)
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, ok := batch[id]
		if !ok || vouched[id] {
			continue
		}
		vouched[id] = true
		stack = append(stack, c.Parents...)
	}
	var up Update
	for _, c := range cs {
		if _, ok := batch[c.ID]; !ok {
			continue
		}
		if !vouched[c.ID] {
			up.Rejected = append(up.Rejected, Rejection{ID: c.ID, Err: fmt.Errorf("%w: %s may not write at the current ACL head and no valid change builds on %s", ErrPermission, c.Author, c.ID)})
			delete(batch, c.ID)
			continue
		}
		if _, known := t.Get(c.ID); known {
			continue // listed twice in the batch
		}
		up = t.insert(c, &up)
	}
	// Changes that got attached are no longer waiting.
	w := up.Waiting[:0]
	for _, c := range up.Waiting {
		if _, still := t.waiting[c.ID]; still {
			w = append(w, c)
		}
	}
	up.Waiting = w
	up.Missing = t.Missing()
	up.Heads = t.Heads()
	if len(up.Rejected) > 0 {
		// The update is still valid: persist Added and Waiting.
		return up, fmt.Errorf("%w: %d change(s) rejected (first %s: %v); the others were added, see Update",
			ErrPartial, len(up.Rejected), up.Rejected[0].ID, up.Rejected[0].Err)
	}
	return up, nil
}

// Rejection is a change Add left out, with the reason.
type Rejection struct {
	ID  crypto.ChangeID
	Err error
}

// insert adds c, attached or waiting, recording the outcome in up (nil: discard).
func (t *Tree) insert(c Change, up *Update) Update {
	if up == nil {
		up = &Update{}
	}
	if missing := t.missingParents(c); len(missing) > 0 {
		t.waiting[c.ID] = c
		for _, p := range missing {
			t.waitOn[p] = append(t.waitOn[p], c.ID)
		}
		up.Waiting = append(up.Waiting, c)
		return *up
	}
	up.Added = t.attach(c, up.Added)
	return *up
}

func (t *Tree) missingParents(c Change) []crypto.ChangeID {
	var m []crypto.ChangeID
	for _, p := range c.Parents {
		if _, ok := t.changes[p]; !ok {
			m = append(m, p)
		}
	}
	return m
}

// attach adds c (all parents present) and every waiting change it unblocks.
func (t *Tree) attach(c Change, added []Change) []Change {
	stack := []Change{c}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		t.changes[c.ID] = c
		delete(t.waiting, c.ID)
		heads := len(t.heads)
		for _, p := range c.Parents {
			if _, ok := t.heads[p]; ok {
				heads--
				delete(t.heads, p)
			}
			t.children[p] = append(t.children[p], c.ID)
		}
		if heads == 0 && t.order != nil {
			// c builds on every head, so it descends from every change and
			// comes last in any topological order: the usual local write
			// extends the order instead of costing a sort of the history.
			t.order = append(t.order, c.ID)
		} else {
			t.order = nil
		}
		t.heads[c.ID] = struct{}{}
		added = append(added, c)
		for _, w := range t.waitOn[c.ID] {
			wc, ok := t.waiting[w]
			if ok && len(t.missingParents(wc)) == 0 {
				delete(t.waiting, w)
				stack = append(stack, wc)
			}
		}
		delete(t.waitOn, c.ID)
	}
	return added
}

// Order returns the attached changes' ids in the deterministic order: topological, ties
// broken by the smaller change id. It depends only on the set of changes.
func (t *Tree) Order() []crypto.ChangeID {
	if t.order != nil {
		return t.order
	}
	indeg := make(map[crypto.ChangeID]int, len(t.changes))
	for id, c := range t.changes {
		indeg[id] = len(c.Parents)
	}
	h := &idHeap{t.root.ID}
	order := make([]crypto.ChangeID, 0, len(t.changes))
	for h.Len() > 0 {
		id := heap.Pop(h).(crypto.ChangeID)
		order = append(order, id)
		for _, ch := range t.children[id] {
			indeg[ch]--
			if indeg[ch] == 0 {
				heap.Push(h, ch)
			}
		}
	}
	t.order = order
	return order
}

// Since returns the attached changes that are not ancestors of (or equal to) the given
// heads, in the deterministic order: what a peer with those heads lacks. Unknown heads
// are ignored (the peer has changes we lack; it will push them).
func (t *Tree) Since(heads []crypto.ChangeID) []Change {
	have := map[crypto.ChangeID]bool{}
	var stack []crypto.ChangeID
	for _, h := range heads {
		if _, ok := t.changes[h]; ok {
			stack = append(stack, h)
		}
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if have[id] {
			continue
		}
		have[id] = true
		stack = append(stack, t.changes[id].Parents...)
	}
	var out []Change
	for _, id := range t.Order() {
		if !have[id] {
			out = append(out, t.changes[id])
		}
	}
	return out
}

// State replays the ordered changes' ops with the given read keys. It fails with ErrNoKey
// if a change's key is not among keys (e.g. a removed member and a change made after).
func (t *Tree) State(keys map[crypto.KeyID]crypto.SymKey) (*State, error) {
	s := NewState()
	for _, id := range t.Order() {
		ops, err := DecryptOps(t.changes[id], keys)
		if err != nil {
			return nil, err
		}
		s.Apply(ops)
	}
	return s, nil
}

type idHeap []crypto.ChangeID

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(crypto.ChangeID)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
