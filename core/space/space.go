package space

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/protocol/space"
	"github.com/hearth-sync/hearth/spaceindex"
)

// Space is one loaded space. Its exported methods are safe for concurrent
// use: writes run on the space's actor goroutine, reads go to the store and
// index directly.
type Space struct {
	id        crypto.SpaceID
	store     *spacestore.Store
	index     *spaceindex.Handle
	author    crypto.PrivKey // the account key: it signs ACL records and changes
	device    crypto.PubKey  // provisionally accepts the ACL root of a space the node has not seen
	inviteKey crypto.PrivKey // the no-approval invite this device joined through, if any
	node      NodeKey        // the pinned node key, once known
	now       func() int64   // unix ms
	log       *slog.Logger

	onLocalChange atomic.Pointer[func()] // told after every local write
	pending       atomic.Int64           // objects with changes the node has not acknowledged
	provisional   atomic.Bool            // the ACL root is accepted only by this device (the node lacks the space)
	noReadKey     atomic.Bool            // a member holding no key that opens the current read key (SyncBlocked)
	lastUse       atomic.Int64           // unix ms of the last request or read (idle unload)
	accountSpace  bool                   // the account space: always loaded
	files         FileMarkers            // the account's file markers (nil: no files)

	maint maintenance // rebuilds and verifies running beside the actor (rebuild.go)

	// afterSync runs after the actor's next successful group sync (work that
	// must follow durability, such as dropping a file marker). Actor only.
	afterSync []func()

	// indexBatch, while the actor runs a group of requests, collects the
	// index records their writes make, written as one index write beside the
	// group's store sync (or before a request reads the index). indexErr is
	// the first failure of such a write during the group: every request of
	// the group fails with it. Actor only.
	indexBatch *indexBatch
	indexErr   error

	reqs chan request
	stop chan struct{} // closed by close: the actor drains and exits
	done chan struct{} // closed when the actor has exited

	// Owned by the actor goroutine (and by load, before the actor starts).
	header  space.Header
	acl     acl.State
	keys    map[crypto.KeyID]crypto.SymKey
	objects map[crypto.ObjectID]*object
}

// object is an object's in-memory core, cached by the actor.
type object struct {
	tree        *objtree.Tree
	state       *objtree.State
	isNew       bool            // its root came from the node and is not stored yet
	applied     int             // how many changes of tree.Order() state has applied
	lastApplied crypto.ChangeID // the last of them
	typ         string
	created     int64
	updated     int64 // the latest change timestamp
}

type request struct {
	fn   func() error
	done chan error
}

// maxCachedObjects bounds the actor's object cache; beyond it the cache is
// dropped and objects are rebuilt from the store on their next write. A
// cached object holds its whole change tree (about 2.5 KB for 12 details):
// at 4,096, after 100k writes the cache held 8–10 MiB and, spread over the
// heap's spans, kept about 40 MiB of them in use (BenchmarkLoadedSpaceHeap:
// 58 MiB at 4,096, 16 MiB at 512).
const maxCachedObjects = 512

// OnLocalChange sets the function told after every local write (the sync
// engine's nudge). It must not block.
func (s *Space) OnLocalChange(fn func()) { s.onLocalChange.Store(&fn) }

// touch records a use of the space (its idle time starts again).
func (s *Space) touch() { s.lastUse.Store(s.now()) }

// LastUse is when the space was last used: its load, a request, a read, a Get.
func (s *Space) LastUse() time.Time { return time.UnixMilli(s.lastUse.Load()) }

// ID is the space id.
func (s *Space) ID() crypto.SpaceID { return s.id }

// Index is the space's index handle (for live subscriptions: QueryAt and
// Watch). It stays a proxy: it never reopens the index after an unload.
func (s *Space) Index() *spaceindex.Handle { return s.index }

