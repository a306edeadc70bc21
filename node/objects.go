package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

func ids(s []crypto.ChangeID) []string {
	out := make([]string, len(s))
	for i, c := range s {
		out[i] = string(c)
	}
	return out
}

func parseObject(s string) (crypto.ObjectID, error) {
	id, err := crypto.ParseObjectID(s)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "object id: %v", err)
	}
	return id, nil
}

// headUpdate stores new changes of one object. Every change is verified; its author must
// be a writer at the change's ACL head and at the current head (a change of a former
// writer is kept only when a valid change of the same batch builds on it, as objtree does,
// so replicas agree); its parents must be stored or in the batch. The Ack comes after the
// write is durable; then the update is pushed to the other subscribed members.
func (n *Node) headUpdate(ctx context.Context, m *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	sess := sessionOf(ctx)
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	obj, err := parseObject(m.ObjectId)
	if err != nil {
		return nil, err
	}
	v, _, err := n.member(ctx, id, sess.account, true)
	if err != nil {
		return nil, err
	}
	ack := &syncpb.Ack{SpaceId: m.SpaceId, ObjectId: m.ObjectId}
	reject := func(format string, args ...any) (*syncpb.Ack, error) {
		ack.Status, ack.Reason = syncpb.AckStatus_ACK_STATUS_REJECTED, fmt.Sprintf(format, args...)
		return ack, nil
	}
	// Decode and verify.
	batch := make([]objtree.Change, 0, len(m.Changes))
	seen := map[crypto.ChangeID]bool{}
	for i, raw := range m.Changes {
		c, err := objtree.Verify(raw)
		if err != nil {
			return reject("change %d: %v", i, err)
		}
		if c.Space != id || c.Object != obj {
			return reject("change %s belongs to %s/%s, not %s/%s", c.ID, c.Space, c.Object, id, obj)
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			batch = append(batch, c)
		}
	}
	// Drop what is stored already.
	has, err := n.store.HasChanges(ctx, id, obj, changeIDs(batch))
	if err != nil {
		return nil, grpcErr(err)
	}
	fresh := batch[:0]
	for i, c := range batch {
		if !has[i] {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		heads, err := n.store.Heads(ctx, id, obj)
		if err != nil {
			return nil, grpcErr(err)
		}
		ack.Heads = ids(heads)
		return ack, nil
	}
	if reason := checkWriters(fresh, v.state); reason != "" {
		return reject("%s", reason)
	}
	ordered, reason, err := n.orderWithParents(ctx, id, obj, fresh)
	if err != nil {
		return nil, grpcErr(err)
	}
	if reason != "" {
		return reject("%s", reason)
	}
	// Write with a compare-and-swap on the heads.
	wctx := context.WithoutCancel(ctx)
	heads, err := n.putChanges(wctx, id, obj, ordered)
	if err != nil {
		return nil, err
	}
	ack.Heads = ids(heads)
	n.publishHead(v, sess, &syncpb.HeadUpdate{SpaceId: m.SpaceId, ObjectId: m.ObjectId, Heads: ack.Heads, Changes: rawOf(ordered)})
	return ack, nil
}

// putChanges stores ordered (parents first) with a compare-and-swap on the object's heads
// and returns the heads after it. A batch the store refuses as too big for one
// transaction (store.ErrBatchTooBig: thousands of sibling changes, issue 16.5) is written
// as a run of prefixes, each a compare-and-swap of its own: every prefix holds its
// changes' parents, so what is stored after each one is a valid object, and a crash
// between two leaves the first ones, which the device pushes again.
func (n *Node) putChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, ordered []objtree.Change) ([]crypto.ChangeID, error) {
	var heads []crypto.ChangeID
	for rest, size := ordered, len(ordered); len(rest) > 0; {
		part := rest[:min(size, len(rest))]
		h, err := n.putPart(ctx, id, obj, part)
		if errors.Is(err, store.ErrBatchTooBig) && len(part) > 1 {
			size = (len(part) + 1) / 2
			continue
		}
		if err != nil {
			return nil, grpcErr(err)
		}
		heads, rest = h, rest[len(part):]
	}
	return heads, nil
}

// putPart is one compare-and-swap of putChanges, retried while it loses to other writers.
func (n *Node) putPart(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, part []objtree.Change) ([]crypto.ChangeID, error) {
	cs := make([]store.Change, len(part))
	for i, c := range part {
		cs[i] = store.Change{ID: c.ID, Raw: c.Raw}
	}
	for range maxSwapAttempts {
		old, err := n.store.Heads(ctx, id, obj)
		if err != nil {
			return nil, grpcErr(err)
		}
		heads := nextHeads(old, part)
		err = n.store.PutChanges(ctx, id, obj, old, heads, cs, n.limits())
		if errors.Is(err, store.ErrStale) {
			continue
		}
		if q := quotaErr(err); q != nil {
			return nil, q
		}
		if errors.Is(err, store.ErrBatchTooBig) {
			return nil, err
		}
		if err != nil {
			return nil, grpcErr(err)
		}
		n.heads.accepted(id, obj, old, heads)
		return heads, nil
	}
	return nil, status.Error(codes.Aborted, "too many concurrent writes to this object: retry")
}

