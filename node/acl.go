package node

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/space"
)

// responseBudget bounds the payload of one answer (records, changes), leaving room for
// the message's own fields under protocol.MaxMessageSize.
const responseBudget = protocol.MaxMessageSize - 64<<10

// maxSwapAttempts bounds retries after a lost compare-and-swap.
const maxSwapAttempts = 16

func rejected(format string, args ...any) *syncpb.AclAddResponse {
	return &syncpb.AclAddResponse{Status: syncpb.AclAddStatus_ACL_ADD_STATUS_REJECTED, Reason: fmt.Sprintf(format, args...)}
}

func accepted(vr []byte, head crypto.RecordID) *syncpb.AclAddResponse {
	return &syncpb.AclAddResponse{Status: syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, Accepted: vr, Head: string(head)}
}

// spacePush creates a space from its header and author-signed root record (seq 1).
func (n *Node) spacePush(ctx context.Context, m *syncpb.SpacePush) (*syncpb.AclAddResponse, error) {
	who := sessionOf(ctx).account
	h, err := space.Verify(m.Header)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "space header: %v", err)
	}
	if h.Creator != who {
		return nil, status.Errorf(codes.PermissionDenied, "only the creator of space %s pushes it", h.ID)
	}
	if len(m.AclRoot) > protocol.MaxAclRecordSize {
		return rejected("root record is %d bytes, limit %d", len(m.AclRoot), protocol.MaxAclRecordSize), nil
	}
	rec, err := acl.VerifyAuthor(m.AclRoot)
	if err != nil {
		return rejected("root record: %v", err), nil
	}
	if rec.Space != h.ID {
		return rejected("root record is for space %s, header for %s", rec.Space, h.ID), nil
	}
	empty := newView(h)
	next, vr, err := acl.Accept(empty.state, n.key, m.AclRoot)
	if err != nil {
		return rejected("root record: %v", err), nil
	}
	wctx := context.WithoutCancel(ctx) // once started, the write and its fan-out finish
	err = n.store.CreateSpace(wctx, h.ID, h.Raw, vr.Accepted, newMembers(empty.state, next), h.Creator, n.limits())
	if errors.Is(err, store.ErrExists) {
		return n.pushedAgain(ctx, h.ID, rec)
	}
	if q := quotaErr(err); q != nil {
		return nil, q
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	n.spaces.put(h.ID, empty.with(next))
	n.publishACL(empty.state, next, rec.Author, h.ID, vr.Accepted)
	return accepted(vr.Accepted, next.Head()), nil
}