// do runs fn on the actor and waits for it. ctx bounds only the wait for
// the actor to take the request: once taken, fn runs to completion and do
// waits for it (a started write is never cut, and fn's results are never
// read while it runs).
func (s *Space) do(ctx context.Context, fn func() error) error {
	s.touch()
	r := request{fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.stop:
		return errkind.Errorf("space", errkind.Precondition, "space %s is not loaded", s.id)
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

// maxGroup bounds the requests one group commit answers.
const maxGroup = 256

// run is the actor. It commits in groups: it runs a request, then every
// request that arrived meanwhile (up to maxGroup), writes their index
// records at once, syncs the store once, and only then answers them all —
// nothing is acknowledged before it is durable and indexed, and concurrent
// writers share one fsync and one index write.
func (s *Space) run() {
	defer close(s.done)
	group := make([]request, 0, maxGroup)
	errs := make([]error, 0, maxGroup)
	for {
		select {
		case r := <-s.reqs:
			s.indexBatch = &indexBatch{at: map[string]int{}}
			group, errs = append(group[:0], r), append(errs[:0], s.safely(r.fn))
		more:
			for len(group) < maxGroup {
				select {
				case r := <-s.reqs:
					group, errs = append(group, r), append(errs, s.safely(r.fn))
				default:
					break more
				}
			}
			s.answer(group, errs)
		case <-s.stop:
			for { // finish what was already handed over
				select {
				case r := <-s.reqs:
					s.answer([]request{r}, []error{s.safely(r.fn)})
				default:
					return
				}
			}
		}
	}
}

// answer writes the group's index records beside the store's sync (two
// databases: neither waits for the other), then answers the group. When the
// index write fails, every request of the group fails with it (the store
// has the writes; the index catches up on the next load). When the sync
// fails, every request fails with it (its writes may be lost) and the
// object cache, which may hold them, is dropped.
func (s *Space) answer(group []request, errs []error) {
	after := s.afterSync
	s.afterSync = nil
	indexed := s.flushIndexBeside()
	syncErr := s.store.Sync()
	if err := <-indexed; err != nil && s.indexErr == nil {
		s.indexErr = err
	}
	if err := s.indexErr; err != nil {
		s.log.Error("space index write failed", "space", s.id, "err", err)
		err = errkind.E("space", errkind.Other, err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	s.indexErr = nil
	if syncErr != nil {
		s.log.Error("space store sync failed", "space", s.id, "err", syncErr)
		s.objects = map[crypto.ObjectID]*object{}
		err := errkind.E("space", errkind.Other, syncErr)
		for i := range errs {
			errs[i] = err
		}
	} else {
		for _, fn := range after {
			fn()
		}
	}
	for i, r := range group {
		r.done <- errs[i]
	}
}

// flushIndexBeside ends the group's batch: it writes the batched records on
// a goroutine of its own, whose result the returned channel carries (nil
// at once when there is nothing to write). The caller receives it before it
// answers anyone. Actor only.
func (s *Space) flushIndexBeside() <-chan error {
	done := make(chan error, 1)
	b := s.indexBatch
	s.indexBatch = nil
	if b == nil || len(b.recs) == 0 {
		done <- nil
		return done
	}
	seq := s.storeSeq()
	go func() { done <- s.index.PutAt(context.Background(), seq, b.recs...) }()
	return done
}

// safely runs fn, turning a panic into an error so one bad request cannot
// take the space down.
func (s *Space) safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("space actor recovered from a panic", "space", s.id, "panic", fmt.Sprint(r))
			s.objects = map[crypto.ObjectID]*object{} // the cache may be half-updated
			err = errkind.Errorf("space", errkind.Other, "internal error in space %s", s.id)
		}
	}()
	return fn()
}

// close stops the actor after the requests already handed over, waits for
// maintenance work on the space (rebuild.go: it holds a store snapshot and
// an index generation), then closes the store. The index is closed by the
// caller through the registry.
func (s *Space) close() error {
	s.maint.mu.Lock()
	s.maint.stopped = true
	s.maint.mu.Unlock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.maint.wg.Wait()
	return s.store.Close()
}

// NodeKey returns the pinned node key; ok is false before first contact.
type NodeKey func() (key crypto.PubKey, ok bool)

// verifyAccepted checks an accepted ACL record: the provisional root (seq 1
// of a space the node has not accepted yet) is countersigned by this device,
// every other record by the pinned node.
func (s *Space) verifyAccepted(raw []byte, provisionalRoot bool) (acl.VerifiedRecord, error) {
	if provisionalRoot {
		return acl.Verify(raw, s.device)
	}
	key, ok := s.node()
	if !ok {
		return acl.VerifiedRecord{}, fmt.Errorf("an ACL record accepted by a node whose key this device has not pinned")
	}
	return acl.Verify(raw, key)
}

// load reads the header and ACL from the store and derives the read keys.
func (s *Space) load() error {
	n, err := s.store.PendingCount()
	if err != nil {
		return fmt.Errorf("space %s: pending objects: %w", s.id, err)
	}
	s.pending.Store(int64(n))
	rawHeader, err := s.store.Header()
	if err != nil {
		return fmt.Errorf("space %s: header: %w", s.id, err)
	}
	h, err := space.Verify(rawHeader)
	if err != nil {
		return err
	}
	if h.ID != s.id {
		return fmt.Errorf("space %s: the stored header is of space %s", s.id, h.ID)
	}
	records, err := s.store.AclRecords()
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("space %s: no ACL records", s.id)
	}
	provisional, err := s.store.Provisional()
	if err != nil {
		return err
	}
	s.provisional.Store(provisional)
	st := acl.New(h.ID, h.Creator)
	for i, raw := range records {
		rec, err := s.verifyAccepted(raw, provisional && i == 0)
		if err != nil {
			return fmt.Errorf("space %s: ACL record %d: %w", s.id, i+1, err)
		}
		if st, err = st.Apply(rec); err != nil {
			return fmt.Errorf("space %s: ACL record %d: %w", s.id, i+1, err)
		}
	}
	s.header = h
	s.acl = st
	s.keys, err = acl.ReadKeys(st, s.holderKeys()...)
	if err != nil { // removed members keep no keys: the space is still readable as it was
		s.keys = map[crypto.KeyID]crypto.SymKey{}
	}
	s.checkReadKey()
	return nil
}