func changeIDs(cs []objtree.Change) []crypto.ChangeID {
	out := make([]crypto.ChangeID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func rawOf(cs []objtree.Change) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

// checkWriters applies the write rule; it returns a reason a device can show, or "".
func checkWriters(cs []objtree.Change, st acl.State) string {
	byID := map[crypto.ChangeID]objtree.Change{}
	for _, c := range cs {
		then, err := st.RoleAt(c.AclHead, c.Author)
		if err != nil {
			return fmt.Sprintf("change %s was made under ACL record %s, which this space does not have", c.ID, c.AclHead)
		}
		if !then.CanWrite() {
			return fmt.Sprintf("%s may not write: %s is a %s at ACL record %s", c.ID, c.Author, then, c.AclHead)
		}
		kid, err := st.ReadKeyIDAt(c.AclHead)
		if err != nil || kid != c.KeyID {
			return fmt.Sprintf("change %s uses key %s, the read key at its ACL head is %s", c.ID, c.KeyID, kid)
		}
		byID[c.ID] = c
	}
	// A change of a former writer is kept only when a current writer's change of the
	// batch builds on it (see objtree: real history is vouched for by its descendants).
	vouched := map[crypto.ChangeID]bool{}
	var walk func(id crypto.ChangeID)
	walk = func(id crypto.ChangeID) {
		c, ok := byID[id]
		if !ok || vouched[id] {
			return
		}
		vouched[id] = true
		for _, p := range c.Parents {
			walk(p)
		}
	}
	for _, c := range cs {
		if st.Role(c.Author).CanWrite() {
			walk(c.ID)
		}
	}
	for _, c := range cs {
		if !vouched[c.ID] {
			return fmt.Sprintf("%s may no longer write to this space (now %s): change %s refused", c.Author, st.Role(c.Author), c.ID)
		}
	}
	return ""
}

// orderWithParents orders the batch parents first and checks every parent is stored or
// in the batch; a root change must be the object's own.
func (n *Node) orderWithParents(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, cs []objtree.Change) ([]objtree.Change, string, error) {
	in := map[crypto.ChangeID]objtree.Change{}
	for _, c := range cs {
		in[c.ID] = c
	}
	var outside []crypto.ChangeID
	for _, c := range cs {
		if c.IsRoot && crypto.ObjectID(c.ID) != obj {
			return nil, fmt.Sprintf("root change %s is not the root of object %s", c.ID, obj), nil
		}
		for _, p := range c.Parents {
			if _, ok := in[p]; !ok {
				outside = append(outside, p)
			}
		}
	}
	slices.Sort(outside)
	outside = slices.Compact(outside)
	if len(outside) > 0 {
		has, err := n.store.HasChanges(ctx, id, obj, outside)
		if err != nil {
			return nil, "", err
		}
		var missing []crypto.ChangeID
		for i, ok := range has {
			if !ok {
				missing = append(missing, outside[i])
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Sprintf("missing parents %v: push parents first", missing), nil
		}
	}
	// Topological order within the batch, stable in the given order.
	out := make([]objtree.Change, 0, len(cs))
	done := map[crypto.ChangeID]bool{}
	var visit func(c objtree.Change, depth int) bool
	visit = func(c objtree.Change, depth int) bool {
		if done[c.ID] {
			return true
		}
		if depth > len(cs) {
			return false
		}
		for _, p := range c.Parents {
			if pc, ok := in[p]; ok && !visit(pc, depth+1) {
				return false
			}
		}
		done[c.ID] = true
		out = append(out, c)
		return true
	}
	for _, c := range cs {
		if !visit(c, 0) {
			return nil, "changes form a cycle", nil
		}
	}
	return out, "", nil
}

// nextHeads = old heads + new changes - their parents, sorted.
func nextHeads(old []crypto.ChangeID, cs []objtree.Change) []crypto.ChangeID {
	set := map[crypto.ChangeID]bool{}
	for _, h := range old {
		set[h] = true
	}
	for _, c := range cs {
		set[c.ID] = true
	}
	for _, c := range cs {
		for _, p := range c.Parents {
			delete(set, p)
		}
	}
	out := make([]crypto.ChangeID, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// publishHead pushes a stored update to the subscribed members other than the pusher's
// own stream (from is nil for a write another node made).
func (n *Node) publishHead(v *aclView, from *session, hu *syncpb.HeadUpdate) {
	id := v.header.ID
	// Use the freshest view: membership may have changed while we wrote.
	if cur := n.spaces.get(id); cur != nil {
		v = cur
	}
	to := map[crypto.PubKey]bool{}
	for _, m := range v.state.Members() {
		to[m.Key] = true
	}
	push := &syncpb.Push{Msg: &syncpb.Push_HeadUpdate{HeadUpdate: hu}}
	news := &syncpb.Push{Msg: &syncpb.Push_SpaceNews{SpaceNews: &syncpb.SpaceNews{SpaceId: string(id)}}}
	for _, s := range n.hub.of(to) {
		switch {
		case from != nil && s.session == from.token:
		case s.wants(id):
			s.offer(push)
		case s.news(id): // a device that keeps the space unloaded loads it
			s.offer(news)
		}
	}
}

// parentsOf reads the parents of a stored (verified on receipt) change without
// verifying it again.
func parentsOf(raw []byte) []crypto.ChangeID {
	var env syncpb.Signed
	if env.Unmarshal(raw) != nil {
		return nil
	}
	var c syncpb.Change
	if c.Unmarshal(env.Payload) != nil {
		return nil
	}
	out := make([]crypto.ChangeID, len(c.Parents))
	for i, p := range c.Parents {
		out[i] = crypto.ChangeID(p)
	}
	return out
}

// headSync answers range hashes over (object id, heads hash).
func (n *Node) headSync(ctx context.Context, m *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	ranges, err := diff.RangesFromPB(m)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, _, err := n.member(ctx, id, sessionOf(ctx).account, true); err != nil {
		return nil, err
	}
	res, err := n.heads.ranges(ctx, id, ranges)
	if errors.Is(err, diff.ErrInvalid) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	return diff.ResponseToPB(res), nil
}