// pushedAgain answers a SpacePush of a space the node has: the same root is a retry
// (accepted, idempotent), another root a conflict, a deleted space a rejection.
func (n *Node) pushedAgain(ctx context.Context, id crypto.SpaceID, rec acl.Record) (*syncpb.AclAddResponse, error) {
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Code == codeDeleted {
		return rejected("space %s was deleted and cannot be created again", id), nil
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	if q, ok := v.state.SeqOf(rec.ID); ok && q == 1 {
		return n.replayed(ctx, v, rec)
	}
	return &syncpb.AclAddResponse{Status: syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT, Head: string(v.state.Head()),
		Reason: "the space already exists with another root record"}, nil
}

// replayed answers a record the chain already holds with its accepted form (a client
// retrying after a lost answer).
func (n *Node) replayed(ctx context.Context, v *aclView, rec acl.Record) (*syncpb.AclAddResponse, error) {
	q, ok := v.state.SeqOf(rec.ID)
	if !ok {
		return nil, status.Error(codes.Internal, "replayed record not in the chain")
	}
	var raw []byte
	err := n.store.ACL(ctx, v.header.ID, q-1, func(_ uint64, b []byte) bool { raw = b; return false })
	if err != nil || raw == nil {
		return nil, grpcErr(fmt.Errorf("read accepted record %d: %w", q, errors.Join(err, store.ErrNotFound)))
	}
	return accepted(raw, v.state.Head()), nil
}

// aclAdd is the acceptor. It never holds a lock across the store write: it folds the
// record on the cached state, then appends with a compare-and-swap on the sequence number;
// a lost swap means another acceptor got there first, so it refreshes and decides again
// (usually: Conflict, since the record's prev is no longer the head).
func (n *Node) aclAdd(ctx context.Context, m *syncpb.AclAdd) (*syncpb.AclAddResponse, error) {
	who := sessionOf(ctx).account
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	if len(m.Record) > protocol.MaxAclRecordSize {
		return rejected("record is %d bytes, limit %d", len(m.Record), protocol.MaxAclRecordSize), nil
	}
	rec, err := acl.VerifyAuthor(m.Record)
	if err != nil {
		return rejected("%v", err), nil
	}
	if rec.Space != id {
		return rejected("record is for space %s, sent for %s", rec.Space, id), nil
	}
	if rec.Author != who {
		return nil, status.Errorf(codes.PermissionDenied, "a record is submitted by its author's devices: signed by %s, caller is %s", rec.Author, who)
	}
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Code != codeOK {
		return nil, status.Errorf(codes.FailedPrecondition, "space %s is %s: its ACL is closed", id, statusWord(st.Code))
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	wctx := context.WithoutCancel(ctx)
	for range maxSwapAttempts {
		next, vr, err := acl.Accept(v.state, n.key, m.Record)
		switch {
		case errors.Is(err, acl.ErrReplay):
			return n.replayed(ctx, v, rec)
		case errors.Is(err, acl.ErrConflict):
			// Our cache may be behind another acceptor on a shared store: look again.
			fresh, ferr := n.refresh(ctx, v)
			if ferr != nil {
				return nil, grpcErr(ferr)
			}
			if fresh.seq() != v.seq() {
				v = fresh
				continue
			}
			return &syncpb.AclAddResponse{Status: syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT, Head: string(v.state.Head()),
				Reason: fmt.Sprintf("prev %s is not the head %s: fetch the log, rebuild and retry", rec.Prev, v.state.Head())}, nil
		case err != nil:
			return rejected("%v", err), nil
		}
		err = n.store.AppendACL(wctx, id, vr.Seq, vr.Accepted, newMembers(v.state, next))
		if errors.Is(err, store.ErrStale) {
			if v, err = n.refresh(ctx, v); err != nil {
				return nil, grpcErr(err)
			}
			continue
		}
		if err != nil {
			return nil, grpcErr(err)
		}
		n.spaces.put(id, v.with(next))
		n.publishACL(v.state, next, rec.Author, id, vr.Accepted)
		return accepted(vr.Accepted, next.Head()), nil
	}
	return nil, status.Error(codes.Aborted, "too many concurrent ACL changes: retry")
}

func (n *Node) publishACL(old, next acl.State, author crypto.PubKey, id crypto.SpaceID, rec []byte) {
	n.hub.publish(recipients(old, next, author), nil, &syncpb.Push{Msg: &syncpb.Push_AclUpdate{
		AclUpdate: &syncpb.AclUpdate{SpaceId: string(id), Records: [][]byte{rec}}}})
}

func statusWord(c syncpb.SpaceStatusCode) string {
	switch c {
	case codeOK:
		return "ok"
	case codePending:
		return "pending deletion"
	case codeDeleted:
		return "deleted"
	}
	return "not found"
}

// records returns accepted records after seq after, bounded by responseBudget (at least
// one record when there is one).
func (n *Node) records(ctx context.Context, id crypto.SpaceID, after uint64) ([][]byte, error) {
	var out [][]byte
	size := 0
	err := n.store.ACL(ctx, id, after, func(_ uint64, b []byte) bool {
		if len(out) > 0 && size+len(b)+8 > responseBudget {
			return false
		}
		out = append(out, b)
		size += len(b) + 8
		return true
	})
	return out, grpcErr(err)
}

// aclLog serves the ACL log: every record to members, only the record that ended its
// membership to a former member.
func (n *Node) aclLog(ctx context.Context, m *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error) {
	who := sessionOf(ctx).account
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Code == codeDeleted {
		return &syncpb.AclLogResponse{Status: statusPB(id, st, nil, who)}, nil
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	resp := &syncpb.AclLogResponse{Status: statusPB(id, st, v, who)}
	if v.state.Role(who).CanRead() {
		resp.Records, err = n.records(ctx, id, m.AfterSeq)
		return resp, err
	}
	e, ok := v.exit[who]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not a member of space %s", who, id)
	}
	if e.seq > m.AfterSeq {
		recs, err := n.records(ctx, id, e.seq-1)
		if err != nil {
			return nil, err
		}
		resp.Records = recs[:min(1, len(recs))]
	}
	return resp, nil
}

// spacePull returns the header and ACL of a space to a member (bounded: continue with
// AclLog after the last record's sequence number).
func (n *Node) spacePull(ctx context.Context, m *syncpb.SpacePull) (*syncpb.SpacePullResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	v, _, err := n.member(ctx, id, sessionOf(ctx).account, true)
	if err != nil {
		return nil, err
	}
	recs, err := n.records(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	return &syncpb.SpacePullResponse{Header: v.header.Raw, AclRecords: recs}, nil
}

// inviteLookup serves the header and ACL to a joiner holding an open invite's key.
func (n *Node) inviteLookup(ctx context.Context, m *syncpb.InviteLookupRequest) (*syncpb.SpacePullResponse, error) {
	who := sessionOf(ctx).account
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	inv, err := crypto.ParseRecordID(m.InviteId)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invite id: %v", err)
	}
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Code != codeOK {
		return nil, status.Errorf(codes.FailedPrecondition, "space %s is %s", id, statusWord(st.Code))
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	var key *crypto.PubKey
	for _, i := range v.state.Invites() {
		if i.ID == inv {
			key = &i.Key
			break
		}
	}
	if key == nil {
		return nil, status.Errorf(codes.NotFound, "no open invite %s in space %s", inv, id)
	}
	if !key.Verify(acl.JoinInviteMessage(id, inv, who), m.Signature) {
		return nil, status.Errorf(codes.PermissionDenied, "the invite key's signature for %s does not verify", who)
	}
	recs, err := n.records(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	return &syncpb.SpacePullResponse{Header: v.header.Raw, AclRecords: recs}, nil
}