// ErrNoReadKey: this device's account is a member of the space but holds no
// key that opens its current read key, so it can neither read new changes
// nor write (a join through a no-approval invite whose key was lost, or a
// rotation that missed this member). Sync stops with this error until a
// record seals the key to it.
var ErrNoReadKey = errors.New("no key this device holds opens the space's current read key")

// checkReadKey records whether the member lacks the current read key.
// Actor only (and load).
func (s *Space) checkReadKey() {
	_, ok := s.keys[s.acl.ReadKeyID()]
	missing := !ok && s.acl.Role(s.author.Public()).CanRead()
	if missing && !s.noReadKey.Load() {
		s.log.Warn("this member holds no key of the space's current read key: sync stops until one is sealed to it", "space", s.id)
	}
	s.noReadKey.Store(missing)
}

// SyncBlocked returns the error that stops this space's sync before any
// object is exchanged (ErrNoReadKey), or nil.
func (s *Space) SyncBlocked() error {
	if s.noReadKey.Load() {
		return errkind.E("space.sync", errkind.Permission, ErrNoReadKey)
	}
	return nil
}

// holderKeys are the private keys read keys may be sealed to: the account
// key, and the invite key of a no-approval invite this device joined through
// (until a rotation seals the read key to the account itself).
func (s *Space) holderKeys() []crypto.PrivKey {
	keys := []crypto.PrivKey{s.author}
	if !s.inviteKey.IsZero() {
		keys = append(keys, s.inviteKey)
	}
	return keys
}

// Details are an object's detail values.
type Details map[string]*syncpb.Value

// Object is an object as read from the space.
type Object struct {
	ID         crypto.ObjectID
	Type       string
	Details    Details
	SyncStatus spaceindex.SyncStatus
}

// CreateObject makes a new object with initial details and returns its id.
// Files are made by CreateFile.
func (s *Space) CreateObject(ctx context.Context, typ string, details Details) (crypto.ObjectID, error) {
	if typ == FileType {
		return "", errkind.Errorf("object.create", errkind.Invalid, "objects of type %q are made by adding a file", FileType)
	}
	return s.createObject(ctx, typ, details)
}

