package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Several nodes on one shared store (DESIGN §5). What one node's memory holds must not
// make it wrong about what another node wrote:
//
//   - the folded ACL cache is re-checked against the stored sequence number (ACLHead)
//     before every use (view), so a node that did not accept a Remove never serves the
//     removed member on a stale cache;
//   - pushes cross nodes through the store's Feed: for each write another node made, this
//     node reads the data itself and offers it to its own subscribers (onEvent); when the
//     feed reconnects (writes may have gone untold) or an event cannot be handled, every
//     local subscriber is disconnected, so its device resubscribes and head-syncs: no
//     push is lost silently;
//   - the head-sync sets (headsync.go) drop a space's set when another node wrote to it,
//     and every set when the feed reconnects; the next head sync reloads from the store;
//   - the deletion janitor runs on the node that holds the store's "janitor" lease.
//
// On an embedded store (memory, badger) none of this applies: one node owns the store.

// eventTimeout bounds the store reads of handling one event.
const eventTimeout = 30 * time.Second

// watch runs the feed until Close; the Feed reconnects by itself.
func (n *Node) watch(f store.Feed) {
	if err := f.Watch(n.ctx, n.onEvent); err != nil && n.ctx.Err() == nil {
		n.log.Error("node: the store's feed stopped", "err", err)
	}
}

// onEvent handles one write another node made. It runs on the feed's goroutine, one
// event at a time, in commit order.
func (n *Node) onEvent(e store.Event) {
	ctx, cancel := context.WithTimeout(n.ctx, eventTimeout)
	defer cancel()
	var err error
	switch e.Kind {
	case store.EventReset:
		n.spaces.clear()
		n.heads.invalidateAll()
		n.hub.kickAll()
		n.feedOnce.Do(func() { close(n.feedUp) })
		return
	case store.EventACL:
		err = n.remoteACL(ctx, e)
	case store.EventChanges:
		n.heads.Invalidate(e.Space) // the head-sync set did not see this write
		err = n.remoteChanges(ctx, e)
	case store.EventStatus:
		n.heads.Invalidate(e.Space) // a deletion purges behind it
		err = n.remoteStatus(ctx, e)
	}
	if err != nil && n.ctx.Err() == nil {
		// The devices this push was for resync instead of missing it.
		n.log.Warn("node: a write of another node could not be pushed; subscribers resync", "space", e.Space, "kind", string(e.Kind), "err", err)
		n.heads.Invalidate(e.Space)
		n.hub.kickAll()
	}
}

// remoteACL pushes ACL record e.Seq to the members (and the record's author: a joiner,
// a leaver) and to whoever that record removed.
func (n *Node) remoteACL(ctx context.Context, e store.Event) error {
	if n.hub.empty() {
		return nil // the cache is re-checked on use anyway
	}
	v, err := n.view(ctx, e.Space)
	if err != nil {
		return err
	}
	var raw []byte
	if err := n.store.ACL(ctx, e.Space, e.Seq-1, func(_ uint64, b []byte) bool { raw = b; return false }); err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("ACL record %d of %s: %w", e.Seq, e.Space, store.ErrNotFound)
	}
	vr, err := acl.Verify(raw, n.pub)
	if err != nil {
		return fmt.Errorf("stored ACL record %d of %s: %w (%v)", e.Seq, e.Space, errCorrupt, err)
	}
	to := map[crypto.PubKey]bool{vr.Author: true}
	for _, m := range v.state.Members() {
		to[m.Key] = true
	}
	for k, x := range v.exit {
		if x.seq == e.Seq {
			to[k] = true
		}
	}
	n.hub.publish(to, nil, &syncpb.Push{Msg: &syncpb.Push_AclUpdate{AclUpdate: &syncpb.AclUpdate{SpaceId: string(e.Space), Records: [][]byte{raw}}}})
	return nil
}

// remoteChanges pushes the changes another node stored (numbers e.Prev+1..e.Seq) to the
// subscribed members. An answer over the size budget carries what fits: the device
// fetches the rest, as for any push whose parents it lacks.
func (n *Node) remoteChanges(ctx context.Context, e store.Event) error {
	if n.hub.empty() {
		return nil
	}
	v, err := n.view(ctx, e.Space)
	if err != nil {
		return err
	}
	if !n.hub.anySubscribed(v, e.Space) {
		return nil // nobody here follows this space: read nothing
	}
	heads, err := n.store.Heads(ctx, e.Space, e.Object)
	if err != nil {
		return err
	}
	hu := &syncpb.HeadUpdate{SpaceId: string(e.Space), ObjectId: string(e.Object), Heads: ids(heads)}
	size := 0
	add := func(c store.Change) bool {
		if size+len(c.Raw) > responseBudget {
			return false
		}
		hu.Changes = append(hu.Changes, c.Raw)
		size += len(c.Raw) + 8
		return true
	}
	err = n.store.ChangesAfter(ctx, e.Space, e.Object, e.Prev, add)
	if err != nil {
		return err
	}
	n.publishHead(v, nil, hu)
	return nil
}

// remoteStatus pushes a space's new status to its members and former members.
func (n *Node) remoteStatus(ctx context.Context, e store.Event) error {
	st, err := n.store.Status(ctx, e.Space)
	if err != nil {
		return err
	}
	v := n.spaces.get(e.Space)
	if fresh, err := n.view(ctx, e.Space); err == nil {
		v = fresh
	} else if v == nil {
		return err // purged already, and never cached here: subscribers resync
	}
	n.publishStatus(e.Space, st, v)
	if st.Code == codeDeleted {
		n.spaces.drop(e.Space)
	}
	return nil
}

// janitorLease names the lease of the deletion janitor.
const janitorLease = "janitor"

// janitorTick runs one sweep if this node may: always on an embedded store, on a shared
// store only while it holds the janitor lease (taken or renewed here, for three
// intervals, so a node that stops is replaced within that).
func (n *Node) janitorTick(ctx context.Context) (ran bool, err error) {
	if l, ok := n.store.(store.Leaser); ok {
		ttl := max(3*n.cfg.JanitorInterval, 10*time.Second)
		held, err := l.Lease(ctx, janitorLease, n.instance, ttl)
		if err != nil || !held {
			return false, err
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ttl-ttl/4) // stop before the lease could pass on
		defer cancel()
	}
	err = n.Sweep(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // the next tick goes on
	}
	return true, err
}

// invalidateAll drops every cached head-sync set (the feed may have missed writes).
func (h *headSets) invalidateAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, e := range h.entries {
		if e.set == nil {
			e.stale = true // loading: dropped once loaded
		} else {
			h.dropLocked(id, e)
		}
	}
}
