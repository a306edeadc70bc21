package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
)

// A device keeps many spaces and loads few (issue 19): its push stream watches the
// loaded ones and Watch changes that set without reopening the stream; spaces it keeps
// unloaded get a SpaceNews push when they change (publishHead); HeadDigests lets it check
// every space it keeps, loaded or not, in one round trip.

// watchable returns the spaces of ids that are served to who for sync (a live space it
// is a member of), and the status of each space of ids who may see: members', and a
// former member's (carrying the record that ended its membership, so its device learns
// why and offloads). Spaces not served are not refused: one stale space cannot cut a
// device off its others.
func (n *Node) watchable(ctx context.Context, who crypto.PubKey, ids []string) ([]crypto.SpaceID, []*syncpb.SpaceStatus, error) {
	var served []crypto.SpaceID
	var statuses []*syncpb.SpaceStatus
	for _, sp := range ids {
		id, err := parseSpace(sp)
		if err != nil {
			return nil, nil, err
		}
		v, st, err := n.member(ctx, id, who, false)
		switch status.Code(err) {
		case codes.OK:
			if st.Code == codeOK {
				served = append(served, id)
			}
			statuses = append(statuses, statusPB(id, st, v, who))
			continue
		case codes.NotFound:
			continue
		case codes.PermissionDenied, codes.FailedPrecondition:
		default:
			return nil, nil, err
		}
		// Not served: a former member still gets its status.
		st, err = n.store.Status(ctx, id)
		if err != nil {
			continue
		}
		var v2 *aclView
		if st.Code != codeDeleted {
			if v2, err = n.view(ctx, id); err != nil {
				continue
			}
			if _, gone := v2.exit[who]; !gone {
				continue // never a member: nothing to tell
			}
		}
		statuses = append(statuses, statusPB(id, st, v2, who))
	}
	return served, statuses, nil
}

// watchSpaces changes the spaces the calling session's streams watch.
func (n *Node) watchSpaces(ctx context.Context, m *syncpb.WatchRequest) (*syncpb.WatchResponse, error) {
	if len(m.Add) > protocol.MaxDigestSpaces || len(m.Remove) > protocol.MaxDigestSpaces {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d spaces to add and %d to remove", protocol.MaxDigestSpaces, protocol.MaxDigestSpaces)
	}
	sess := sessionOf(ctx)
	add, statuses, err := n.watchable(ctx, sess.account, m.Add)
	if err != nil {
		return nil, err
	}
	remove := make([]crypto.SpaceID, 0, len(m.Remove))
	for _, sp := range m.Remove {
		id, err := parseSpace(sp)
		if err != nil {
			return nil, err
		}
		remove = append(remove, id)
	}
	subs := n.hub.ofSession(sess.account, sess.token)
	if len(subs) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "no Subscribe stream of this session: subscribe first")
	}
	for _, s := range subs {
		s.watch(add, remove)
	}
	return &syncpb.WatchResponse{Statuses: statuses}, nil
}

// headDigests answers the whole-range head-sync digest of each space served to the
// caller, from the cached head-sync sets (headsync.go).
func (n *Node) headDigests(ctx context.Context, m *syncpb.HeadDigestsRequest) (*syncpb.HeadDigestsResponse, error) {
	if len(m.Spaces) > protocol.MaxDigestSpaces {
		return nil, status.Errorf(codes.InvalidArgument, "%d spaces, at most %d per call", len(m.Spaces), protocol.MaxDigestSpaces)
	}
	who := sessionOf(ctx).account
	resp := &syncpb.HeadDigestsResponse{Digests: make([]*syncpb.SpaceDigest, 0, len(m.Spaces))}
	for _, sp := range m.Spaces {
		id, err := parseSpace(sp)
		if err != nil {
			return nil, err
		}
		d := &syncpb.SpaceDigest{SpaceId: sp}
		resp.Digests = append(resp.Digests, d)
		if _, _, err := n.member(ctx, id, who, true); err != nil {
			switch status.Code(err) {
			case codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition:
				continue // not served: Served stays false
			}
			return nil, err
		}
		res, err := n.heads.ranges(ctx, id, []diff.Range{diff.Full(0)})
		if err != nil {
			return nil, grpcErr(err)
		}
		d.Served, d.Count, d.Hash = true, uint64(res[0].Count), res[0].Hash[:]
	}
	return resp, nil
}