func (s *Space) createObject(ctx context.Context, typ string, details Details) (crypto.ObjectID, error) {
	if objectType(typ) != typ {
		return "", errkind.Errorf("object.create", errkind.Invalid, "object type %.40q: want valid UTF-8 of at most %d bytes", typ, maxTypeSize)
	}
	ops, err := setOps(details)
	if err != nil {
		return "", err
	}
	var id crypto.ObjectID
	err = s.do(ctx, func() error {
		if !s.acl.Role(s.author.Public()).CanWrite() {
			return errkind.Errorf("object.create", errkind.Permission, "your role in space %s cannot write", s.id)
		}
		b := objtree.Builder{Space: s.id, Author: s.author}
		rootRaw, err := b.Root(s.acl.Head(), s.acl.ReadKeyID(), typ, s.now())
		if err != nil {
			return err
		}
		root, err := objtree.Verify(rootRaw)
		if err != nil {
			return err
		}
		tree, err := objtree.New(root, s.acl)
		if err != nil {
			return err
		}
		id = crypto.ObjectID(root.ID)
		obj := &object{tree: tree, state: objtree.NewState(), typ: typ, created: root.Timestamp, updated: root.Timestamp}
		written := []objtree.Change{root}
		if len(ops) > 0 {
			cs, err := s.newChange(obj, ops)
			if err != nil {
				return err
			}
			written = append(written, cs...)
		}
		return s.persist(obj, written)
	})
	return id, err
}

// UpdateObject sets and unsets details of an existing object.
func (s *Space) UpdateObject(ctx context.Context, id crypto.ObjectID, set Details, unset []string) error {
	ops, err := setOps(set)
	if err != nil {
		return err
	}
	for _, k := range unset {
		if err := checkUserKey(k); err != nil {
			return errkind.E("object.unset", errkind.Invalid, err)
		}
		ops = append(ops, objtree.Unset(k))
	}
	if len(ops) == 0 {
		return errkind.Errorf("object.set", errkind.Invalid, "nothing to change")
	}
	return s.do(ctx, func() error { return s.write(id, ops) })
}

// DeleteObject marks the object deleted; it leaves the index and queries.
func (s *Space) DeleteObject(ctx context.Context, id crypto.ObjectID) error {
	return s.do(ctx, func() error {
		return s.write(id, []*syncpb.Op{objtree.Set(keyDeleted, objtree.Bool(true))})
	})
}

// write appends one change with ops to an existing, live object. Actor only.
func (s *Space) write(id crypto.ObjectID, ops []*syncpb.Op) error {
	obj, err := s.object(id)
	if err != nil {
		return err
	}
	if obj.deleted() {
		return errkind.Errorf("object", errkind.NotFound, "object %s was deleted", id)
	}
	if !s.acl.Role(s.author.Public()).CanWrite() {
		return errkind.Errorf("object", errkind.Permission, "your role in space %s cannot write", s.id)
	}
	if err := checkFileOps(obj, ops); err != nil {
		return err
	}
	cs, err := s.newChange(obj, ops)
	if err != nil {
		return err
	}
	return s.persist(obj, cs)
}

// newChange builds, signs and adds a change on the object's heads, and
// returns what it added: the change, after the merge changes it needs when
// the object has more heads than a change may have parents (objtree.Merge:
// any number of concurrent siblings stays writable). Actor only.
func (s *Space) newChange(obj *object, ops []*syncpb.Op) ([]objtree.Change, error) {
	readKey, ok := s.keys[s.acl.ReadKeyID()]
	if !ok {
		return nil, errkind.Errorf("object", errkind.Permission, "no current read key for space %s", s.id)
	}
	b := objtree.Builder{Space: s.id, Author: s.author}
	now := s.now()
	merges, parents, err := b.Merge(obj.tree.ID(), obj.tree.Heads(), s.acl.Head(), readKey, now)
	if err != nil {
		return nil, errkind.E("object", errkind.Invalid, err)
	}
	raw, err := b.Change(obj.tree.ID(), parents, s.acl.Head(), readKey, ops, now)
	if err != nil {
		return nil, errkind.E("object", errkind.Invalid, err)
	}
	c, err := objtree.DecodeStored(raw) // just signed here: no need to verify our own signature
	if err != nil {
		return nil, err
	}
	out := append(merges, c)
	if _, err := obj.tree.Add(s.acl, out...); err != nil {
		return nil, err
	}
	return out, nil
}

