package node

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/space"
)

// spaceDelete applies an owner-signed deletion or its cancellation. Requests carry the
// owner's timestamp; a request not newer than the last applied one is refused (replay),
// except an exact retry, which answers the current status.
func (n *Node) spaceDelete(ctx context.Context, m *syncpb.SpaceDelete) (*syncpb.SpaceStatus, error) {
	who := sessionOf(ctx).account
	req, err := space.VerifyDeleteRequest(m.Request)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "delete request: %v", err)
	}
	if req.Author != who {
		return nil, status.Errorf(codes.PermissionDenied, "a delete request is sent by its author's devices")
	}
	wctx := context.WithoutCancel(ctx)
	for range maxSwapAttempts {
		st, err := n.spaceStatus(ctx, req.Space)
		if err != nil {
			return nil, err
		}
		if st.Code == codeDeleted {
			if req.Cancel {
				return nil, status.Errorf(codes.FailedPrecondition, "space %s was already deleted", req.Space)
			}
			return statusPB(req.Space, st, nil, who), nil
		}
		v, err := n.view(ctx, req.Space)
		if err != nil {
			return nil, grpcErr(err)
		}
		if v.state.Owner() != req.Author {
			return nil, status.Errorf(codes.PermissionDenied, "only the owner of space %s may delete it", req.Space)
		}
		now := n.now().UnixMilli()
		var next store.Status
		switch {
		case req.Timestamp < st.LastRequest || (req.Timestamp == st.LastRequest && st.LastRequest != 0 && (st.Code == codePending) == req.Cancel):
			return nil, status.Errorf(codes.FailedPrecondition, "delete request of %d is older than the last applied one: sign a new one", req.Timestamp)
		case !req.Cancel && st.Code == codePending, req.Cancel && st.Code == codeOK:
			return statusPB(req.Space, st, v, who), nil // already so
		case !req.Cancel:
			next = store.Status{Code: codePending, DeletionAt: n.now().Add(n.cfg.DeletionGrace).UnixMilli(), LastRequest: req.Timestamp}
		default:
			if now >= st.DeletionAt {
				return nil, status.Errorf(codes.FailedPrecondition, "the grace period of space %s is over", req.Space)
			}
			next = store.Status{Code: codeOK, LastRequest: req.Timestamp}
		}
		err = n.store.SwapStatus(wctx, req.Space, st, next)
		if errors.Is(err, store.ErrStale) {
			continue
		}
		if err != nil {
			return nil, grpcErr(err)
		}
		n.publishStatus(req.Space, next, v)
		return statusPB(req.Space, next, v, who), nil
	}
	return nil, status.Error(codes.Aborted, "status changed concurrently: retry")
}

// publishStatus tells every member (and former member) connected about a status change.
func (n *Node) publishStatus(id crypto.SpaceID, st store.Status, v *aclView) {
	to := map[crypto.PubKey]bool{}
	for _, m := range v.state.Members() {
		to[m.Key] = true
	}
	for _, s := range n.hub.of(to) {
		s.offer(&syncpb.Push{Msg: &syncpb.Push_SpaceStatus{SpaceStatus: statusPB(id, st, v, s.account)}})
	}
}

// getSpaceStatus answers members and former members; an unknown space is NOT_FOUND.
func (n *Node) getSpaceStatus(ctx context.Context, m *syncpb.SpaceStatusRequest) (*syncpb.SpaceStatus, error) {
	who := sessionOf(ctx).account
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	st, err := n.store.Status(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &syncpb.SpaceStatus{SpaceId: m.SpaceId, Status: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_NOT_FOUND}, nil
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	if st.Code == codeDeleted {
		return statusPB(id, st, nil, who), nil
	}
	v, err := n.view(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	if _, gone := v.exit[who]; !gone && !v.state.Role(who).CanRead() {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not a member of space %s", who, id)
	}
	return statusPB(id, st, v, who), nil
}

// janitor carries out due deletions until Close. On a store this node owns it knows every
// status (ownStore), so it sleeps until the next deletion falls due, or until a status
// changes: an idle node reads nothing on a timer (its database sleeps). On a shared store
// it sweeps every JanitorInterval, while this node holds the janitor lease
// (janitorTick).
func (n *Node) janitor() {
	if own, ok := n.store.(*ownStore); ok {
		n.ownJanitor(own)
		return
	}
	t := time.NewTicker(n.cfg.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			if _, err := n.janitorTick(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Error("node: deletion sweep", "err", err)
			}
		}
	}
}

func (n *Node) ownJanitor(own *ownStore) {
	for {
		at, ok, err := own.nextSweep(n.ctx)
		var wait <-chan time.Time
		switch {
		case err != nil:
			if n.ctx.Err() != nil {
				return
			}
			n.log.Error("node: reading deletion work", "err", err)
			wait = time.After(n.cfg.JanitorInterval)
		case ok:
			wait = time.After(max(time.Duration(at-n.now().UnixMilli())*time.Millisecond, 0))
		}
		select {
		case <-n.ctx.Done():
			return
		case <-own.changed:
			continue
		case <-wait:
		}
		if err := n.Sweep(n.ctx); err != nil && n.ctx.Err() == nil {
			n.log.Error("node: deletion sweep", "err", err)
			select { // a failing sweep is retried, not spun
			case <-n.ctx.Done():
				return
			case <-time.After(n.cfg.JanitorInterval):
			}
		}
	}
}

// Sweep marks spaces whose grace period is over as deleted (telling their members) and
// purges the data of deleted spaces. Each step is a compare-and-swap or idempotent, so a
// crash half-way is finished by the next sweep. It reports every failure, not the last.
func (n *Node) Sweep(ctx context.Context) error {
	now := n.now().UnixMilli()
	type due struct {
		id crypto.SpaceID
		st store.Status
	}
	var work []due
	if err := n.store.Statuses(ctx, func(id crypto.SpaceID, st store.Status) bool {
		if (st.Code == codePending && now >= st.DeletionAt) || (st.Code == codeDeleted && !st.Purged) {
			work = append(work, due{id, st})
		}
		return true
	}); err != nil {
		return err
	}
	var errs []error
	for _, d := range work {
		errs = append(errs, n.finishDeletion(ctx, d.id, d.st))
	}
	return errors.Join(errs...)
}

func (n *Node) finishDeletion(ctx context.Context, id crypto.SpaceID, st store.Status) error {
	if st.Code == codePending {
		v, err := n.view(ctx, id)
		if err != nil {
			return err
		}
		deleted := store.Status{Code: codeDeleted, DeletionAt: st.DeletionAt, LastRequest: st.LastRequest}
		if err := n.store.SwapStatus(ctx, id, st, deleted); err != nil {
			if errors.Is(err, store.ErrStale) {
				return nil // cancelled meanwhile; the next sweep looks again
			}
			return err
		}
		n.publishStatus(id, deleted, v)
		st = deleted
	}
	n.heads.Invalidate(id)
	defer n.heads.Invalidate(id) // and a set a head sync loaded during the purge
	if err := n.store.Purge(ctx, id); err != nil {
		return err
	}
	n.spaces.drop(id)
	purged := st
	purged.Purged = true
	if err := n.store.SwapStatus(ctx, id, st, purged); err != nil && !errors.Is(err, store.ErrStale) {
		return err
	}
	return nil
}
