package space

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// This file is the space's side of sync: everything runs on the actor and
// does disk I/O only; the sync engine does the network I/O in between.

// Registration is what the node needs to create this space: its header and
// the author-signed ACL root.
type Registration struct {
	Header  []byte
	AclRoot []byte
}

// PendingRegistration returns the space's registration while its ACL root is
// only provisionally accepted (the node has not seen the space); ok is false
// once the node has accepted it.
func (s *Space) PendingRegistration(ctx context.Context) (reg Registration, ok bool, err error) {
	if !s.provisional.Load() {
		return Registration{}, false, nil // kept in memory: a sync cycle reads nothing for it
	}
	err = s.do(ctx, func() error {
		provisional, err := s.store.Provisional()
		if err != nil || !provisional {
			return err
		}
		records, err := s.store.AclRecords()
		if err != nil {
			return err
		}
		root, err := s.verifyAccepted(records[0], true)
		if err != nil {
			return err
		}
		reg, ok = Registration{Header: s.header.Raw, AclRoot: root.Raw}, true
		return nil
	})
	return reg, ok, err
}

// AcceptRegistration stores the node's acceptance of the ACL root in place
// of this device's provisional one.
func (s *Space) AcceptRegistration(ctx context.Context, accepted []byte) error {
	return s.do(ctx, func() error {
		rec, err := s.verifyAccepted(accepted, false)
		if err != nil {
			return errkind.E("space.sync", errkind.Corrupt, err)
		}
		if rec.Seq != 1 || rec.Prev != "" || rec.Space != s.id {
			return errkind.Errorf("space.sync", errkind.Corrupt, "the node accepted record %s at %d, not this space's root", rec.ID, rec.Seq)
		}
		// Our provisional root is record 1 of the ACL the actor holds.
		if seq, ok := s.acl.SeqOf(rec.ID); !ok || seq != 1 {
			return errkind.Errorf("space.sync", errkind.Corrupt, "the node's root %s is not this space's root", rec.ID)
		}
		if err := s.store.AddAcl(1, [][]byte{accepted}, false); err != nil {
			return err
		}
		s.provisional.Store(false)
		return nil
	})
}

// AclSeq is the sequence number of the space's ACL head.
func (s *Space) AclSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.do(ctx, func() error { seq = s.acl.Seq(); return nil })
	return seq, err
}

// AclState returns the space's ACL state (a value: safe to read anywhere).
func (s *Space) AclState(ctx context.Context) (acl.State, error) {
	var st acl.State
	err := s.do(ctx, func() error { st = s.acl; return nil })
	return st, err
}

// ReadKey is the space's current read key (needed to invite and approve).
func (s *Space) ReadKey(ctx context.Context) (crypto.SymKey, error) {
	var k crypto.SymKey
	err := s.do(ctx, func() error {
		var ok bool
		if k, ok = s.keys[s.acl.ReadKeyID()]; !ok {
			return errkind.Errorf("space.acl", errkind.Permission, "this device does not hold the current read key of %s", s.id)
		}
		return nil
	})
	return k, err
}