// persist writes new changes and the object's meta to the store, then
// updates the cached state and the index. Actor only.
func (s *Space) persist(obj *object, written []objtree.Change) error {
	ids, raws := idsAndRaws(written)
	if err := s.replay(obj, written); err != nil {
		return err
	}
	heads := headStrings(obj.tree.Heads())
	meta := spacestore.Meta{Type: obj.typ, Heads: heads, Deleted: obj.deleted()}
	newlyPending, err := s.writeFileChanges(obj, ids, raws, meta, true)
	if err != nil {
		delete(s.objects, obj.tree.ID()) // the tree holds changes the store lacks
		return errkind.E("object", errkind.Other, err)
	}
	if newlyPending {
		s.pending.Add(1)
	}
	s.cache(obj)
	if err := s.reindex(obj); err != nil {
		return err
	}
	if fn := s.onLocalChange.Load(); fn != nil {
		(*fn)()
	}
	return nil
}

// idsAndRaws splits changes into their ids and signed bytes, as the store
// takes them.
func idsAndRaws(cs []objtree.Change) ([]string, [][]byte) {
	ids := make([]string, len(cs))
	raws := make([][]byte, len(cs))
	for i, c := range cs {
		ids[i], raws[i] = string(c.ID), c.Raw
	}
	return ids, raws
}

// replay brings obj.state up to the tree's order, incrementally when the new
// changes extend the order, else from scratch. Actor only.
// The ops it leaves out (values.go) of the changes in written are logged:
// they came with this write; older ones were logged when they arrived.
func (s *Space) replay(obj *object, written []objtree.Change) error {
	drops, err := replayObject(obj, s.keys)
	if len(drops) == 0 {
		return err
	}
	fresh := make(map[crypto.ChangeID]bool, len(written))
	for _, c := range written {
		fresh[c.ID] = true
	}
	for _, d := range drops {
		if !fresh[d.change] {
			continue
		}
		if c, ok := obj.tree.Get(d.change); ok {
			s.log.Warn("dropped an op that no device may apply", "space", s.id, "object", obj.tree.ID(),
				"change", d.change, "author", c.Author, "op", d.op, "why", d.why)
		}
	}
	return err
}

// replayObject is replay with the given read keys (rebuild.go runs it off
// the actor). Every op passes checkOp first (values.go): one that fails it
// is left out, and so is a change whose ops do not decrypt or decode under
// the key it names (it is the same for every member holding that key); the
// rest applies. Both are returned. Only a missing read key fails the replay:
// another device that holds it would apply the change.
func replayObject(obj *object, keys map[crypto.KeyID]crypto.SymKey) ([]dropped, error) {
	order := obj.tree.Order()
	if obj.applied > len(order) || !prefixStable(obj, order) {
		obj.state, obj.applied = objtree.NewState(), 0
	}
	var drops []dropped
	for _, id := range order[obj.applied:] {
		c, _ := obj.tree.Get(id)
		ops, err := objtree.DecryptOps(c, keys)
		switch {
		case errors.Is(err, objtree.ErrNoKey):
			return drops, err
		case err != nil:
			drops = append(drops, dropped{change: id, op: -1, why: err.Error()})
			ops = nil
		}
		ops, drops = validOps(id, ops, drops)
		obj.state.Apply(ops)
		obj.updated = max(obj.updated, c.Timestamp)
		obj.applied++
		obj.lastApplied = id
	}
	return drops, nil
}

// prefixStable reports whether the changes already applied are still the
// first ones of the order (true when new changes only came after them).
func prefixStable(obj *object, order []crypto.ChangeID) bool {
	return obj.applied == 0 || obj.lastApplied == order[obj.applied-1]
}

func (s *Space) cache(obj *object) {
	if len(s.objects) >= maxCachedObjects {
		s.objects = map[crypto.ObjectID]*object{}
	}
	s.objects[obj.tree.ID()] = obj
}

