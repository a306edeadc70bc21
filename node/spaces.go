package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/space"
)

// aclView is the folded ACL of one space as the node knows it. It is immutable: folding
// a record returns a new view.
type aclView struct {
	header space.Header
	state  acl.State
	// exit maps an identity that is no longer a member to the sequence number of the
	// record that ended its membership (remove or leave): the one record it may read.
	exit map[crypto.PubKey]exitRecord
}

type exitRecord struct {
	seq uint64
	id  crypto.RecordID
}

func newView(h space.Header) *aclView {
	return &aclView{header: h, state: acl.New(h.ID, h.Creator), exit: map[crypto.PubKey]exitRecord{}}
}

func (v *aclView) seq() uint64 { return v.state.Seq() }

// fold applies an accepted record and tracks who left.
func (v *aclView) fold(vr acl.VerifiedRecord) (*aclView, error) {
	next, err := v.state.Apply(vr)
	if err != nil {
		return nil, err
	}
	return v.with(next), nil
}

// with returns the view for next, a state one record ahead of v.
func (v *aclView) with(next acl.State) *aclView {
	n := &aclView{header: v.header, state: next, exit: v.exit}
	cloned := false
	for _, m := range v.state.Members() {
		if !next.Role(m.Key).CanRead() {
			if !cloned {
				n.exit, cloned = maps.Clone(v.exit), true
			}
			n.exit[m.Key] = exitRecord{seq: next.Seq(), id: next.Head()}
		}
	}
	for _, m := range next.Members() {
		if _, ok := n.exit[m.Key]; ok {
			if !cloned {
				n.exit, cloned = maps.Clone(v.exit), true
			}
			delete(n.exit, m.Key) // joined again
		}
	}
	return n
}

// recipients are the accounts told about a record: members before and after it, and its
// author (a joiner, a leaver).
func recipients(old, next acl.State, author crypto.PubKey) map[crypto.PubKey]bool {
	out := map[crypto.PubKey]bool{author: true}
	for _, m := range old.Members() {
		out[m.Key] = true
	}
	for _, m := range next.Members() {
		out[m.Key] = true
	}
	return out
}

// newMembers are identities that are members in next but not in old (to index).
func newMembers(old, next acl.State) []crypto.PubKey {
	var out []crypto.PubKey
	for _, m := range next.Members() {
		if !old.Role(m.Key).CanRead() {
			out = append(out, m.Key)
		}
	}
	return out
}

// maxCachedSpaces bounds the ACL cache; an evicted space is folded again from the store.
const maxCachedSpaces = 4096

// spaceCache holds folded ACLs. mu guards m and is held only over map operations.
type spaceCache struct {
	mu sync.Mutex
	m  map[crypto.SpaceID]*aclView
}

func (c *spaceCache) init() { c.m = map[crypto.SpaceID]*aclView{} }

