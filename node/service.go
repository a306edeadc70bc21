package node

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// service adapts the Node to the generated gRPC interface; every method has passed the
// session interceptor except Hello and Auth.
type service struct{ n *Node }

func (s *service) Hello(_ context.Context, m *syncpb.HelloRequest) (*syncpb.HelloResponse, error) {
	return s.n.hello(m)
}

func (s *service) Auth(_ context.Context, m *syncpb.AuthRequest) (*syncpb.AuthResponse, error) {
	return s.n.authenticate(m)
}

func (s *service) SpacePush(ctx context.Context, m *syncpb.SpacePush) (*syncpb.AclAddResponse, error) {
	return s.n.spacePush(ctx, m)
}

func (s *service) SpacePull(ctx context.Context, m *syncpb.SpacePull) (*syncpb.SpacePullResponse, error) {
	return s.n.spacePull(ctx, m)
}

func (s *service) AclAdd(ctx context.Context, m *syncpb.AclAdd) (*syncpb.AclAddResponse, error) {
	return s.n.aclAdd(ctx, m)
}

func (s *service) AclLog(ctx context.Context, m *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error) {
	return s.n.aclLog(ctx, m)
}

func (s *service) InviteLookup(ctx context.Context, m *syncpb.InviteLookupRequest) (*syncpb.SpacePullResponse, error) {
	return s.n.inviteLookup(ctx, m)
}

func (s *service) SpaceDelete(ctx context.Context, m *syncpb.SpaceDelete) (*syncpb.SpaceStatus, error) {
	return s.n.spaceDelete(ctx, m)
}

func (s *service) GetSpaceStatus(ctx context.Context, m *syncpb.SpaceStatusRequest) (*syncpb.SpaceStatus, error) {
	return s.n.getSpaceStatus(ctx, m)
}

func (s *service) HeadUpdate(ctx context.Context, m *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	return s.n.headUpdate(ctx, m)
}

func (s *service) Fetch(ctx context.Context, m *syncpb.FetchRequest) (*syncpb.FetchResponse, error) {
	return s.n.fetch(ctx, m)
}

func (s *service) FetchObjects(m *syncpb.FetchObjectsRequest, stream syncpb.Node_FetchObjectsServer) error {
	return s.n.fetchObjects(m, stream)
}

func (s *service) HeadSync(ctx context.Context, m *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	return s.n.headSync(ctx, m)
}

func (s *service) BlobPut(ctx context.Context, m *syncpb.BlobPutRequest) (*syncpb.BlobPutResponse, error) {
	return s.n.blobPut(ctx, m)
}

func (s *service) BlobGet(ctx context.Context, m *syncpb.BlobGetRequest) (*syncpb.BlobGetResponse, error) {
	return s.n.blobGet(ctx, m)
}

func (s *service) BlobDelete(ctx context.Context, m *syncpb.BlobDeleteRequest) (*syncpb.BlobDeleteResponse, error) {
	return s.n.blobDelete(ctx, m)
}

func (s *service) BlobUsage(ctx context.Context, m *syncpb.BlobUsageRequest) (*syncpb.BlobUsageResponse, error) {
	return s.n.blobUsage(ctx, m)
}

// Subscribe opens the account's push stream. Listed spaces must be ones the caller is a
// member of (else PermissionDenied); a listed space pending deletion gets no HeadUpdates.
// The stream starts with the status of every space of the account, then carries pushes
// in order. It ends when the client leaves, the node closes (Unavailable) or the
// subscriber falls behind its queue (ResourceExhausted: resubscribe and head-sync).
func (s *service) Watch(ctx context.Context, m *syncpb.WatchRequest) (*syncpb.WatchResponse, error) {
	return s.n.watchSpaces(ctx, m)
}

func (s *service) HeadDigests(ctx context.Context, m *syncpb.HeadDigestsRequest) (*syncpb.HeadDigestsResponse, error) {
	return s.n.headDigests(ctx, m)
}

func (s *service) Subscribe(m *syncpb.SubscribeRequest, stream syncpb.Node_SubscribeServer) error {
	n := s.n
	ctx := stream.Context()
	sess := sessionOf(ctx)
	sub := &subscriber{account: sess.account, session: sess.token, spaces: map[crypto.SpaceID]bool{},
		queue: make(chan *syncpb.Push, n.cfg.SubscriberQueue), kicked: make(chan struct{})}
	served, _, err := n.watchable(ctx, sess.account, m.Spaces)
	if err != nil {
		return err
	}
	sub.watch(served, nil)
	if !n.hub.add(sub, n.cfg.MaxStreams) {
		return limitErr("streams", fmt.Sprintf("quota exceeded: this session has %d push streams open, the most is %d: close one first",
			n.cfg.MaxStreams, n.cfg.MaxStreams), n.cfg.MaxStreams)
	}
	defer n.hub.remove(sub)
	// Registered: the client's Subscribe returns on these headers, so its Watch
	// finds this stream.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}

	// Snapshot after registering, so nothing between the two is lost.
	all, err := n.store.SpacesOf(ctx, sess.account)
	if err != nil {
		return grpcErr(err)
	}
	for _, id := range all {
		st, err := n.store.Status(ctx, id)
		if err != nil {
			return grpcErr(err)
		}
		var v *aclView
		if st.Code != codeDeleted {
			if v, err = n.view(ctx, id); err != nil {
				return grpcErr(err)
			}
			if _, gone := v.exit[sess.account]; !gone && !v.state.Role(sess.account).CanRead() {
				continue
			}
		}
		if err := stream.Send(&syncpb.Push{Msg: &syncpb.Push_SpaceStatus{SpaceStatus: statusPB(id, st, v, sess.account)}}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.ctx.Done():
			return status.Error(codes.Unavailable, "node is shutting down")
		case <-sub.kicked:
			return status.Error(codes.ResourceExhausted, "subscriber fell behind: resubscribe and head-sync")
		case p := <-sub.queue:
			if err := stream.Send(p); err != nil {
				return err
			}
		}
	}
}