// object returns the cached object or rebuilds it from the store. Actor only.
func (s *Space) object(id crypto.ObjectID) (*object, error) {
	if obj, ok := s.objects[id]; ok {
		return obj, nil
	}
	raws, err := s.store.Changes(string(id))
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, errkind.Errorf("object", errkind.NotFound, "no object %s in space %s", id, s.id)
	}
	obj, err := restoreObject(id, raws, s.keys)
	if err != nil {
		return nil, err
	}
	if err := s.repairMeta(obj); err != nil {
		return nil, err
	}
	s.cache(obj)
	return obj, nil
}

// repairMeta rewrites the object's meta (and record) when the changes in the
// store have other heads than it names: a batch too big for one transaction
// stores its changes first (spacestore.WriteChanges), and a crash before the
// meta followed leaves them there, valid and unnamed. Actor only.
func (s *Space) repairMeta(obj *object) error {
	id := string(obj.tree.ID())
	heads := headStrings(obj.tree.Heads())
	meta, err := s.store.Meta(id)
	if err != nil && !errors.Is(err, spacestore.ErrNotFound) {
		return err
	}
	if err == nil && slices.Equal(meta.Heads, heads) {
		return nil
	}
	s.log.Warn("repairing an object's heads from its stored changes", "space", s.id, "object", id, "stored", len(meta.Heads), "changes", len(heads))
	meta = spacestore.Meta{Type: obj.typ, Heads: heads, Deleted: obj.deleted()}
	if _, err := s.store.WriteChanges(id, nil, nil, meta, false); err != nil {
		return errkind.E("object", errkind.Other, err)
	}
	return s.reindex(obj)
}

// restoreObject rebuilds an object's core from its stored changes and
// replays its state with keys. It touches no Space state, so a rebuild can
// run it off the actor.
func restoreObject(id crypto.ObjectID, raws [][]byte, keys map[crypto.KeyID]crypto.SymKey) (*object, error) {
	changes := make([]objtree.Change, 0, len(raws))
	var root *objtree.Change
	for _, raw := range raws {
		// Stored changes were verified when they arrived: decode without
		// the signature check (the id is still recomputed from the bytes).
		c, err := objtree.DecodeStored(raw)
		if err != nil {
			return nil, errkind.E("object", errkind.Corrupt, err)
		}
		if c.IsRoot {
			root = &c
			continue
		}
		changes = append(changes, c)
	}
	if root == nil || crypto.ObjectID(root.ID) != id {
		return nil, errkind.Errorf("object", errkind.Corrupt, "object %s has no root change in the store", id)
	}
	// The store holds only changes that passed the signature and ACL checks
	// when they arrived; Restore rebuilds the DAG without judging old changes
	// by today's ACL.
	tree, err := objtree.Restore(*root, changes...)
	if err != nil {
		return nil, errkind.E("object", errkind.Corrupt, err)
	}
	obj := &object{tree: tree, state: objtree.NewState(), typ: objectType(root.ObjectType), created: root.Timestamp, updated: root.Timestamp}
	if _, err := replayObject(obj, keys); err != nil {
		return nil, err
	}
	return obj, nil
}

func (o *object) deleted() bool {
	v, ok := o.state.Get(keyDeleted)
	return ok && v.GetBool()
}

// recordOf is the object's index record.
func recordOf(obj *object) spaceindex.Record {
	d := spaceindex.Details{}
	for _, k := range obj.state.Keys() {
		if v, ok := obj.state.Get(k); ok && !isReserved(k) {
			d[k] = indexValue(v)
		}
	}
	d[keyType] = spaceindex.String(obj.typ)
	d[keyCreated] = spaceindex.Number(float64(obj.created))
	d[keyModified] = spaceindex.Number(float64(obj.updated))
	return spaceindex.Record{
		ID:         string(obj.tree.ID()),
		Details:    d,
		HeadsHash:  []byte(obj.tree.HeadsHash()),
		SyncStatus: spaceindex.SyncStatus{State: spaceindex.SyncQueued},
	}
}

// reindex writes the object's record, or removes it once deleted, moving
// the index's watermark to the store's sequence number (rebuild.go). Actor
// only.
func (s *Space) reindex(obj *object) error {
	ctx := context.Background() // index writes after a persisted change must finish
	if b := s.indexBatch; b != nil && !obj.deleted() {
		b.put(recordOf(obj))
		return nil
	}
	if err := s.flushIndex(); err != nil { // a delete follows the batched puts
		return err
	}
	seq := s.storeSeq()
	if obj.deleted() {
		return s.index.DeleteAt(ctx, seq, string(obj.tree.ID()))
	}
	return s.index.PutAt(ctx, seq, recordOf(obj))
}