// AclHistory returns the space's accepted ACL records, verified, in order.
func (s *Space) AclHistory(ctx context.Context) ([]acl.VerifiedRecord, error) {
	var out []acl.VerifiedRecord
	err := s.do(ctx, func() error {
		records, err := s.store.AclRecords()
		if err != nil {
			return err
		}
		provisional, err := s.store.Provisional()
		if err != nil {
			return err
		}
		for i, raw := range records {
			rec, err := s.verifyAccepted(raw, provisional && i == 0)
			if err != nil {
				return errkind.E("space.acl", errkind.Corrupt, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// ApplyAcl verifies node-accepted records and applies those after the
// current head, in order, then stores them. Records already applied are
// skipped; a gap is an error (fetch the log from the current sequence).
func (s *Space) ApplyAcl(ctx context.Context, records [][]byte) (applied int, err error) {
	err = s.do(ctx, func() error {
		st := s.acl
		first := st.Seq() + 1
		var fresh [][]byte
		for _, raw := range records {
			rec, err := s.verifyAccepted(raw, false)
			if err != nil {
				return errkind.E("space.acl", errkind.Corrupt, err)
			}
			if rec.Seq <= st.Seq() {
				continue
			}
			if rec.Seq != st.Seq()+1 {
				return errkind.Errorf("space.acl", errkind.Transient, "ACL record %d arrived after %d: fetch the gap", rec.Seq, st.Seq())
			}
			if st, err = st.Apply(rec); err != nil {
				return errkind.E("space.acl", errkind.Corrupt, err)
			}
			fresh = append(fresh, raw)
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := s.store.AddAcl(first, fresh, false); err != nil {
			return err
		}
		s.provisional.Store(false) // AddAcl of node-accepted records clears the mark
		s.acl = st
		if keys, err := acl.ReadKeys(st, s.holderKeys()...); err == nil {
			s.keys = keys
		} // else: removed (the old keys still read history), or blocked (checkReadKey)
		s.checkReadKey()
		applied = len(fresh)
		return nil
	})
	return applied, err
}

// PendingObjects lists objects with local changes the node has not
// acknowledged. With none pending (the count is kept in memory) it reads
// nothing; head sync finds anything the count missed.
func (s *Space) PendingObjects(ctx context.Context) ([]crypto.ObjectID, error) {
	if s.pending.Load() <= 0 {
		return nil, nil
	}
	ids, err := s.store.Pending()
	if err != nil {
		return nil, err
	}
	out := make([]crypto.ObjectID, len(ids))
	for i, id := range ids {
		out[i] = crypto.ObjectID(id)
	}
	return out, nil
}

// PendingCount counts the objects with changes the node has not
// acknowledged. It is kept by the actor as it writes (one read at load), so
// it is cheap enough to ask after every write.
func (s *Space) PendingCount() int { return int(s.pending.Load()) }

// Outgoing returns what the node lacks of an object, given the heads it
// acknowledged, as HeadUpdates within the message size limit, parents first.
func (s *Space) Outgoing(ctx context.Context, id crypto.ObjectID) ([]*syncpb.HeadUpdate, error) {
	var out []*syncpb.HeadUpdate
	err := s.do(ctx, func() error {
		obj, err := s.object(id)
		if err != nil {
			return err
		}
		acked, err := s.store.Acked(string(id))
		if err != nil {
			return err
		}
		heads := headStrings(obj.tree.Heads())
		cur := &syncpb.HeadUpdate{SpaceId: string(s.id), ObjectId: string(id), Heads: heads}
		size := 0
		for _, c := range obj.tree.Since(changeIDs(acked)) {
			if size+len(c.Raw) > protocol.MaxMessageSize/2 && len(cur.Changes) > 0 {
				out = append(out, cur)
				cur = &syncpb.HeadUpdate{SpaceId: string(s.id), ObjectId: string(id), Heads: heads}
				size = 0
			}
			cur.Changes = append(cur.Changes, c.Raw)
			size += len(c.Raw)
		}
		if len(cur.Changes) > 0 {
			out = append(out, cur)
		}
		return nil
	})
	return out, err
}

// Acknowledged records that the node durably stored these heads of an
// object; when they cover the local heads, and every one of them is here,
// the object is synced. lacking reports that the node holds changes of the
// object this device does not (another member's, concurrent with ours):
// fetch them.
func (s *Space) Acknowledged(ctx context.Context, id crypto.ObjectID, nodeHeads []string) (lacking bool, err error) {
	err = s.do(ctx, func() error {
		if err := s.setAcked(id, nodeHeads); err != nil {
			return err
		}
		obj, err := s.object(id)
		if err != nil {
			return err
		}
		lacking = !holdsAll(obj, nodeHeads)
		return s.updateSyncStatus(id)
	})
	return lacking, err
}

// holdsAll reports whether obj's tree has every change of heads.
func holdsAll(obj *object, heads []string) bool {
	for _, h := range heads {
		if !obj.tree.Has(crypto.ChangeID(h)) {
			return false
		}
	}
	return true
}

// Rejected records that the node refused an object's changes.
func (s *Space) Rejected(ctx context.Context, id crypto.ObjectID, reason string) error {
	return s.do(ctx, func() error {
		s.log.Warn("the node rejected changes", "space", s.id, "object", id, "reason", reason)
		return s.writeSyncStatus(id, spaceindex.SyncStatus{State: spaceindex.SyncError, Reason: spaceindex.SyncErrorRejected})
	})
}

// updateSyncStatus writes Synced or Syncing into the index record: Synced
// only when the node acknowledged every local head and holds nothing this
// device lacks. Actor only.
func (s *Space) updateSyncStatus(id crypto.ObjectID) error {
	meta, err := s.store.Meta(string(id))
	if err != nil {
		return err
	}
	acked, err := s.store.Acked(string(id))
	if err != nil {
		return err
	}
	st := spaceindex.SyncStatus{State: spaceindex.SyncSyncing}
	if spacestore.Covers(acked, meta.Heads) {
		obj, err := s.object(id)
		if err != nil {
			return err
		}
		st = syncStatusOf(obj, meta.Heads, acked)
	}
	return s.writeSyncStatus(id, st)
}

// syncStatusOf is the status of obj with heads when the node acknowledged
// acked: Synced when nothing is left to upload, and nothing known to
// download, which holds only when every head the node acknowledged is here
// (an acknowledgement can carry another member's concurrent change this
// device lacks); Syncing otherwise.
func syncStatusOf(obj *object, heads, acked []string) spaceindex.SyncStatus {
	if spacestore.Covers(acked, heads) && holdsAll(obj, acked) {
		return spaceindex.SyncStatus{State: spaceindex.SyncSynced}
	}
	return spaceindex.SyncStatus{State: spaceindex.SyncSyncing}
}

// writeSyncStatus writes st into id's index record (or the batch's). Actor only.
func (s *Space) writeSyncStatus(id crypto.ObjectID, st spaceindex.SyncStatus) error {
	if b := s.indexBatch; b != nil && b.setSyncStatus(string(id), st) {
		return nil
	}
	if err := s.flushIndex(); err != nil {
		return err
	}
	err := s.index.SetSyncStatusAt(context.Background(), s.storeSeq(), string(id), st)
	if errors.Is(err, spaceindex.ErrNotFound) { // deleted objects are not in the index
		return nil
	}
	return err
}

// ApplyRemote verifies and adds changes that came from the node, persists
// them, and re-indexes the object. nodeHeads are the node's heads for the
// object (what it has durably). It returns the parents still missing.
func (s *Space) ApplyRemote(ctx context.Context, id crypto.ObjectID, raws [][]byte, nodeHeads []string) (missing []crypto.ChangeID, err error) {
	changes, err := s.verifyRemote(id, raws)
	if err != nil {
		return nil, err
	}
	err = s.do(ctx, func() (err error) {
		missing, err = s.applyVerified(id, changes, nodeHeads)
		return err
	})
	return missing, err
}

// RemoteObject is one object's changes as the node sent them.
type RemoteObject struct {
	ID        crypto.ObjectID
	Raws      [][]byte
	NodeHeads []string // the node's heads for the object
}

// maxApplyMany bounds the objects ApplyVerified applies in a single actor
// request: the request holds the actor (local writes wait behind it) for
// about this many objects' store and index writes.
const maxApplyMany = 64

// Verified is a RemoteObject whose signatures VerifyRemote checked.
type Verified struct {
	id        crypto.ObjectID
	changes   []objtree.Change
	nodeHeads []string
	err       error // what verifying found wrong; ApplyVerified stops at it
}

// VerifyRemote checks the signatures of many objects' changes in parallel,
// on every core, without the actor: a download verifies its next objects
// while the actor applies the previous ones. An object that fails is
// reported by ApplyVerified when its turn comes (the objects before it
// still apply); err is only for a space that is no longer loaded.
func (s *Space) VerifyRemote(objs []RemoteObject) ([]Verified, error) {
	select {
	case <-s.stop:
		return nil, errkind.Errorf("space", errkind.Precondition, "space %s is not loaded", s.id)
	default:
	}
	out := make([]Verified, len(objs))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(runtime.GOMAXPROCS(0), len(objs)) {
		wg.Add(1)
		go func() { // owned here: joined below
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(objs); i = int(next.Add(1) - 1) {
				o := objs[i]
				out[i] = Verified{id: o.ID, nodeHeads: o.NodeHeads}
				out[i].changes, out[i].err = s.verifyRemote(o.ID, o.Raws)
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// ApplyVerified applies verified objects in actor requests of up to
// maxApplyMany objects, each made durable by one store sync and indexed by
// one index write instead of one of each per object. missing[i] are the
// parents objs[i] still lacks. It stops at the first object that fails,
// returning its error; the objects before it are applied.
func (s *Space) ApplyVerified(ctx context.Context, objs []Verified) (missing [][]crypto.ChangeID, err error) {
	missing = make([][]crypto.ChangeID, len(objs))
	for start := 0; start < len(objs); start += maxApplyMany {
		end := min(start+maxApplyMany, len(objs))
		if err := s.do(ctx, func() error {
			return s.batchIndex(func() error {
				for i := start; i < end; i++ {
					o := objs[i]
					if o.err != nil {
						return o.err
					}
					var err error
					if missing[i], err = s.applyVerified(o.id, o.changes, o.nodeHeads); err != nil {
						return err
					}
				}
				return nil
			})
		}); err != nil {
			return missing, err
		}
	}
	return missing, nil
}

// verifyRemote checks the signature of every change and that each belongs
// to object id of this space. Safe on any goroutine: it touches no state.
func (s *Space) verifyRemote(id crypto.ObjectID, raws [][]byte) ([]objtree.Change, error) {
	changes := make([]objtree.Change, 0, len(raws))
	for _, raw := range raws {
		c, err := objtree.Verify(raw)
		if err != nil {
			return nil, errkind.E("space.sync", errkind.Corrupt, err)
		}
		if c.Space != s.id || c.Object != id {
			return nil, errkind.Errorf("space.sync", errkind.Corrupt, "change %s is not of %s/%s", c.ID, s.id, id)
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// applyVerified adds verified changes from the node to object id, persists
// them and notes the node's heads. Actor only.
func (s *Space) applyVerified(id crypto.ObjectID, changes []objtree.Change, nodeHeads []string) ([]crypto.ChangeID, error) {
	obj, err := s.object(id)
	if errkind.Is(err, errkind.NotFound) {
		obj, err = s.newRemoteObject(id, changes)
	}
	if err != nil {
		return nil, err
	}
	up, addErr := obj.tree.Add(s.acl, changes...)
	if addErr != nil && !errors.Is(addErr, objtree.ErrPartial) {
		return nil, errkind.E("space.sync", errkind.Corrupt, addErr)
	}
	for _, r := range up.Rejected {
		s.log.Warn("rejected a change from the node", "space", s.id, "object", id, "change", r.ID, "err", r.Err)
	}
	written := append(append([]objtree.Change{}, up.Added...), up.Waiting...)
	if obj.isNew {
		written = append([]objtree.Change{obj.tree.Root()}, written...)
		obj.isNew = false
	}
	if len(written) == 0 {
		return up.Missing, s.noteNodeHeads(id, nodeHeads)
	}
	// The node's heads are recorded in the same store write as the changes:
	// one transaction per downloaded object, not two.
	acked, err := s.nodeAcked(obj, nodeHeads)
	if err != nil {
		return nil, err
	}
	return up.Missing, s.persistRemote(obj, written, acked)
}

// newRemoteObject starts the tree of an object first seen from the node: its
// root must be among the changes. Actor only.
func (s *Space) newRemoteObject(id crypto.ObjectID, changes []objtree.Change) (*object, error) {
	for _, c := range changes {
		if c.IsRoot && crypto.ObjectID(c.ID) == id {
			tree, err := objtree.New(c, s.acl)
			if err != nil {
				return nil, errkind.E("space.sync", errkind.Corrupt, err)
			}
			return &object{tree: tree, state: objtree.NewState(), typ: objectType(c.ObjectType), created: c.Timestamp, updated: c.Timestamp, isNew: true}, nil
		}
	}
	return nil, errkind.Errorf("space.sync", errkind.Transient, "object %s: root change not received yet", id)
}

// persistRemote stores changes from the node (nothing to push back) with
// acked, the heads the node acknowledged (nodeAcked; nil: none new), in one
// store write, then updates the cached state, the index and, with acked, the
// object's sync status. Actor only.
func (s *Space) persistRemote(obj *object, written []objtree.Change, acked []string) error {
	ids, raws := idsAndRaws(written)
	if err := s.replay(obj, written); err != nil {
		return err
	}
	id := obj.tree.ID()
	meta := spacestore.Meta{Type: obj.typ, Heads: headStrings(obj.tree.Heads()), Deleted: obj.deleted()}
	var ack []spacestore.Write
	leaves := false // the object leaves the push queue with this write
	if acked != nil {
		if spacestore.Covers(acked, meta.Heads) {
			var err error
			if leaves, err = s.store.IsPending(string(id)); err != nil {
				return errkind.E("space.sync", errkind.Other, err)
			}
		}
		ack = spacestore.AckWrites(string(id), acked, leaves)
	}
	if _, err := s.writeFileChanges(obj, ids, raws, meta, false, ack...); err != nil {
		delete(s.objects, id)
		return errkind.E("space.sync", errkind.Other, err)
	}
	if leaves {
		s.pending.Add(-1)
	}
	s.cache(obj)
	if err := s.reindex(obj); err != nil {
		return err
	}
	if acked == nil {
		return nil
	}
	return s.writeSyncStatus(id, syncStatusOf(obj, meta.Heads, acked))
}

// noteNodeHeads records heads the node has (it sent or confirmed them) as
// acknowledged: the node stores what it serves. Actor only.
func (s *Space) noteNodeHeads(id crypto.ObjectID, nodeHeads []string) error {
	if len(nodeHeads) == 0 {
		return nil
	}
	obj, err := s.object(id)
	if err != nil {
		return err
	}
	acked, err := s.nodeAcked(obj, nodeHeads)
	if err != nil || acked == nil {
		return err
	}
	if err := s.setAcked(id, acked); err != nil {
		return err
	}
	return s.updateSyncStatus(id)
}

// nodeAcked returns the heads obj's acknowledgement becomes with the node's
// heads nodeHeads: the stored ones merged with those of nodeHeads this device
// holds (acknowledging an unknown change would hide that it still has to be
// downloaded); nil when nodeHeads holds none of them. Actor only.
func (s *Space) nodeAcked(obj *object, nodeHeads []string) ([]string, error) {
	var known []string
	for _, h := range nodeHeads {
		if obj.tree.Has(crypto.ChangeID(h)) {
			known = append(known, h)
		}
	}
	if len(known) == 0 {
		return nil, nil
	}
	acked, err := s.store.Acked(string(obj.tree.ID()))
	if err != nil {
		return nil, err
	}
	return mergeHeads(obj, acked, known), nil
}

// setAcked stores the heads the node acknowledged and keeps the pending
// count: the store drops the object's pending mark once they cover its
// heads. Actor only.
func (s *Space) setAcked(id crypto.ObjectID, heads []string) error {
	left, err := s.store.SetAcked(string(id), heads)
	if err != nil {
		return err
	}
	if left {
		s.pending.Add(-1)
	}
	return nil
}

// mergeHeads returns the minimal heads covering both head sets: a head that
// the others already cover (an ancestor of one of them) drops out, and so
// does one the tree does not hold. One walk below every head, so thousands
// of concurrent heads (issue 16.5) cost what the tree's size does.
func mergeHeads(obj *object, a, b []string) []string {
	all := dedupSorted(append(append([]string{}, a...), b...))
	below := map[crypto.ChangeID]bool{}
	var stack []crypto.ChangeID
	for _, h := range all {
		if c, ok := obj.tree.Get(crypto.ChangeID(h)); ok && obj.tree.Has(c.ID) {
			stack = append(stack, c.Parents...)
		}
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if below[id] {
			continue
		}
		below[id] = true
		if c, ok := obj.tree.Get(id); ok {
			stack = append(stack, c.Parents...)
		}
	}
	var out []string
	for _, h := range all {
		if id := crypto.ChangeID(h); obj.tree.Has(id) && !below[id] {
			out = append(out, h)
		}
	}
	return out
}

// Summary is the space's head-sync set: (object id, heads hash) for every
// object in the store. It reads the store; Digest does not.
func (s *Space) Summary(ctx context.Context) (*diff.Set, error) {
	var els []diff.Element
	err := s.store.Objects(func(id string, m spacestore.Meta) error {
		els = append(els, spacestore.Element(id, m.Heads))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return diff.NewSet(els), nil
}

// Digest is the whole-range digest of Summary, kept in memory by the store.
func (s *Space) Digest(context.Context) (diff.Digest, error) { return s.store.Digest(), nil }

// Heads returns the stored heads of an object (nil when unknown).
func (s *Space) Heads(ctx context.Context, id crypto.ObjectID) ([]string, error) {
	m, err := s.store.Meta(string(id))
	if errors.Is(err, spacestore.ErrNotFound) {
		return nil, nil
	}
	return m.Heads, err
}

func changeIDs(ss []string) []crypto.ChangeID {
	out := make([]crypto.ChangeID, len(ss))
	for i, s := range ss {
		out[i] = crypto.ChangeID(s)
	}
	return out
}

func dedupSorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