func (c *spaceCache) get(id crypto.SpaceID) *aclView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// put caches v unless a newer view is cached; it returns the cached view.
func (c *spaceCache) put(id crypto.SpaceID, v *aclView) *aclView {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[id]; cur != nil && cur.seq() >= v.seq() {
		return cur
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedSpaces {
		for k := range c.m { // evict one arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[id] = v
	return v
}

// clear forgets every cached view.
func (c *spaceCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

func (c *spaceCache) drop(id crypto.SpaceID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// view returns the folded ACL of a space, from the cache or the store. On a shared store
// a cached view is first checked against the stored sequence number (another node may
// have accepted records since), so every membership decision sees the latest ACL.
func (n *Node) view(ctx context.Context, id crypto.SpaceID) (*aclView, error) {
	if v := n.spaces.get(id); v != nil {
		h, ok := n.store.(store.ACLHead)
		if !ok {
			return v, nil
		}
		last, err := h.LastACL(ctx, id)
		if err != nil {
			return nil, err
		}
		if last <= v.seq() {
			return v, nil
		}
		return n.refresh(ctx, v)
	}
	raw, err := n.store.Header(ctx, id)
	if err != nil {
		return nil, err
	}
	h, err := space.Verify(raw)
	if err != nil || h.ID != id {
		return nil, fmt.Errorf("stored header of %s: %w (%v)", id, errCorrupt, err)
	}
	// A space stored before quotas has no owner yet: its creator is (quota.go). Once per
	// space and process, where the header is read anyway.
	if err := n.store.SetOwner(ctx, id, h.Creator); err != nil && !errkind.Is(err, errkind.NoSpace) {
		return nil, err // on a full disk the space is still served: its owner is set once there is room
	}
	v, err := n.refresh(ctx, newView(h))
	if err != nil {
		return nil, err
	}
	return n.spaces.put(id, v), nil
}

var errCorrupt = errors.New("stored data failed its checks")

// refresh folds the records stored after v's head.
func (n *Node) refresh(ctx context.Context, v *aclView) (*aclView, error) {
	var ferr error
	err := n.store.ACL(ctx, v.header.ID, v.seq(), func(seq uint64, raw []byte) bool {
		vr, err := acl.Verify(raw, n.pub)
		if err == nil {
			v, err = v.fold(vr)
		}
		if err != nil {
			ferr = fmt.Errorf("stored ACL record %d of %s: %w (%v)", seq, v.header.ID, errCorrupt, err)
			return false
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	return n.spaces.put(v.header.ID, v), nil
}

// grpcErr maps internal errors to gRPC statuses at the edge.
func grpcErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrStale):
		return status.Error(codes.Aborted, err.Error())
	case errkind.Is(err, errkind.NoSpace):
		return syncpb.ErrorWithReason(syncpb.ReasonNoSpace, "the node's disk is full: it stores nothing until its operator frees some space", nil)
	}
	return status.Error(codes.Internal, err.Error())
}

func parseSpace(s string) (crypto.SpaceID, error) {
	id, err := crypto.ParseSpaceID(s)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "space id: %v", err)
	}
	return id, nil
}

// spaceStatus reads a space's status; an unknown space is NotFound.
func (n *Node) spaceStatus(ctx context.Context, id crypto.SpaceID) (store.Status, error) {
	st, err := n.store.Status(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return st, status.Errorf(codes.NotFound, "space %s is not on this node", id)
	}
	return st, grpcErr(err)
}

const (
	codeOK      = syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK
	codePending = syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION
	codeDeleted = syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED
)

// member checks that who is a current member of a live space. With sync, a space pending
// deletion is refused too (it is not served for sync).
func (n *Node) member(ctx context.Context, id crypto.SpaceID, who crypto.PubKey, sync bool) (*aclView, store.Status, error) {
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, st, err
	}
	if st.Code == codeDeleted {
		return nil, st, status.Errorf(codes.FailedPrecondition, "space %s was deleted", id)
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, st, grpcErr(err)
	}
	if !v.state.Role(who).CanRead() {
		return nil, st, status.Errorf(codes.PermissionDenied, "%s is not a member of space %s", who, id)
	}
	if sync && st.Code == codePending {
		return nil, st, status.Errorf(codes.FailedPrecondition, "space %s is pending deletion: it is not served for sync", id)
	}
	return v, st, nil
}

// statusPB is the wire status of a space; the ACL head is the one who may see: members see
// the current head, a former member the record that ended its membership.
func statusPB(id crypto.SpaceID, st store.Status, v *aclView, who crypto.PubKey) *syncpb.SpaceStatus {
	m := &syncpb.SpaceStatus{SpaceId: string(id), Status: st.Code, DeletionAt: st.DeletionAt}
	if v == nil {
		return m
	}
	if v.state.Role(who).CanRead() {
		m.AclHead, m.AclSeq = string(v.state.Head()), v.seq()
	} else if e, ok := v.exit[who]; ok {
		m.AclHead, m.AclSeq = string(e.id), e.seq
	}
	return m
}