// indexBatch is the index records of a batched request, one per object.
type indexBatch struct {
	recs []spaceindex.Record
	at   map[string]int // record id → position in recs
}

func (b *indexBatch) put(r spaceindex.Record) {
	if i, ok := b.at[r.ID]; ok {
		b.recs[i] = r
		return
	}
	b.at[r.ID] = len(b.recs)
	b.recs = append(b.recs, r)
}

// setSyncStatus sets the status of a batched record; false when id has none.
func (b *indexBatch) setSyncStatus(id string, st spaceindex.SyncStatus) bool {
	i, ok := b.at[id]
	if ok {
		b.recs[i].SyncStatus = st
	}
	return ok
}

// batchIndex runs fn with index writes collected and written at its end in
// one index write (a crash before it leaves the index behind the store's
// sequence number, which the rebuild catches up). Within the actor's group,
// which already batches, it only runs fn. Actor only.
func (s *Space) batchIndex(fn func() error) error {
	if s.indexBatch != nil {
		return fn()
	}
	s.indexBatch = &indexBatch{at: map[string]int{}}
	defer func() { s.indexBatch = nil }() // a panic in fn too
	err := fn()
	if ferr := s.flushIndex(); err == nil {
		err = ferr
	}
	return err
}

// flushIndex writes the batched records, if any, and keeps batching; the
// actor calls it before it reads the index. A failure is also kept in
// s.indexErr, for the group whose records it lost. Actor only.
func (s *Space) flushIndex() error {
	b := s.indexBatch
	if b == nil || len(b.recs) == 0 {
		return nil
	}
	recs := b.recs
	b.recs, b.at = nil, map[string]int{}
	err := s.index.PutAt(context.Background(), s.storeSeq(), recs...)
	if err != nil && s.indexErr == nil {
		s.indexErr = err
	}
	return err
}

// Get returns a live object.
func (s *Space) Get(ctx context.Context, id crypto.ObjectID) (Object, error) {
	s.touch()
	var out Object
	err := s.do(ctx, func() error {
		obj, err := s.object(id)
		if err != nil {
			return err
		}
		if obj.deleted() {
			return errkind.Errorf("object.get", errkind.NotFound, "object %s was deleted", id)
		}
		out = Object{ID: id, Type: obj.typ, Details: Details{}}
		for _, k := range obj.state.Keys() {
			if v, ok := obj.state.Get(k); ok && !isReserved(k) {
				out.Details[k] = v
			}
		}
		if err := s.flushIndex(); err != nil {
			return err
		}
		rec, err := s.index.Get(ctx, string(id))
		if err == nil {
			out.SyncStatus = rec.SyncStatus
		}
		return nil
	})
	return out, err
}

// Query runs a query on the space's index.
func (s *Space) Query(ctx context.Context, q spaceindex.Query) (spaceindex.Result, error) {
	s.touch()
	res, err := s.index.Query(ctx, q)
	if errors.Is(err, spaceindex.ErrInvalidQuery) {
		return res, errkind.E("object.query", errkind.Invalid, err)
	}
	return res, err
}

func setOps(d Details) ([]*syncpb.Op, error) {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic op order within a change
	ops := make([]*syncpb.Op, 0, len(d))
	for _, k := range keys {
		if err := checkUserKey(k); err != nil {
			return nil, errkind.E("object.set", errkind.Invalid, err)
		}
		if err := checkValue(d[k], 0); err != nil {
			return nil, errkind.E("object.set", errkind.Invalid, fmt.Errorf("detail %q: %w", k, err))
		}
		ops = append(ops, objtree.Set(k, d[k]))
	}
	return ops, nil
}

func isReserved(k string) bool { return len(k) > 0 && k[:1] == reservedPrefix }

func headStrings(heads []crypto.ChangeID) []string {
	out := make([]string, len(heads))
	for i, h := range heads {
		out[i] = string(h)
	}
	return out
}
